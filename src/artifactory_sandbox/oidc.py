"""OIDC token exchange: `POST /access/api/v1/oidc/token` (GitHub Actions ID token → access token).

The ID token's RS256 signature is checked against the provider's JWKS, then issuer, audience and
expiry, then the identity mappings (by priority) pick the token to mint. Failures answer with
Access's `{"errors":[{"code","message"}]}`: 400 for a malformed request or a token for another
issuer/audience, 401 when the token is not an acceptable credential, 404 for an unknown provider.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import jwt

from .access import MintedToken, access_error_response, mint_token
from .http import Request, Response, Route, json_response
from .oidc_config import (
    IdentityMapping,
    OidcConfig,
    OidcConfigError,
    Provider,
    load_config,
    read_jwks_file,
)

if TYPE_CHECKING:
    from .app import Sandbox

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"  # noqa: S105  a type URN, not a secret
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105  a type URN
REQUIRED_FIELDS = ("grant_type", "subject_token_type", "subject_token", "provider_name")
JWKS_TIMEOUT_S = 5.0
LEEWAY_S = 5  # clock skew tolerated on exp/nbf/iat, as token verifiers usually allow
CONFIG_CACHE_KEY = "oidc.config"


class ExchangeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def exchange(req: Request, ctx: Sandbox) -> Response:
    try:
        body = _request_body(req)
        provider = _provider(ctx, str(body["provider_name"]))
        claims = verify_id_token(str(body["subject_token"]), provider)
        mapping = _mapping(provider, claims, body.get("identity_mapping_name"))
    except ExchangeError as err:
        return access_error_response(err.status, err.message)
    spec = mapping.token_spec
    username = spec.username or f"oidc_{mapping.name}"
    minted = mint_token(ctx, username, spec.scope, spec.expires_in, spec.audience)
    return json_response(_answer(minted, body))


def _request_body(req: Request) -> dict[str, Any]:
    try:
        body = json.loads(req.read_text() or "null")
    except json.JSONDecodeError as err:
        raise ExchangeError(400, f"Failed to parse request body: {err.msg}") from err
    if not isinstance(body, dict):
        raise ExchangeError(400, "Failed to parse request body: expected a JSON object")
    missing = [name for name in REQUIRED_FIELDS if not body.get(name)]
    if missing:
        raise ExchangeError(400, f"Missing mandatory field(s): {', '.join(missing)}")
    if body["grant_type"] != GRANT_TYPE:
        raise ExchangeError(400, f"Unsupported grant type: {body['grant_type']}")
    if body["subject_token_type"] != ID_TOKEN_TYPE:
        raise ExchangeError(400, f"Unsupported subject token type: {body['subject_token_type']}")
    return body


def _provider(ctx: Sandbox, name: str) -> Provider:
    provider = _config(ctx).provider(name)
    if provider is None:
        raise ExchangeError(404, f"OIDC provider '{name}' was not found")
    return provider


def _config(ctx: Sandbox) -> OidcConfig:
    """The config file, re-read when it changes (tests rewrite it between exchanges)."""
    path = ctx.config.oidc_config_path
    if path is None:
        return OidcConfig()
    try:
        stamp = (str(path), path.stat().st_mtime_ns)
        cached = ctx.state.get(CONFIG_CACHE_KEY)
        if cached is None or cached[0] != stamp:
            cached = (stamp, load_config(path))
            ctx.state[CONFIG_CACHE_KEY] = cached
    except (OSError, OidcConfigError) as err:
        raise ExchangeError(500, f"The sandbox's OIDC configuration is unusable: {err}") from err
    config: OidcConfig = cached[1]
    return config


def verify_id_token(token: str, provider: Provider) -> dict[str, Any]:
    """The token's claims once signature, issuer, audience and lifetime check out."""
    key = _public_key(token, provider)
    options: jwt.types.Options = {"require": ["exp", "iat", "iss"], "verify_aud": provider.audience is not None}
    try:
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=["RS256"], issuer=provider.issuer_url,
            audience=provider.audience, options=options, leeway=LEEWAY_S,
        )  # fmt: skip
    except jwt.PyJWTError as err:
        raise _verification_error(err) from err
    return claims


def _verification_error(err: jwt.PyJWTError) -> ExchangeError:
    table: list[tuple[type[jwt.PyJWTError], int, str]] = [
        (jwt.ExpiredSignatureError, 401, "Token expired"),
        (jwt.ImmatureSignatureError, 401, "Token is not yet valid"),
        (jwt.InvalidAudienceError, 400, "Invalid audience"),
        (jwt.InvalidIssuerError, 400, "Invalid issuer"),
        (jwt.InvalidSignatureError, 401, "Token signature verification failed"),
        (jwt.MissingRequiredClaimError, 400, f"Invalid token: {err}"),
    ]
    for kind, status, message in table:
        if isinstance(err, kind):
            return ExchangeError(status, message)
    return ExchangeError(400, f"Failed to parse token: {err}")


def _public_key(token: str, provider: Provider) -> Any:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as err:
        raise ExchangeError(400, f"Failed to parse token: {err}") from err
    if header.get("alg") != "RS256":
        raise ExchangeError(400, f"Unsupported token algorithm: {header.get('alg')}")
    try:
        keys = jwt.PyJWKSet.from_dict(_jwks(provider)).keys
    except (jwt.PyJWTError, OidcConfigError, OSError, ValueError, httpx.HTTPError) as err:
        raise ExchangeError(400, "Failed to get public key") from err
    kid = header.get("kid")
    found = [key for key in keys if kid is None or key.key_id == kid]
    if not found:
        raise ExchangeError(400, "Failed to get public key")
    return found[0].key


def _jwks(provider: Provider) -> dict[str, Any]:
    if provider.jwks is not None:
        return provider.jwks
    if provider.jwks_file is not None:
        return read_jwks_file(provider.jwks_file)
    response = httpx.get(str(provider.jwks_url), timeout=JWKS_TIMEOUT_S)
    response.raise_for_status()
    document = response.json()
    if not isinstance(document, dict):
        raise ValueError("JWKS endpoint did not answer a JSON object")
    return document


def _mapping(provider: Provider, claims: dict[str, Any], wanted: Any) -> IdentityMapping:
    mappings = provider.ordered_mappings()
    if wanted:
        mappings = [mapping for mapping in mappings if mapping.name == wanted]
        if not mappings:
            raise ExchangeError(404, f"Identity mapping '{wanted}' was not found")
    for mapping in mappings:
        if mapping.matches(claims):
            return mapping
    raise ExchangeError(401, "Token claims do not match any identity mapping")


def _answer(minted: MintedToken, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "access_token": minted.access_token, "token_type": "Bearer",
        "expires_in": minted.expires_in, "scope": minted.scope, "refreshable": False,
        "audience": minted.audience, "grant_type": GRANT_TYPE,
        "issued_token_type": ACCESS_TOKEN_TYPE, "username": minted.username,
    }  # fmt: skip
    if body.get("include_reference_token") is True:
        answer["reference_token"] = "cmVmdGtu" + minted.token_id.replace("-", "")
    return answer


ROUTES = [Route("POST", r"/access/api/v1/oidc/token", exchange, auth="none")]
