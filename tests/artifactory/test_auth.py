"""Which credentials a run uses, and that they are masked before anything is sent."""

from __future__ import annotations

import io
from typing import Any

import httpx
from pydantic import SecretStr
from pytest_httpx import HTTPXMock

from ml_artifactory_action.artifactory.auth import BearerAuth, auth_for
from ml_artifactory_action.artifactory.client import ArtifactoryClient, build_http_client
from ml_artifactory_action.artifactory.oidc import OIDCAuth
from ml_artifactory_action.runner import Runner
from ml_artifactory_action.settings import GitHubContext, Settings

from .conftest import ARTIFACTORY, PLATFORM


def settings(**inputs: Any) -> Settings:
    return Settings.model_validate({"url": PLATFORM, **inputs, "github": GitHubContext()})


def runner() -> tuple[Runner, io.StringIO]:
    out = io.StringIO()
    return Runner(GitHubContext(actions=True), out), out


def send(auth: httpx.Auth | None, httpx_mock: HTTPXMock) -> httpx.Request:
    httpx_mock.add_response(url=f"{ARTIFACTORY}/api/system/ping", text="OK")
    with build_http_client(auth=auth) as http:
        ArtifactoryClient(PLATFORM, http).request("GET", "api/system/ping")
    return httpx_mock.get_request()


def test_an_access_token_is_masked_and_sent_as_bearer(httpx_mock: HTTPXMock) -> None:
    run, out = runner()
    auth = auth_for(settings(**{"access-token": "cmVmdGtuOjAxOjE3"}), run)
    assert isinstance(auth, BearerAuth)
    assert out.getvalue() == "::add-mask::cmVmdGtuOjAxOjE3\n"
    assert send(auth, httpx_mock).headers["Authorization"] == "Bearer cmVmdGtuOjAxOjE3"


def test_user_and_password_are_basic_auth_with_the_password_masked(httpx_mock: HTTPXMock) -> None:
    run, out = runner()
    auth = auth_for(settings(user="ci", password="s3cret-pass"), run)
    assert out.getvalue() == "::add-mask::s3cret-pass\n"
    assert send(auth, httpx_mock).headers["Authorization"] == httpx.BasicAuth("ci", "s3cret-pass")._auth_header


def test_no_credentials_warn_and_send_anonymously(httpx_mock: HTTPXMock) -> None:
    run, out = runner()
    assert auth_for(settings(), run) is None
    assert out.getvalue().startswith("::warning title=No credentials::")
    assert "Authorization" not in send(None, httpx_mock).headers


TEMPLATE_TOKEN = "cmVmdGtuOjAxOjk5"  # a JF_ACCESS_TOKEN secret a template passes next to oidc-provider-name


def both(**github: Any) -> Settings:
    from .test_oidc import settings as oidc_settings  # noqa: PLC0415  one place builds the OIDC settings

    return oidc_settings(**github).model_copy(update={"access_token": SecretStr(TEMPLATE_TOKEN)})


def test_given_a_token_and_oidc_a_job_with_an_id_token_logs_in_with_oidc_and_warns_once(
    httpx_mock: HTTPXMock,
) -> None:
    from .test_oidc import access_gives, github_gives  # noqa: PLC0415

    github_gives(httpx_mock)
    access_gives(httpx_mock)
    run, out = runner()

    auth = auth_for(both(), run)

    assert isinstance(auth, OIDCAuth)
    warnings = [line for line in out.getvalue().splitlines() if line.startswith("::warning")]
    assert warnings == [
        "::warning title=Two ways to log in::access-token and oidc-provider-name are both set: logging in with "
        "OIDC (github-oidc), since this job can request a GitHub ID token; access-token is not used. Remove one of them."
    ]
    assert f"::add-mask::{TEMPLATE_TOKEN}" in out.getvalue().splitlines()


def test_given_a_token_and_oidc_a_job_without_an_id_token_uses_the_token(httpx_mock: HTTPXMock) -> None:
    run, out = runner()

    auth = auth_for(both(id_token_request_url="", id_token_request_token=None), run)

    assert out.getvalue().splitlines() == [
        f"::add-mask::{TEMPLATE_TOKEN}",
        "::warning title=Two ways to log in::access-token and oidc-provider-name are both set: logging in with "
        "access-token, since this job cannot request a GitHub ID token (it needs permissions: id-token: write). "
        "Remove one of them.",
    ]
    assert send(auth, httpx_mock).headers["Authorization"] == f"Bearer {TEMPLATE_TOKEN}"
