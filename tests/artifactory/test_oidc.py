"""OIDC: the ID token request, the exchange at Access, renewal, and the messages when it fails."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock

from ml_artifactory_action.artifactory import oidc
from ml_artifactory_action.artifactory.auth import auth_for
from ml_artifactory_action.artifactory.client import ArtifactoryClient, build_http_client
from ml_artifactory_action.artifactory.oidc import IssuedToken, OIDCAuth, OIDCExchange, jwt_claims
from ml_artifactory_action.errors import ArtifactoryError, AuthenticationError, OIDCError
from ml_artifactory_action.runner import Runner
from ml_artifactory_action.settings import GitHubContext, Settings

from .conftest import ARTIFACTORY, PLATFORM

REQUEST_URL = "https://pipelines.actions.githubusercontent.com/abc/idtoken?api-version=2.0"
REQUEST_TOKEN = "ghs-request-token-0123456789"
EXCHANGE_URL = f"{PLATFORM}/access/api/v1/oidc/token"
CLAIMS = {
    "iss": "https://token.actions.githubusercontent.com",
    "aud": "jfrog-github",
    "sub": "repo:acme/fraud-model:ref:refs/heads/main",
    "repository": "acme/fraud-model",
    "repository_owner": "acme",
    "ref": "refs/heads/main",
    "ref_type": "branch",
    "job_workflow_ref": "acme/fraud-model/.github/workflows/train.yml@refs/heads/main",
    "event_name": "push",
}


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


ID_TOKEN = jwt(CLAIMS)
ACCESS_TOKEN = jwt({"sub": "jfac@01h/users/gh-ci", "exp": 2000003600, "iat": 2000000000})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(audience: str = "jfrog-github", **github: Any) -> Settings:
    context = {
        "repository": "acme/fraud-model",
        "run_id": "90001",
        "sha": "3f786850e387550fdab836ed7e6dc881de23001b",
        "ref_name": "main",
        "workflow": "train",
        "id_token_request_url": REQUEST_URL,
        "id_token_request_token": REQUEST_TOKEN,
    } | github
    return Settings.model_validate(
        {
            "url": PLATFORM,
            "oidc-provider-name": "github-oidc",
            "oidc-audience": audience,
            "github": GitHubContext.model_validate(context),
        }
    )


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def runner(out: io.StringIO) -> Runner:
    return Runner(GitHubContext(actions=True), out)


def github_gives(httpx_mock: HTTPXMock, token: str = ID_TOKEN, audience: str = "jfrog-github") -> None:
    httpx_mock.add_response(url=f"{REQUEST_URL}&audience={audience}", method="GET", json={"value": token})


def access_gives(httpx_mock: HTTPXMock, status: int = 200, **body: Any) -> None:
    answer = body or {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer", "username": "gh-ci"}
    httpx_mock.add_response(url=EXCHANGE_URL, method="POST", status_code=status, json=answer)


def test_login_requests_the_id_token_and_exchanges_it(httpx_mock: HTTPXMock, runner: Runner, out: io.StringIO) -> None:
    github_gives(httpx_mock)
    access_gives(httpx_mock)
    auth = auth_for(settings(), runner)
    assert isinstance(auth, OIDCAuth)
    assert auth.username == "gh-ci"
    id_request, exchange = httpx_mock.get_requests()
    assert id_request.headers["Authorization"] == f"Bearer {REQUEST_TOKEN}"
    assert id_request.headers["Accept"] == "application/json"
    assert "Authorization" not in exchange.headers
    assert json.loads(exchange.content) == {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
        "subject_token": ID_TOKEN,
        "provider_name": "github-oidc",
        "provider_type": "GitHub",
        "audience": "jfrog-github",
        "job_id": "train",
        "run_id": "90001",
        "repo": "https://github.com/acme/fraud-model",
        "revision": "3f786850e387550fdab836ed7e6dc881de23001b",
        "branch": "main",
    }
    log = out.getvalue().splitlines()
    assert log[:2] == [f"::add-mask::{ID_TOKEN}", f"::add-mask::{ACCESS_TOKEN}"]
    assert log[2] == f"Logged in to {PLATFORM} with OIDC as gh-ci"


def test_the_access_token_is_sent_as_bearer(httpx_mock: HTTPXMock, runner: Runner) -> None:
    github_gives(httpx_mock)
    access_gives(httpx_mock)
    httpx_mock.add_response(url=f"{ARTIFACTORY}/api/system/ping", text="OK")
    with build_http_client(auth=OIDCAuth.login(settings(), runner)) as http:
        ArtifactoryClient(PLATFORM, http).request("GET", "api/system/ping")
    assert httpx_mock.get_requests()[-1].headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_without_an_audience_none_is_asked_for(httpx_mock: HTTPXMock, runner: Runner) -> None:
    httpx_mock.add_response(url=REQUEST_URL, json={"value": ID_TOKEN})
    access_gives(httpx_mock)
    OIDCAuth.login(settings(audience=""), runner)
    assert "audience" not in json.loads(httpx_mock.get_requests()[1].content)


def test_the_username_comes_from_the_token_when_the_answer_has_none(httpx_mock: HTTPXMock, runner: Runner) -> None:
    github_gives(httpx_mock)
    access_gives(httpx_mock, access_token=ACCESS_TOKEN)
    assert OIDCAuth.login(settings(), runner).username == "gh-ci"


def test_without_id_token_permission_the_fix_says_so(runner: Runner) -> None:
    with pytest.raises(OIDCError) as caught:
        OIDCAuth.login(settings(id_token_request_url="", id_token_request_token=None), runner)
    assert caught.value.message == (
        "oidc-provider-name is set, but this job cannot request a GitHub ID token "
        "(ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set)"
    )
    assert caught.value.fix.startswith("Add `permissions: id-token: write` to the job")


def test_a_github_outage_is_retried(httpx_mock: HTTPXMock, runner: Runner, out: io.StringIO) -> None:
    httpx_mock.add_response(url=f"{REQUEST_URL}&audience=jfrog-github", status_code=503)
    github_gives(httpx_mock)
    access_gives(httpx_mock)
    OIDCAuth.login(settings(), runner)
    assert "Retrying the GitHub ID token request after HTTP 503" in out.getvalue()


def test_github_refusing_the_id_token_is_explained(httpx_mock: HTTPXMock, runner: Runner) -> None:
    httpx_mock.add_response(
        url=f"{REQUEST_URL}&audience=jfrog-github", status_code=403, json={"message": "Resource not accessible"}
    )
    with pytest.raises(OIDCError) as caught:
        OIDCAuth.login(settings(), runner)
    assert caught.value.message == (
        f"GitHub did not give an ID token: GET {REQUEST_URL}&audience=jfrog-github answered 403: Resource not accessible"
    )
    assert "id-token: write" in caught.value.fix


def test_a_refused_exchange_shows_the_claims_and_what_to_fix(httpx_mock: HTTPXMock, runner: Runner) -> None:
    github_gives(httpx_mock)
    access_gives(httpx_mock, status=401, errors=[{"code": "UNAUTHORIZED", "message": "Failed to validate claims"}])
    with pytest.raises(OIDCError) as caught:
        OIDCAuth.login(settings(), runner)
    assert caught.value.message == (
        "JFrog refused to exchange the GitHub ID token for an access token with OIDC provider 'github-oidc' "
        "(HTTP 401: Failed to validate claims). The ID token's claims (not secret, shown to compare with the "
        "integration's identity mappings) were: sub: repo:acme/fraud-model:ref:refs/heads/main, "
        "repository: acme/fraud-model, repository_owner: acme, ref: refs/heads/main, ref_type: branch, "
        "environment: (not set), job_workflow_ref: acme/fraud-model/.github/workflows/train.yml@refs/heads/main, "
        "workflow_ref: (not set), event_name: push, actor: (not set), aud: jfrog-github, "
        "iss: https://token.actions.githubusercontent.com"
    )
    assert "integration 'github-oidc' exists" in caught.value.fix
    assert "identity mappings matches the claims above" in caught.value.fix
    assert ID_TOKEN not in caught.value.message + caught.value.fix


def test_an_answer_without_access_token_is_refused(httpx_mock: HTTPXMock, runner: Runner) -> None:
    github_gives(httpx_mock)
    access_gives(httpx_mock, token_type="Bearer")
    with pytest.raises(OIDCError, match=r"\(HTTP 200: .*\)\. The ID token's claims"):
        OIDCAuth.login(settings(), runner)


def test_a_server_without_oidc_exchange_is_explained(httpx_mock: HTTPXMock, runner: Runner) -> None:
    github_gives(httpx_mock)
    httpx_mock.add_response(url=EXCHANGE_URL, status_code=404, text="Not Found")
    with pytest.raises(OIDCError) as caught:
        OIDCAuth.login(settings(), runner)
    assert caught.value.message == f"{EXCHANGE_URL} answered 404: Not Found"
    assert "Artifactory 7.77.3+" in caught.value.fix


def test_an_unknown_provider_is_named(httpx_mock: HTTPXMock, runner: Runner) -> None:
    github_gives(httpx_mock)
    access_gives(httpx_mock, status=404, errors=[{"code": "NOT_FOUND", "message": "OIDC provider not found"}])
    with pytest.raises(OIDCError) as caught:
        OIDCAuth.login(settings(), runner)
    assert caught.value.message == "JFrog has no OIDC integration 'github-oidc' (HTTP 404: OIDC provider not found)"
    assert caught.value.fix.startswith("Set oidc-provider-name to the name of the OIDC integration")


def test_an_access_outage_is_an_artifactory_error(httpx_mock: HTTPXMock, runner: Runner) -> None:
    github_gives(httpx_mock)
    httpx_mock.add_response(url=EXCHANGE_URL, status_code=503, is_reusable=True)
    with pytest.raises(ArtifactoryError, match="exchanging the GitHub ID token at JFrog Access: POST"):
        OIDCAuth.login(settings(), runner)


# Renewal ------------------------------------------------------------------------------------
def issuer(clock: Clock, lifetime: float | None = 3600.0) -> tuple[list[str], Any]:
    issued: list[str] = []

    def issue() -> IssuedToken:
        issued.append(f"token-{len(issued) + 1}")
        expires = clock.now + lifetime if lifetime is not None else None
        return IssuedToken(issued[-1], clock.now, expires, "ci")

    return issued, issue


def bearer(request: httpx.Request) -> str:
    return request.headers["Authorization"].removeprefix("Bearer ")


def test_the_token_is_renewed_shortly_before_it_expires(httpx_mock: HTTPXMock) -> None:
    clock = Clock()
    issued, issue = issuer(clock)
    auth = OIDCAuth(issue, clock)
    httpx_mock.add_response(url=f"{ARTIFACTORY}/api/system/ping", is_reusable=True)
    with build_http_client(auth=auth) as http:
        client = ArtifactoryClient(PLATFORM, http)
        client.request("GET", "api/system/ping")
        clock.now += 3600 - oidc.REFRESH_MARGIN_S - 1
        client.request("GET", "api/system/ping")
        clock.now += 2
        client.request("GET", "api/system/ping")
    assert [bearer(r) for r in httpx_mock.get_requests()] == ["token-1", "token-1", "token-2"]
    assert issued == ["token-1", "token-2"]


class Server:
    """A transport that reads bodies as a server does (block by block) and answers from a script."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.seen: list[tuple[str, bytes]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = b"".join(request.stream)  # type: ignore[arg-type]  # a sync stream here
        self.seen.append((bearer(request), body))
        return httpx.Response(self.statuses.pop(0))


