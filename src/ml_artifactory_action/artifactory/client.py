"""The one HTTP client of the action: JFrog Platform URL, auth, retries, error mapping.

Stages and the modules beside this one call `ArtifactoryClient.request`; nothing else talks HTTP to
JFrog. Tests swap the transport (`httpx.MockTransport`, pytest-httpx) or point it at the sandbox.
"""

from __future__ import annotations

import contextlib
import ipaddress
import ssl
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from ml_artifactory_action import __version__
from ml_artifactory_action.artifactory.http_errors import raise_for_jfrog, safe_url
from ml_artifactory_action.artifactory.retry import (
    CERTIFICATE_FAILURE,
    RetryPolicy,
    TransientHTTPError,
    attempts,
    is_transient_status,
)
from ml_artifactory_action.errors import ArtifactoryError, ConfigError

Service = Literal["artifactory", "xray", "access", "platform"]
USER_AGENT = f"ml-artifactory-action/{__version__}"
CONNECT_TIMEOUT = 15.0
# Reads wait for the server to finish storing a large body before it answers the PUT.
READ_TIMEOUT = 300.0
Body = bytes | Iterable[bytes] | None
UNREACHABLE_FIX = "Check url (or JF_URL): the server must be reachable from the runner (DNS, proxy, firewall, TLS)."
UNTRUSTED_FIX = (
    "The server's TLS certificate is not trusted: if a private CA signed it, set ca-bundle to that CA's PEM file."
)
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})
# Downloads follow redirects (direct cloud-storage download, CDN), as JFrog's own client does.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
# What carries JFrog credentials on a request besides the auth flow (kept off other origins).
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "X-JFrog-Art-Api")


class ArtifactoryClient:
    def __init__(
        self,
        platform_url: str,
        http: httpx.Client,
        *,
        policy: RetryPolicy | None = None,
        log: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self.platform_url = platform_url.rstrip("/")
        self.http = http
        self.policy = policy or RetryPolicy()
        self._log = log

    def url(self, service: Service, path: str) -> str:
        root = self.platform_url if service == "platform" else f"{self.platform_url}/{service}"
        return f"{root}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        service: Service = "artifactory",
        body: Callable[[], Body] | bytes | None = None,
        json: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        action: str = "",
        expect: tuple[int, ...] = (),
        retry: bool = True,
        signed_url: str | None = None,
    ) -> httpx.Response:
        """Send a request, retrying transient failures; raise our error for any other failure.

        `body` may be a callable returning a fresh body for every attempt (a file is re-read from
        its start). Statuses in `expect` are returned to the caller instead of raised.
        `signed_url` replaces `path` with a URL the server handed out that carries its own proof
        (a git LFS upload URL): it is sent without the JFrog credentials, wherever it points.
        """
        url = signed_url or self.url(service, path)
        credentials = signed_url is None
        policy = self.policy if retry else RetryPolicy(attempts=1)
        try:
            for attempt in attempts(policy, lambda exc: self._log_retry(method, url, exc)):
                with attempt:
                    response = self._send(
                        method, url, body=body, json=json, params=params, headers=headers, credentials=credentials
                    )
                    if response.status_code not in expect and is_transient_status(response.status_code):
                        raise TransientHTTPError(response)
        except TransientHTTPError as exc:
            response = exc.response
        except httpx.TransportError as exc:
            raise ArtifactoryError(
                f"{action + ': ' if action else ''}{method} {safe_url(url)} failed: {exc!r}",
                fix=UNTRUSTED_FIX if CERTIFICATE_FAILURE in str(exc) else UNREACHABLE_FIX,
            ) from None
        if response.status_code in expect:
            return response
        return raise_for_jfrog(response, action=action)

    def _send(
        self,
        method: str,
        url: str,
        *,
        body: Callable[[], Body] | bytes | None,
        json: Any,
        params: dict[str, str] | None,
        headers: dict[str, str] | None,
        credentials: bool = True,
    ) -> httpx.Response:
        content = body() if callable(body) else body
        request = self.http.build_request(method, url, content=content, json=json, params=params, headers=headers)
        response = self._send_built(request, credentials=credentials)
        response.read()
        return response

    def _send_built(self, request: httpx.Request, *, credentials: bool, stream: bool = False) -> httpx.Response:
        """Send with the JFrog credentials (auth and the session's cookies), or with neither."""
        if credentials:
            return self.http.send(request, stream=stream)
        for name in CREDENTIAL_HEADERS:
            request.headers.pop(name, None)
        return self.http.send(request, auth=None, stream=stream)

    @contextlib.contextmanager
    def download_stream(self, url: str) -> Iterator[httpx.Response]:
        """GET `url` as a stream, following redirects as JFrog's client does for downloads.

        A repository with direct cloud-storage download or a CDN answers with a redirect to a signed
        storage URL. The credentials (Authorization and cookies) go along only while the redirect
        stays on the same origin (scheme, host and port), as httpx decides for its own redirects;
        once a redirect leaves it they are dropped for good (the signed URL is its own proof).
        """
        credentials = True
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send_built(self.http.build_request("GET", url), credentials=credentials, stream=True)
            location = response.headers.get("Location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                try:
                    yield response
                finally:
                    response.close()
                return
            response.close()
            target = response.url.join(location)
            credentials = credentials and _same_origin(response.url, target)
            url = str(target)
        raise ArtifactoryError(
            f"GET {safe_url(url)}: more than {MAX_REDIRECTS} redirects",
            fix="Check the repository's redirect (direct cloud-storage download, CDN) settings.",
        )

    def _log_retry(self, method: str, url: str, exc: BaseException) -> None:
        reason = f"HTTP {exc.response.status_code}" if isinstance(exc, TransientHTTPError) else type(exc).__name__
        self._log(f"Retrying {method} {safe_url(url)} after {reason}")


def _same_origin(url: httpx.URL, other: httpx.URL) -> bool:
    return (url.scheme, url.host, url.port) == (other.scheme, other.host, other.port)


def tls_verify(ca_bundle: Path | None) -> ssl.SSLContext | bool:
    """What httpx verifies servers with: always on; the CAs of `ca-bundle` when given."""
    if ca_bundle is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_bundle))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            "ca-bundle",
            f"'{ca_bundle}' cannot be read as PEM certificates: {exc}",
            fix="Point ca-bundle at the PEM file of the CA that signed the server's certificate (relative to the workspace).",
        ) from None


def is_plain_http_to_another_host(url: str) -> bool:
    """An http:// URL to anything but this machine: tokens and models would cross the network in clear."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname.lower() in LOOPBACK_NAMES:
        return False
    try:
        return not ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:  # a host name
        return True


def build_http_client(
    *,
    verify: ssl.SSLContext | bool = True,
    auth: httpx.Auth | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    """The httpx client: TLS always verified (a CA bundle may be given), proxies from the env."""
    return httpx.Client(
        auth=auth,
        verify=verify,
        transport=transport,
        timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT),
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )
