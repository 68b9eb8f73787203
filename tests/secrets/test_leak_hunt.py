"""The leak hunt: recognisable secrets in every secret input and in the environment, every stage
run (with the report posted on a pull request), then everything written is searched.

Searched: stdout (but the `::add-mask::` lines, which are how secrets are hidden), stderr, the step
summary, the outputs, GITHUB_ENV (where only masked exports may hold a secret), every build-info
stored on the sandbox, every property of every item, the PR comments and deployments the fake
GitHub received, and the URLs of every request the sandbox served. The hunted values are the
secrets given, plus everything the action itself asked to mask (the OIDC ID and access tokens, the
credentials it derives for pip and Hugging Face).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pytest

from artifactory_sandbox.issuer import IssuerHandle, run_issuer
from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from tests.e2e.conftest import ActionHarness, ActionResult
from tests.fakes.github_api import FakeGitHub, run_fake_github
from tests.reliability.conftest import lay_out, model_files, pipeline_inputs, seed_shared_content
from tests.reliability.registry import Registry

MARK = "S3CR3T"  # in every planted secret, so that a leak is unmistakable
ADMIN_TOKEN = f"jfac-{MARK}-admin-7f3a9c2e4b1d8f6a0c5e"
GITHUB_TOKEN = f"ghs_{MARK}githubToken0123456789abcdef"
WRONG_TOKEN = f"jfac-{MARK}-wrong-2b7e151628aed2a6abf7"
ENV_SECRETS = {
    "AWS_SECRET_ACCESS_KEY": f"wJalrXUtnFEMI/K7MDENG/{MARK}bPxRfiCYEXAMPLEKEY",
    "MY_API_TOKEN": f"tok_{MARK}_9f8e7d6c5b4a39281706",
    # Innocent names, secret values: a JWT, a GitHub token, credentials in a URL.
    "BUILD_NOTE": "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiJTM0NSM1QifQ" + f".{MARK}sigNaTuRe0123456789",
    "DEPLOY_HELPER": f"ghp_{MARK}0123456789abcdefghijABCDEFGHIJ",
    "DATABASE_URL": f"postgres://ml:{MARK}-db-pass@db.internal:5432/features",
}
PROVIDER, AUDIENCE = "github-oidc", "jfrog-github"
PR = {"action": "synchronize", "number": 31, "pull_request": {"number": 31, "head": {"sha": "a" * 40}}}
ALL_STAGES = "configure,gate,upload,build-publish,scan,promote,resolve"
_MASK = re.compile(r"^::add-mask::(.*)$", re.MULTILINE)


@dataclass
class Hunt:
    """What was planted, and every channel the action wrote to."""

    planted: set[str] = field(default_factory=set)
    masked: set[str] = field(default_factory=set)
    channels: dict[str, str] = field(default_factory=dict)

    def record(self, name: str, result: ActionResult) -> None:
        self.masked |= {line.replace("%0A", "\n").replace("%25", "%") for line in _MASK.findall(result.stdout)}
        self.channels[f"{name}: stdout"] = _MASK.sub("", result.stdout)
        self.channels[f"{name}: stderr"] = result.stderr
        self.channels[f"{name}: summary"] = result.summary
        self.channels[f"{name}: outputs"] = json.dumps(result.outputs)
        self.channels[f"{name}: annotations"] = json.dumps(result.annotations)
        unmasked_env = {k: v for k, v in result.env_file.items() if not self.is_masked(v)}
        self.channels[f"{name}: GITHUB_ENV (unmasked values)"] = json.dumps(unmasked_env)

    def is_masked(self, value: str) -> bool:
        return all(line in self.masked for line in value.splitlines() if line)

    def findings(self) -> list[str]:
        hunted = {s for s in self.planted | self.masked if len(s) >= 8}
        found = []
        for channel, text in self.channels.items():
            for secret in hunted:
                forms = {secret, quote(secret, safe=""), quote(secret, safe="/:@"), secret[4:20]}
                found += [f"{channel} holds {form[:12]}…" for form in forms if len(form) >= 12 and form in text]
            found += [f"{channel} holds the marker {MARK}" for _ in range(text.count(MARK))]
        return found


@pytest.fixture
def issuer() -> Iterator[IssuerHandle]:
    with run_issuer(repository="acme/fraud-model", ref="refs/heads/main") as handle:
        yield handle


@pytest.fixture
def sandbox(tmp_path: Path, issuer: IssuerHandle) -> Iterator[SandboxHandle]:
    config = issuer.write_oidc_config(
        tmp_path / "oidc.yml", PROVIDER, {"repository": "acme/fraud-model"}, username="gh-ci", audience=AUDIENCE
    )
    with run_sandbox(
        tmp_path / "sandbox-data", admin_token=ADMIN_TOKEN, oidc_config_path=config, xray_index_delay=0.0
    ) as handle:
        yield handle


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with run_fake_github(GITHUB_TOKEN) as fake:
        yield fake


def package_repos(registry: Registry) -> None:
    for key, kind in (("pypi-local", "pypi"), ("hf-local", "huggingfaceml")):
        response = registry.send(
            "PUT", f"/artifactory/api/repositories/{key}", json={"rclass": "local", "packageType": kind}
        )
        assert response.status_code in (200, 201), response.text


def server_side(hunt: Hunt, registry: Registry, github: FakeGitHub) -> None:
    """What the action left on the servers: build-info, properties, PR comments, deployments, URLs."""
    for name in registry.build_names():
        for number in registry.runs(name):
            hunt.channels[f"build-info {name} #{number}"] = json.dumps(registry.build(name, number))
    rows = registry.aql({"type": "any"}, "repo", "path", "name", "property")
    hunt.channels["every item's properties"] = json.dumps(rows)
    build_info_files = [r for r in rows if r["repo"] == "artifactory-build-info" and "." in r["name"]]
    for row in build_info_files:
        hunt.channels[f"stored {row['path']}/{row['name']}"] = registry.download(
            row["repo"], f"{row['path']}/{row['name']}"
        ).decode()
    hunt.channels["PR comments"] = json.dumps(github.comments)
    hunt.channels["GitHub deployments"] = json.dumps([github.deployments, github.statuses])
    hunt.channels["URLs the sandbox served"] = json.dumps([(r["path"], r["query"]) for r in registry.requests()])


def test_no_secret_reaches_any_output(
    action: ActionHarness, sandbox: SandboxHandle, issuer: IssuerHandle, github: FakeGitHub, tmp_path: Path
) -> None:
    registry = Registry(sandbox)
    seed_shared_content(registry)
    package_repos(registry)
    lay_out(action.workspace, model_files())
    hunt = Hunt(planted={ADMIN_TOKEN, GITHUB_TOKEN, WRONG_TOKEN, issuer.request_token, *ENV_SECRETS.values()})
    env = ENV_SECRETS | {"GITHUB_API_URL": github.url, "GITHUB_EVENT_NAME": "pull_request"}
    every = pipeline_inputs(
        ALL_STAGES,
        **{
            "pypi-repo": "pypi-local",
            "hf-repo": "hf-local",
            "github-token": GITHUB_TOKEN,
            "access-token": ADMIN_TOKEN,
            "env-include": "*",
            "env-exclude": "NOTHING_IS_EXCLUDED_BY_THE_USER",
            "download-dir": "serving",
        },
    )
    oidc_env = env | {
        "JF_ACCESS_TOKEN": None,
        "ACTIONS_ID_TOKEN_REQUEST_URL": issuer.request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token,
    }
    oidc = pipeline_inputs(
        "configure,upload,build-publish",
        **{"pypi-repo": "pypi-local", "hf-repo": "hf-local", "oidc-provider-name": PROVIDER, "oidc-audience": AUDIENCE},
        **{"build-number": "8", "model-version": "8", "env-include": "*", "env-exclude": "NONE"},
    )
    basic = pipeline_inputs("configure,upload", **{"pypi-repo": "pypi-local", "user": "admin", "password": ADMIN_TOKEN})
    runs = {
        "token, every stage, on a PR": action.run(every, env=env, event=PR),
        "OIDC": action.run(oidc, env=oidc_env),
        "user and password": action.run(basic, env=env | {"JF_ACCESS_TOKEN": None}),
        "a wrong token": action.run(pipeline_inputs("upload", **{"access-token": WRONG_TOKEN}), env=env),
    }

    for name, result in runs.items():
        assert result.returncode == (1 if name == "a wrong token" else 0), f"{name}:\n{result.log}"
        hunt.record(name, result)
    server_side(hunt, registry, github)

    assert hunt.findings() == []
    # The hunt looked where the secrets would have gone: they are there, masked or redacted.
    assert {"PIP_INDEX_URL", "UV_DEFAULT_INDEX", "HF_TOKEN"} <= set(runs["OIDC"].env_file)
    assert all(hunt.is_masked(runs["OIDC"].env_file[n]) for n in ("PIP_INDEX_URL", "HF_TOKEN"))
    exchanged = runs["OIDC"].env_file["HF_TOKEN"]
    assert exchanged in hunt.masked
    assert exchanged not in (ADMIN_TOKEN, issuer.request_token)
    assert f"admin:{ADMIN_TOKEN}@" in runs["user and password"].env_file["PIP_INDEX_URL"]
    assert len(github.comments) == 1
    assert "Model pipeline: fraud-model" in next(iter(github.comments.values()))["body"]


@pytest.mark.parametrize(
    "written",
    [f"token={ADMIN_TOKEN}", f"url=https://x/?t={quote(ADMIN_TOKEN, safe='')}", f"cut {ADMIN_TOKEN[4:20]} off", MARK],
)
def test_the_hunt_finds_a_planted_leak(written: str) -> None:
    hunt = Hunt(planted={ADMIN_TOKEN}, channels={"somewhere": f"before {written} after"})
    assert hunt.findings() != []


def masked_before_exported(result: ActionResult, names: tuple[str, ...]) -> None:
    lines = result.stdout.splitlines()
    said = next(i for i, line in enumerate(lines) if line.startswith("Set ") and "for later steps" in line)
    for name in names:
        value = result.env_file[name]
        mask = lines.index(f"::add-mask::{value}")
        assert mask < said, f"{name} was announced before it was masked"


def test_derived_credentials_are_masked_before_they_are_exported(
    action: ActionHarness, sandbox: SandboxHandle, issuer: IssuerHandle
) -> None:
    registry = Registry(sandbox)
    package_repos(registry)
    oidc_env = {
        "JF_ACCESS_TOKEN": None,
        "ACTIONS_ID_TOKEN_REQUEST_URL": issuer.request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token,
    }
    inputs = {"stages": "configure", "pypi-repo": "pypi-local", "hf-repo": "hf-local"}

    result = action.run(inputs | {"oidc-provider-name": PROVIDER, "oidc-audience": AUDIENCE}, env=oidc_env)

    assert result.returncode == 0, result.log
    masked_before_exported(result, ("PIP_INDEX_URL", "UV_DEFAULT_INDEX", "HF_TOKEN"))
    token = result.env_file["HF_TOKEN"]
    assert result.stdout.index(f"::add-mask::{token}") < result.stdout.index("Logged in to")


def test_build_info_drops_secret_looking_variables_whatever_the_include_pattern(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    lay_out(action.workspace, model_files())
    innocent = {"MODEL_FAMILY": "fraud", "TRAINING_EPOCHS": "12"}

    result = action.run(
        pipeline_inputs("upload,build-publish", **{"env-include": "*", "env-exclude": "NONE"}),
        env=ENV_SECRETS | innocent,
    )

    assert result.returncode == 0, result.log
    info = Registry(sandbox).build("fraud-model", "7")
    assert info is not None
    recorded = info["properties"]
    for name, value in innocent.items():
        assert recorded[f"buildInfo.env.{name}"] == value
    for name in (*ENV_SECRETS, "JF_ACCESS_TOKEN", "INPUT_ACCESS-TOKEN", "INPUT_GITHUB-TOKEN"):
        assert f"buildInfo.env.{name}" not in recorded
    assert MARK not in json.dumps(info)
