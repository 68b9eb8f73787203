"""configure: point later steps' pip / uv and huggingface_hub at Artifactory (through GITHUB_ENV).

- `pypi-repo`: `PIP_INDEX_URL` and `UV_DEFAULT_INDEX` = `{url}/artifactory/api/pypi/{repo}/simple`
  with the credentials embedded (pip sends them as basic auth); `PIP_TRUSTED_HOST` for plain http.
- `hf-repo`: `HF_ENDPOINT` = `{url}/artifactory/api/huggingfaceml/{repo}`, `HF_TOKEN`, and the
  timeouts and Xet switch JFrog's Hugging Face documentation asks for.
Every value holding a credential is masked before it is written. The repositories are checked to
exist first. A dry run writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import quote, urlsplit

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.oidc import jwt_claims
from ml_artifactory_action.errors import ConfigError
from ml_artifactory_action.stages.context import StageContext

# JFrog's Hugging Face guide: resolving through Artifactory may take long on a first (cached) pull.
HF_TIMEOUT_SECONDS = "86400"
HF_SETTINGS = {
    "HF_HUB_ETAG_TIMEOUT": HF_TIMEOUT_SECONDS,
    "HF_HUB_DOWNLOAD_TIMEOUT": HF_TIMEOUT_SECONDS,
    # huggingface_hub uses Xet storage when it can; Artifactory serves the classic HTTP protocol.
    "HF_HUB_DISABLE_XET": "1",
}
EXPECTED_TYPES = {"pypi-repo": "pypi", "hf-repo": "huggingfaceml"}
# Artifactory takes an access token as the password of basic auth with the token's own user, or
# with an empty user name (JFrog's and uv's guides); the user is known only from a JWT's `sub`.
UNKNOWN_TOKEN_USER = ""


@runtime_checkable
class TokenAuth(Protocol):
    """An auth that knows its current access token (the OIDC login)."""

    @property
    def username(self) -> str: ...

    @property
    def token(self) -> str: ...


@dataclass(frozen=True)
class Variable:
    name: str
    value: str
    secret: bool = False


@dataclass(frozen=True)
class ConfigureResult:
    variables: tuple[Variable, ...]
    pypi_index: str  # without credentials, for the report
    hf_endpoint: str
    dry_run: bool = False


def run(ctx: StageContext) -> ConfigureResult:
    settings = ctx.settings
    for input_name, key in (("pypi-repo", settings.pypi_repo), ("hf-repo", settings.hf_repo)):
        if key:
            check_repository(ctx, input_name, key)
    user, token = credentials(ctx)
    variables: list[Variable] = []
    pypi_index = hf_endpoint = ""
    if settings.pypi_repo:
        pypi_index = f"{settings.artifactory_url}/api/pypi/{quote(settings.pypi_repo)}/simple"
        variables += pip_variables(pypi_index, user, token)
    if settings.hf_repo:
        hf_endpoint = f"{settings.artifactory_url}/api/huggingfaceml/{quote(settings.hf_repo)}"
        variables += hf_variables(hf_endpoint, token)
    names = ", ".join(v.name for v in variables)
    if settings.dry_run:
        ctx.runner.info(f"Dry run: would set {names} for later steps.")
    else:
        for variable in variables:
            ctx.runner.export_env(variable.name, variable.value, secret=variable.secret)
        ctx.runner.info(f"Set {names} for later steps.")
    return ConfigureResult(tuple(variables), pypi_index, hf_endpoint, settings.dry_run)


def check_repository(ctx: StageContext, input_name: str, key: str) -> None:
    """ConfigError when the repository does not exist; a warning when its type looks wrong."""
    client: ArtifactoryClient = ctx.client
    response = client.request(
        "GET", f"api/repositories/{quote(key)}", expect=(400, 404), action=f"Reading repository {key}"
    )
    if response.status_code in (400, 404):
        raise ConfigError(
            input_name,
            f"repository '{key}' does not exist on {ctx.settings.url}",
            fix=f"Create it in Artifactory ({EXPECTED_TYPES[input_name]} type; remote or virtual to proxy the public index), or fix the key.",
        )
    package_type = str(response.json().get("packageType", "")).lower()
    if package_type and package_type != EXPECTED_TYPES[input_name]:
        ctx.runner.warning(
            "Unexpected repository type",
            f"{input_name} '{key}' is a {package_type} repository, not {EXPECTED_TYPES[input_name]}.",
        )


def credentials(ctx: StageContext) -> tuple[str, str]:
    """(user, token) for clients that authenticate on their own; ('', '') when anonymous."""
    settings = ctx.settings
    if settings.access_token is not None:
        token = settings.access_token.get_secret_value()
        return settings.user or token_user(token), token
    if settings.user and settings.password is not None:
        return settings.user, settings.password.get_secret_value()
    if not settings.oidc_provider_name:
        return "", ""
    auth = ctx.client.http.auth
    if isinstance(auth, TokenAuth):
        return auth.username or token_user(auth.token), auth.token
    raise ConfigError(
        "oidc-provider-name",
        "the OIDC login does not expose its access token, so configure cannot hand it to later steps",
        fix="Give the configure stage access-token (or user + password) instead of OIDC.",
    )


def token_user(token: str) -> str:
    """The user an access token belongs to (its `sub`), as JFrog's tools derive it."""
    subject = str(jwt_claims(token).get("sub", ""))
    if subject.startswith("jfrt@") or "/users/" in subject:
        return subject.rpartition("/")[2]
    return subject or UNKNOWN_TOKEN_USER


def pip_variables(index: str, user: str, token: str) -> list[Variable]:
    parts = urlsplit(index)
    with_credentials = index
    if token:
        userinfo = f"{quote(user, safe='')}:{quote(token, safe='')}@"
        with_credentials = f"{parts.scheme}://{userinfo}{parts.netloc}{parts.path}"
    variables = [
        Variable("PIP_INDEX_URL", with_credentials, secret=bool(token)),
        Variable("UV_DEFAULT_INDEX", with_credentials, secret=bool(token)),
    ]
    if parts.scheme == "http":
        variables.append(Variable("PIP_TRUSTED_HOST", parts.hostname or ""))
    return variables


def hf_variables(endpoint: str, token: str) -> list[Variable]:
    variables = [Variable("HF_ENDPOINT", endpoint)]
    if token:
        variables.append(Variable("HF_TOKEN", token, secret=True))
    return variables + [Variable(name, value) for name, value in HF_SETTINGS.items()]
