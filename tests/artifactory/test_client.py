"""The one HTTP client: URLs, headers, retries of transient failures, body rewind, error mapping."""

from __future__ import annotations

import time

import httpx
import pytest
import stamina
from pytest_httpx import HTTPXMock

from ml_artifactory_action import __version__
from ml_artifactory_action.artifactory.client import ArtifactoryClient, build_http_client
from ml_artifactory_action.artifactory.retry import RetryPolicy
from ml_artifactory_action.errors import ArtifactoryError, AuthenticationError

from .conftest import ARTIFACTORY, PLATFORM

PING = f"{ARTIFACTORY}/api/system/ping"


def test_urls_per_service(client: ArtifactoryClient) -> None:
    assert client.url("artifactory", "/api/system/ping") == PING
    assert client.url("xray", "api/v1/system/version") == f"{PLATFORM}/xray/api/v1/system/version"
    assert client.url("access", "api/v1/oidc/token") == f"{PLATFORM}/access/api/v1/oidc/token"
    assert client.url("platform", "ui/builds") == f"{PLATFORM}/ui/builds"


def test_a_request_carries_our_user_agent(client: ArtifactoryClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=PING, text="OK")
    assert client.request("GET", "api/system/ping").text == "OK"
    assert httpx_mock.get_request().headers["User-Agent"] == f"ml-artifactory-action/{__version__}"


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(
    client: ArtifactoryClient, client_log: list[str], httpx_mock: HTTPXMock, status: int
) -> None:
    httpx_mock.add_response(url=PING, status_code=status)
    httpx_mock.add_response(url=PING, text="OK")
    assert client.request("GET", "api/system/ping").status_code == 200
    assert len(httpx_mock.get_requests()) == 2
    assert client_log == [f"Retrying GET {PING} after HTTP {status}"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_other_failures_are_not_retried(client: ArtifactoryClient, httpx_mock: HTTPXMock, status: int) -> None:
    httpx_mock.add_response(url=PING, status_code=status, json={"errors": [{"status": status, "message": "nope"}]})
    with pytest.raises(ArtifactoryError) as caught:
        client.request("GET", "api/system/ping", action="pinging")
    assert caught.value.status == status
    assert caught.value.message == f"pinging: GET {PING} answered {status}: nope"
    assert len(httpx_mock.get_requests()) == 1


def test_retries_stop_after_the_policy_attempts(client: ArtifactoryClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=PING, status_code=503, text="maintenance", is_reusable=True)
    with pytest.raises(ArtifactoryError) as caught:
        client.request("GET", "api/system/ping")
    assert len(httpx_mock.get_requests()) == RetryPolicy().attempts
    assert caught.value.status == 503
    assert caught.value.message.endswith("answered 503: maintenance")


def test_connection_errors_are_retried_then_reported(client: ArtifactoryClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), url=PING, is_reusable=True)
    with pytest.raises(ArtifactoryError) as caught:
        client.request("GET", "api/system/ping", action="pinging")
    assert len(httpx_mock.get_requests()) == RetryPolicy().attempts
    assert caught.value.message == f"pinging: GET {PING} failed: ConnectError('refused')"
    assert "reachable from the runner" in caught.value.fix


def test_retry_false_sends_once(client: ArtifactoryClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=PING, status_code=503)
    with pytest.raises(ArtifactoryError):
        client.request("GET", "api/system/ping", retry=False)
    assert len(httpx_mock.get_requests()) == 1


def test_expected_statuses_are_returned_not_raised(client: ArtifactoryClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=PING, status_code=404)
    assert client.request("GET", "api/system/ping", expect=(404,)).status_code == 404


def test_an_expected_transient_status_is_not_retried(client: ArtifactoryClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=PING, status_code=503)
    assert client.request("GET", "api/system/ping", expect=(503,)).status_code == 503
    assert len(httpx_mock.get_requests()) == 1


def test_a_body_callable_is_called_again_for_each_attempt(client: ArtifactoryClient, httpx_mock: HTTPXMock) -> None:
    url = f"{ARTIFACTORY}/repo/model.bin"
    httpx_mock.add_response(url=url, method="PUT", status_code=502)
    httpx_mock.add_response(url=url, method="PUT", status_code=201)
    calls = []

    def body() -> list[bytes]:
        calls.append(1)
        return [b"first block;", b"second block"]

    client.request("PUT", "repo/model.bin", body=body, headers={"Content-Length": "24"})
    assert len(calls) == 2
    assert [r.content for r in httpx_mock.get_requests()] == [b"first block;second block"] * 2


def test_401_is_an_authentication_error(client: ArtifactoryClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=PING, status_code=401, json={"errors": [{"status": 401, "message": "Bad credentials"}]})
    with pytest.raises(AuthenticationError) as caught:
        client.request("GET", "api/system/ping")
    assert caught.value.title == "Artifactory refused the credentials"
    assert "Check the credentials" in caught.value.fix


def test_retry_after_is_honoured(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=PING, status_code=429, headers={"Retry-After": "1"})
    httpx_mock.add_response(url=PING, text="OK")
    with stamina.set_testing(False), build_http_client() as http:
        client = ArtifactoryClient(PLATFORM, http, policy=RetryPolicy(wait_initial=0.01, wait_max=0.01))
        start = time.monotonic()
        client.request("GET", "api/system/ping")
        waited = time.monotonic() - start
    assert 0.9 <= waited < 3.0


def test_build_http_client_verifies_tls_and_does_not_follow_redirects() -> None:
    with build_http_client() as http:
        assert http.follow_redirects is False
        assert http.timeout.connect == 15.0
