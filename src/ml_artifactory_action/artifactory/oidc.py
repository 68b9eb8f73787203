"""Logging in with the job's GitHub OIDC ID token, exchanged at JFrog Access for an access token.

`OIDCAuth.login` asks the runner for an ID token (`ACTIONS_ID_TOKEN_REQUEST_URL` + `&audience=`),
exchanges it at `POST /access/api/v1/oidc/token`, masks both tokens at once, and returns an
`httpx.Auth` that renews the access token (new ID token, new exchange) shortly before it expires,
or after a 401 during a long run. A refused exchange shows the claims the ID token carried, so the
user can compare them with the identity mappings of the JFrog integration.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from ml_artifactory_action.artifactory.client import ArtifactoryClient, build_http_client, tls_verify
from ml_artifactory_action.artifactory.http_errors import safe_url, server_message
from ml_artifactory_action.artifactory.retry import RetryPolicy, TransientHTTPError, attempts, is_transient_status
from ml_artifactory_action.errors import OIDCError
from ml_artifactory_action.runner import Runner
from ml_artifactory_action.settings import Settings

EXCHANGE_PATH = "api/v1/oidc/token"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105  a token type URN, not a secret
# Renew this long before the access token expires, so no request starts with a dying token.
REFRESH_MARGIN_S = 120.0
# A token younger than this that gets a 401 is refused for a reason a new one will not fix,
# unless it has expired: a server may check it only once a long upload's body has arrived.
MIN_TOKEN_AGE_FOR_401_REFRESH_S = 30.0
# Servers count expiry in whole seconds: a token is taken as expired this long before its deadline.
EXPIRY_SLACK_S = 1.0
ID_TOKEN_TIMEOUT = httpx.Timeout(30.0, connect=15.0)
# The claims JFrog identity mappings usually match on, in the order they are shown.
SHOWN_CLAIMS = (
    "sub",
    "repository",
    "repository_owner",
    "ref",
    "ref_type",
    "environment",
    "job_workflow_ref",
    "workflow_ref",
    "event_name",
    "actor",
    "aud",
    "iss",
)
MISSING_PERMISSION_FIX = (
    "Add `permissions: id-token: write` to the job (or the workflow) that runs this action. "
    "Workflows triggered from forks never get an ID token: use access-token there, or skip the upload."
)


class TokenRenewedError(httpx.TransportError):
    """A streamed request got a 401 and the token was renewed: the client re-sends the request.

    A streamed body cannot be replayed inside the auth flow, so this goes back to the client's
    retry loop, which rebuilds the body from the file.
    """


@dataclass(frozen=True)
class IssuedToken:
    value: str
    issued_at: float  # clock() when it was issued
    expires_at: float | None  # clock() deadline, None when the server did not say
    username: str


class OIDCAuth(httpx.Auth):
    """Bearer auth with an access token from an OIDC exchange, renewed when needed."""

    def __init__(self, issue: Callable[[], IssuedToken], clock: Callable[[], float] = time.monotonic) -> None:
        self._issue = issue
        self._clock = clock
        self._lock = threading.Lock()
        self._token = issue()

    @classmethod
    def login(cls, settings: Settings, runner: Runner, transport: httpx.BaseTransport | None = None) -> OIDCAuth:
        """Exchange the job's ID token now; raise OIDCError explaining what to fix."""
        exchange = OIDCExchange(settings, runner, transport)
        auth = cls(exchange.issue)
        runner.info(f"Logged in to {settings.url} with OIDC as {auth.username or 'the mapped identity'}")
        return auth

    @property
    def username(self) -> str:
        return self._token.username

    @property
    def token(self) -> str:
        """The current access token (renewed first if it is about to expire); already masked."""
        return self._current().value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self._current()
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code != 401 or not self._renew_after_401(token):
            return
        if not isinstance(request.stream, httpx.ByteStream):
            raise TokenRenewedError("the access token was refused (401) and has been renewed")
        request.headers["Authorization"] = f"Bearer {self._token.value}"
        yield request

    def _current(self) -> IssuedToken:
        with self._lock:
            token = self._token
            if token.expires_at is not None and token.expires_at - self._clock() < REFRESH_MARGIN_S:
                self._token = token = self._issue()
            return token

    def _renew_after_401(self, refused: IssuedToken) -> bool:
        """Renew after a 401, unless the refused token was fresh and unexpired (renewing will not help)."""
        with self._lock:
            if self._token is not refused:
                return True  # another request renewed it already
            now = self._clock()
            expired = refused.expires_at is not None and now >= refused.expires_at - EXPIRY_SLACK_S
            if now - refused.issued_at < MIN_TOKEN_AGE_FOR_401_REFRESH_S and not expired:
                return False
            self._token = self._issue()
            return True