def test_a_401_renews_the_token_and_replays_a_small_request() -> None:
    clock = Clock()
    _, issue = issuer(clock, lifetime=None)
    auth = OIDCAuth(issue, clock)
    clock.now += oidc.MIN_TOKEN_AGE_FOR_401_REFRESH_S + 1
    server = Server(401, 200)
    with build_http_client(auth=auth, transport=httpx.MockTransport(server)) as http:
        ArtifactoryClient(PLATFORM, http).request("POST", "api/search/aql", body=b"items.find()", retry=False)
    assert server.seen == [("token-1", b"items.find()"), ("token-2", b"items.find()")]


def test_a_401_during_a_streamed_upload_renews_and_the_client_resends_the_file() -> None:
    clock = Clock()
    _, issue = issuer(clock, lifetime=None)
    auth = OIDCAuth(issue, clock)
    clock.now += oidc.MIN_TOKEN_AGE_FOR_401_REFRESH_S + 1
    server = Server(401, 201)
    with build_http_client(auth=auth, transport=httpx.MockTransport(server)) as http:
        ArtifactoryClient(PLATFORM, http).request(
            "PUT", "repo/model.bin", body=lambda: iter([b"block-1", b"block-2"]), headers={"Content-Length": "14"}
        )
    assert server.seen == [("token-1", b"block-1block-2"), ("token-2", b"block-1block-2")]


