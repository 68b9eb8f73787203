"""How requests to JFrog are authenticated: access token, basic, or a GitHub OIDC exchange."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from ml_artifactory_action.runner import Runner
from ml_artifactory_action.settings import Settings


class BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


BOTH_GIVEN = "Two ways to log in"


def auth_for(settings: Settings, runner: Runner, transport: httpx.BaseTransport | None = None) -> httpx.Auth | None:
    """The auth for the configured credentials; secrets are masked before anything is sent."""
    if settings.access_token is not None and settings.oidc_provider_name:
        return _token_or_oidc(settings, runner, transport)
    if settings.access_token is not None:
        token = settings.access_token.get_secret_value()
        runner.mask(token)
        return BearerAuth(token)
    if settings.user and settings.password is not None:
        password = settings.password.get_secret_value()
        runner.mask(password)
        return httpx.BasicAuth(settings.user, password)
    if settings.oidc_provider_name:
        return _oidc(settings, runner, transport)
    runner.warning("No credentials", "No access-token, user or OIDC provider given: requests are anonymous.")
    return None


def _token_or_oidc(settings: Settings, runner: Runner, transport: httpx.BaseTransport | None) -> httpx.Auth:
    """Both given (a template passing a JF_ACCESS_TOKEN secret that exists): OIDC when the job has an ID token."""
    token = settings.access_token.get_secret_value() if settings.access_token is not None else ""
    runner.mask(token)
    if settings.github.can_request_id_token:
        runner.warning(
            BOTH_GIVEN,
            f"access-token and oidc-provider-name are both set: logging in with OIDC ({settings.oidc_provider_name}), "
            "since this job can request a GitHub ID token; access-token is not used. Remove one of them.",
        )
        return _oidc(settings, runner, transport)
    runner.warning(
        BOTH_GIVEN,
        "access-token and oidc-provider-name are both set: logging in with access-token, since this job cannot "
        "request a GitHub ID token (it needs permissions: id-token: write). Remove one of them.",
    )
    return BearerAuth(token)


def _oidc(settings: Settings, runner: Runner, transport: httpx.BaseTransport | None) -> httpx.Auth:
    from ml_artifactory_action.artifactory.oidc import OIDCAuth  # noqa: PLC0415  only OIDC runs need it

    return OIDCAuth.login(settings, runner, transport)