class OIDCExchange:
    """One login: a fresh GitHub ID token, exchanged at JFrog Access."""

    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings, self._runner, self._transport, self._clock = settings, runner, transport, clock
        self._verify = tls_verify(settings.ca_bundle)

    def issue(self) -> IssuedToken:
        id_token = self.request_id_token()
        return self.exchange(id_token)

    def request_id_token(self) -> str:
        """The job's GitHub ID token for the configured audience (masked before it is used)."""
        github = self._settings.github
        if not github.id_token_request_url or github.id_token_request_token is None:
            raise OIDCError(
                "oidc-provider-name is set, but this job cannot request a GitHub ID token "
                "(ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set)",
                fix=MISSING_PERMISSION_FIX,
            )
        url = github.id_token_request_url
        if self._settings.oidc_audience:
            url += f"&audience={quote(self._settings.oidc_audience, safe='')}"
        headers = {
            "Authorization": f"Bearer {github.id_token_request_token.get_secret_value()}",
            "Accept": "application/json",
        }
        response = self._get_with_retry(url, headers)
        value = _json(response).get("value") if response.is_success else None
        if not isinstance(value, str) or not value:
            raise OIDCError(
                f"GitHub did not give an ID token: GET {safe_url(url)} answered {response.status_code}: "
                f"{server_message(response) or 'no `value` in the answer'}",
                fix=f"Retry the job. {MISSING_PERMISSION_FIX}",
            )
        self._runner.mask(value)
        return value

    def _get_with_retry(self, url: str, headers: dict[str, str]) -> httpx.Response:
        with httpx.Client(transport=self._transport, timeout=ID_TOKEN_TIMEOUT) as http:
            try:
                for attempt in attempts(RetryPolicy(), self._log_retry):
                    with attempt:
                        response = http.get(url, headers=headers)
                        if is_transient_status(response.status_code):
                            raise TransientHTTPError(response)
            except TransientHTTPError as exc:
                return exc.response
            except httpx.TransportError as exc:
                raise OIDCError(
                    f"GitHub's ID token endpoint {safe_url(url)} could not be reached: {exc!r}",
                    fix="Retry the job; check the runner's network and proxy settings.",
                ) from None
        return response

    def _log_retry(self, exc: BaseException) -> None:
        self._runner.info(f"Retrying the GitHub ID token request after {exc}")

    def exchange(self, id_token: str) -> IssuedToken:
        """Trade the ID token for a JFrog access token; OIDCError with the token's claims if refused."""
        issued_at = self._clock()
        with build_http_client(verify=self._verify, transport=self._transport) as http:
            response = ArtifactoryClient(self._settings.url, http, log=self._runner.info).request(
                "POST",
                EXCHANGE_PATH,
                service="access",
                json=self._payload(id_token),
                action="exchanging the GitHub ID token at JFrog Access",
                expect=tuple(range(400, 500)),
            )
        body = _json(response)
        token = body.get("access_token")
        if response.is_error or not isinstance(token, str) or not token:
            raise self._refused(response, id_token)
        self._runner.mask(token)
        return IssuedToken(token, issued_at, self._deadline(body, token, issued_at), _username(body, token))

    def _payload(self, id_token: str) -> dict[str, Any]:
        settings, github = self._settings, self._settings.github
        payload = {
            "grant_type": GRANT_TYPE,
            "subject_token_type": ID_TOKEN_TYPE,
            "subject_token": id_token,
            "provider_name": settings.oidc_provider_name,
            "provider_type": "GitHub",
            "project_key": settings.project,
            "audience": settings.oidc_audience,
            "job_id": github.workflow,
            "run_id": github.run_id,
            "repo": github.repository_url,
            "revision": github.sha,
            "branch": github.ref_name,
        }
        return {key: value for key, value in payload.items() if value}

    def _deadline(self, body: dict[str, Any], token: str, issued_at: float) -> float | None:
        expires_in = body.get("expires_in")
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
            return issued_at + float(expires_in)
        claims = jwt_claims(token)
        exp, iat = claims.get("exp"), claims.get("iat")
        if isinstance(exp, int | float) and isinstance(iat, int | float) and exp > iat:
            return issued_at + float(exp - iat)
        return None

    def _refused(self, response: httpx.Response, id_token: str) -> OIDCError:
        provider = self._settings.oidc_provider_name
        detail = server_message(response) or response.reason_phrase or "no access_token in the answer"
        if response.status_code == 404 and "errors" not in _json(response):
            return OIDCError(
                f"{safe_url(response.request.url)} answered 404: {detail}",
                fix="This JFrog server has no OIDC token exchange (it needs Artifactory 7.77.3+, or JFrog Cloud); "
                "check url, or log in with access-token.",
            )
        if response.status_code == 404:
            return OIDCError(
                f"JFrog has no OIDC integration {provider!r} (HTTP 404: {detail})",
                fix="Set oidc-provider-name to the name of the OIDC integration in the JFrog Platform "
                "(Administration > General > Manage Integrations), or create it there.",
            )
        claims = jwt_claims(id_token)
        shown = ", ".join(f"{name}: {_claim(claims, name)}" for name in SHOWN_CLAIMS)
        return OIDCError(
            f"JFrog refused to exchange the GitHub ID token for an access token with OIDC provider {provider!r} "
            f"(HTTP {response.status_code}: {detail}). The ID token's claims (not secret, shown to compare with "
            f"the integration's identity mappings) were: {shown}",
            fix=f"In the JFrog Platform (Administration > General > Manage Integrations), check that the OIDC "
            f"integration {provider!r} exists for https://token.actions.githubusercontent.com, that its audience "
            "matches oidc-audience (empty means GitHub's default, the repository owner's URL), and that one of "
            "its identity mappings matches the claims above (repository, ref, environment, ...).",
        )


def _claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if value is None or value == "":
        return "(not set)"
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded without checking its signature (only to show or time it)."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def _username(body: dict[str, Any], token: str) -> str:
    """As setup-jfrog-cli derives it: `username`, else the access token's `sub` after its last `/`."""
    if isinstance(body.get("username"), str) and body["username"]:
        return str(body["username"])
    sub = str(jwt_claims(token).get("sub", ""))
    return sub.rpartition("/")[2] if sub.startswith("jfrt@") or "/users/" in sub else sub


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
