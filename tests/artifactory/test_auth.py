"""Which credentials a run uses, and that they are masked before anything is sent."""

from __future__ import annotations

import io
from typing import Any

import httpx
from pytest_httpx import HTTPXMock

from ml_artifactory_action.artifactory.auth import BearerAuth, auth_for
from ml_artifactory_action.artifactory.client import ArtifactoryClient, build_http_client
from ml_artifactory_action.runner import Runner
from ml_artifactory_action.settings import GitHubContext, Settings

from .conftest import ARTIFACTORY, PLATFORM


def settings(**inputs: Any) -> Settings:
    return Settings.model_validate({"url": PLATFORM, **inputs, "github": GitHubContext()})


def runner() -> tuple[Runner, io.StringIO]:
    out = io.StringIO()
    return Runner(GitHubContext(), out), out


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
