"""Fixtures for running our workflows through the simulator against a sandbox that trusts OIDC."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from artifactory_sandbox.issuer import IssuerHandle, run_issuer
from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from tests.e2e.conftest import FAKE_GITHUB_TOKEN, ActionHarness
from tests.fakes.github_api import FakeGitHub, run_fake_github
from tests.workflows.simulator import WorkflowSimulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fraud-model"
REPOSITORY = "acme/fraud-model"
PROVIDER = "github-oidc"
XRAY_INDEX_DELAY_S = 0.3


def github_context(ref: str = "refs/heads/main", run_number: str = "7", **overrides: Any) -> dict[str, Any]:
    """The `github` context of a push to `ref` in a repository whose default branch is main."""
    return {
        "repository": REPOSITORY,
        "repository_owner": "acme",
        "ref": ref,
        "ref_name": ref.removeprefix("refs/heads/"),
        "sha": "3f786850e387550fdab836ed7e6dc881de23001b",
        "run_id": "90001",
        "run_number": run_number,
        "event_name": "push",
        "server_url": "https://github.com",
        "event": {"ref": ref, "repository": {"full_name": REPOSITORY, "default_branch": "main"}},
    } | overrides


@dataclass
class Platform:
    sandbox: SandboxHandle
    issuer: IssuerHandle
    github: FakeGitHub


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    """A sandbox whose OIDC provider `github-oidc` trusts ID tokens of acme/fraud-model, and GitHub's API."""
    with run_issuer(repository=REPOSITORY) as issuer, run_fake_github(FAKE_GITHUB_TOKEN) as github:
        config = issuer.write_oidc_config(tmp_path / "oidc.json", PROVIDER, {"repository": REPOSITORY})
        with run_sandbox(
            tmp_path / "sandbox-data", xray_index_delay=XRAY_INDEX_DELAY_S, oidc_config_path=config
        ) as sandbox:
            yield Platform(sandbox, issuer, github)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The user's repository: the example model at the root, its PyYAML pin already satisfied here."""
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("model", "metrics.json", "__pycache__"))
    (repo / "requirements.txt").write_text(f"PyYAML=={version('PyYAML')}\n", encoding="utf-8")
    return repo


@pytest.fixture
def simulate(platform: Platform, project: Path, tmp_path: Path) -> Any:
    """simulate(ref=..., run_number=...) -> a WorkflowSimulator on a fresh runner folder."""
    count = 0

    def make(**github: Any) -> WorkflowSimulator:
        nonlocal count
        count += 1
        runner = tmp_path / f"runner-{count}"
        runner.mkdir()
        harness = ActionHarness(platform.sandbox, runner)
        return WorkflowSimulator(harness, project, github_context(**github), platform.issuer, platform.github.url)

    return make
