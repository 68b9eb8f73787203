from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from tests.e2e.conftest import parse_file_command
from tests.fakes.jfrog import PLATFORM_URL, FakeJFrog, jfrog_error, jfrog_json, log_of, make_context

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.errors import ConfigError
from ml_artifactory_action.stages import configure


def jwt(subject: str) -> str:
    def part(obj: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'sub': subject})}.c2lnbmF0dXJl"


def repos(**types: str) -> FakeJFrog:
    fake = FakeJFrog()
    for key, package_type in types.items():
        fake.on(
            "GET",
            f"/artifactory/api/repositories/{key}",
            jfrog_json({"key": key, "rclass": "remote", "packageType": package_type}),
        )
    fake.on("GET", "/artifactory/api/repositories/.*", jfrog_error(400, "Bad Request"))
    return fake


def exported(tmp_path: Path) -> dict[str, str]:
    return parse_file_command((tmp_path / "github_env").read_text())


def test_pip_uv_and_hugging_face_are_pointed_at_artifactory_with_masked_credentials(tmp_path: Path) -> None:
    token = jwt("jfac@01abc/users/ci-bot")
    fake = repos(**{"pypi-remote": "pypi", "hf-remote": "huggingfaceml"})
    ctx = make_context(
        tmp_path,
        {"stages": "configure", "pypi-repo": "pypi-remote", "hf-repo": "hf-remote", "access-token": token},
        fake=fake,
    )

    result = configure.run(ctx)

    index = f"https://ci-bot:{token}@acme.jfrog.io/artifactory/api/pypi/pypi-remote/simple"
    assert exported(tmp_path) == {
        "PIP_INDEX_URL": index,
        "UV_DEFAULT_INDEX": index,
        "HF_ENDPOINT": "https://acme.jfrog.io/artifactory/api/huggingfaceml/hf-remote",
        "HF_TOKEN": token,
        "HF_HUB_ETAG_TIMEOUT": "86400",
        "HF_HUB_DOWNLOAD_TIMEOUT": "86400",
        "HF_HUB_DISABLE_XET": "1",
    }
    log = log_of(ctx)
    assert f"::add-mask::{index}" in log
    assert f"::add-mask::{token}" in log
    assert token not in log.replace(f"::add-mask::{token}", "").replace(f"::add-mask::{index}", "")
    assert result.pypi_index == "https://acme.jfrog.io/artifactory/api/pypi/pypi-remote/simple"
    assert [v.name for v in result.variables if v.secret] == ["PIP_INDEX_URL", "UV_DEFAULT_INDEX", "HF_TOKEN"]


def test_basic_credentials_are_escaped_and_plain_http_is_trusted(tmp_path: Path) -> None:
    fake = repos(**{"pypi-remote": "pypi"})
    inputs = {"stages": "configure", "pypi-repo": "pypi-remote", "user": "ci@acme", "password": "p@ss:w/rd"}
    ctx = make_context(tmp_path, inputs, fake=fake, env={"JF_URL": "http://127.0.0.1:8081", "JF_ACCESS_TOKEN": ""})

    configure.run(ctx)

    env = exported(tmp_path)
    assert (
        env["PIP_INDEX_URL"]
        == "http://ci%40acme:p%40ss%3Aw%2Frd@127.0.0.1:8081/artifactory/api/pypi/pypi-remote/simple"
    )
    assert env["PIP_TRUSTED_HOST"] == "127.0.0.1"


def test_a_missing_repository_is_an_input_error(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, {"stages": "configure", "hf-repo": "hf-nope"}, fake=repos())

    with pytest.raises(ConfigError) as caught:
        configure.run(ctx)

    assert caught.value.message == "Input 'hf-repo': repository 'hf-nope' does not exist on https://acme.jfrog.io"
    assert exported(tmp_path) == {}


def test_a_repository_of_another_type_warns(tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path, {"stages": "configure", "pypi-repo": "generic-local"}, fake=repos(**{"generic-local": "generic"})
    )

    configure.run(ctx)

    assert ctx.runner.annotations == [
        ("warning", "Unexpected repository type", "pypi-repo 'generic-local' is a generic repository, not pypi.")
    ]


def test_a_dry_run_exports_nothing(tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path,
        {"stages": "configure", "hf-repo": "hf-remote", "dry-run": "true"},
        fake=repos(**{"hf-remote": "huggingfaceml"}),
    )

    result = configure.run(ctx)

    assert exported(tmp_path) == {}
    assert (
        "Dry run: would set HF_ENDPOINT, HF_TOKEN, HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT, HF_HUB_DISABLE_XET for later steps."
        in log_of(ctx)
    )
    assert result.dry_run


class OIDCLogin(httpx.Auth):
    """Stands for the OIDC login: an auth that knows its current token and user."""

    def __init__(self, token: str, username: str) -> None:
        self.token, self.username = token, username


def test_an_oidc_login_hands_its_current_token_to_later_steps(tmp_path: Path) -> None:
    fake = repos(**{"hf-remote": "huggingfaceml"})
    ctx = make_context(
        tmp_path,
        {"stages": "configure", "hf-repo": "hf-remote", "oidc-provider-name": "github"},
        fake=fake,
        env={"JF_ACCESS_TOKEN": ""},
    )
    ctx.client_factory = lambda: ArtifactoryClient(
        PLATFORM_URL, httpx.Client(transport=fake.transport, auth=OIDCLogin("oidc-token-123", "ci"))
    )

    configure.run(ctx)

    assert exported(tmp_path)["HF_TOKEN"] == "oidc-token-123"


def test_an_auth_that_hides_its_token_is_refused_rather_than_configuring_anonymous_access(tmp_path: Path) -> None:
    fake = repos(**{"hf-remote": "huggingfaceml"})
    ctx = make_context(
        tmp_path,
        {"stages": "configure", "hf-repo": "hf-remote", "oidc-provider-name": "github"},
        fake=fake,
        env={"JF_ACCESS_TOKEN": ""},
    )
    ctx.client_factory = lambda: ArtifactoryClient(
        PLATFORM_URL, httpx.Client(transport=fake.transport, auth=httpx.BasicAuth("u", "p"))
    )

    with pytest.raises(
        ConfigError, match=r"^Input 'oidc-provider-name': the OIDC login does not expose its access token"
    ):
        configure.run(ctx)
    assert exported(tmp_path) == {}


def test_the_token_user_comes_from_the_jwt_subject_or_stays_empty() -> None:
    assert configure.token_user(jwt("jfac@01abc/users/ci-bot")) == "ci-bot"
    assert configure.token_user(jwt("jfrt@01abc/users/admin")) == "admin"
    assert configure.token_user("cmVmdGtuOjAxOjE3MDAwMDAwMDA6opaque") == ""
    [index, *_] = configure.pip_variables("https://acme.jfrog.io/artifactory/api/pypi/p/simple", "", "opaque-token")
    assert index.value == "https://:opaque-token@acme.jfrog.io/artifactory/api/pypi/p/simple"