def test_the_current_token_is_exposed_renewed_when_due() -> None:
    clock = Clock()
    _, issue = issuer(clock)
    auth = OIDCAuth(issue, clock)
    assert (auth.token, auth.username) == ("token-1", "ci")
    clock.now += 3600
    assert auth.token == "token-2"


def test_a_401_for_a_fresh_token_is_not_renewed(httpx_mock: HTTPXMock) -> None:
    clock = Clock()
    issued, issue = issuer(clock)
    httpx_mock.add_response(url=f"{ARTIFACTORY}/api/system/ping", status_code=401)
    with build_http_client(auth=OIDCAuth(issue, clock)) as http, pytest.raises(AuthenticationError):
        ArtifactoryClient(PLATFORM, http).request("GET", "api/system/ping")
    assert issued == ["token-1"]


def test_the_exchange_times_the_token_by_expires_in_or_its_claims(httpx_mock: HTTPXMock, runner: Runner) -> None:
    clock = Clock()
    exchange = OIDCExchange(settings(), runner, clock=clock)
    access_gives(httpx_mock, access_token="opaque-token", expires_in=600)
    access_gives(httpx_mock, access_token=ACCESS_TOKEN)
    access_gives(httpx_mock, access_token="opaque-token")
    assert exchange.exchange(ID_TOKEN).expires_at == 1600.0
    assert exchange.exchange(ID_TOKEN).expires_at == 4600.0  # exp - iat of the token
    assert exchange.exchange(ID_TOKEN).expires_at is None


def test_jwt_claims_of_anything_else_are_empty() -> None:
    assert jwt_claims(ID_TOKEN)["repository"] == "acme/fraud-model"
    assert jwt_claims("not-a-jwt") == {}
    assert jwt_claims("a.!!!.c") == {}
