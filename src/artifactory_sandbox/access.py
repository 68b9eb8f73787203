"""Access tokens: `POST /access/api/v1/tokens`, `DELETE /access/api/v1/tokens/{id}`, and minting.

Tokens are RS256 JWTs signed by a key the sandbox makes at first use (clients such as
setup-jfrog-cli decode the payload); only the sha256 of a token is stored, in `tokens`, which is
what the core's auth checks. Access errors use `{"errors":[{"code":...,"message":...}]}`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .auth import token_hash
from .http import HttpError, Request, Response, Route, json_response
from .system import SERVICE_ID

if TYPE_CHECKING:
    from .app import Sandbox

ISSUER = "jfac@" + SERVICE_ID.removeprefix("jfrt@")
DEFAULT_EXPIRES_IN = 31_536_000  # Access's default token lifetime: one year
DEFAULT_SCOPE = "applied-permissions/user"
DEFAULT_AUDIENCE = "*@*"
RSA_KEY_BITS = 2048
SCOPE_RE = re.compile(r"applied-permissions/(user|admin|groups:[^\s,]+(,[^\s,]+)*|roles:[^\s,]+(,[^\s,]+)*)")
ACCESS_ERROR_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND"}
STATE_KEY = "access.signing_key"
CURRENT_TOKEN = "me"  # noqa: S105  the path word for "the token I am calling with", not a secret


class AccessError(HttpError):
    """An Access-style failure: answered as `{"errors":[{"code","message"}]}`."""


def access_error_response(status: int, message: str) -> Response:
    code = ACCESS_ERROR_CODES.get(status, "INTERNAL_SERVER_ERROR")
    return json_response({"errors": [{"code": code, "message": message}]}, status)


@dataclass(frozen=True)
class MintedToken:
    token_id: str
    access_token: str
    subject: str
    scope: str
    expires_in: int | None
    audience: str

    @property
    def username(self) -> str:
        return self.subject.rsplit("/", 1)[-1]


def mint_token(
    ctx: Sandbox, username: str, scope: str, expires_in: int | None, audience: str = DEFAULT_AUDIENCE
) -> MintedToken:
    """Sign a new token and record its hash (with expiry) in `tokens`."""
    now = int(time.time())
    token_id = str(uuid.uuid4())
    subject = f"{ISSUER}/users/{username}"
    claims: dict[str, Any] = {
        "ext": json.dumps({"revocable": "true"}), "sub": subject, "scp": scope,
        "aud": audience, "iss": ISSUER, "iat": now, "jti": token_id,
    }  # fmt: skip
    expires_at = now + expires_in if expires_in else None
    if expires_at is not None:
        claims["exp"] = expires_at
    token = jwt.encode(claims, _signing_key(ctx), algorithm="RS256", headers={"kid": _kid(ctx)})
    minted = MintedToken(token_id, token, subject, scope, expires_in, audience)
    _store(ctx, minted, expires_at)
    return minted


def _signing_key(ctx: Sandbox) -> rsa.RSAPrivateKey:
    with ctx.lock:
        key = ctx.state.get(STATE_KEY)
        if key is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
            ctx.state[STATE_KEY] = key
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError(f"ctx.state[{STATE_KEY!r}] holds {type(key).__name__}, not an RSA key")
    return key


def _kid(ctx: Sandbox) -> str:
    numbers = _signing_key(ctx).public_key().public_numbers()
    return format(numbers.n, "x")[:40]


def _store(ctx: Sandbox, minted: MintedToken, expires_at: int | None) -> None:
    row = (minted.token_id, token_hash(minted.access_token), minted.subject, minted.scope)
    with ctx.db.tx() as conn:
        conn.execute(
            "INSERT INTO tokens(token_id, token_hash, subject, scope, expires_at, created) VALUES (?, ?, ?, ?, ?, ?)",
            (*row, expires_at, ctx.now().isoformat()),
        )


def create_token(req: Request, ctx: Sandbox) -> Response:
    try:
        body = _token_request(req)
        spec = _token_spec(req, body)
    except AccessError as err:
        return access_error_response(err.status, err.message)
    minted = mint_token(ctx, spec.username, spec.scope, spec.expires_in, spec.audience)
    return json_response(_token_body(minted, body))


@dataclass(frozen=True)
class _Spec:
    username: str
    scope: str
    expires_in: int | None
    audience: str


def _token_request(req: Request) -> dict[str, Any]:
    """The JSON body (the Go client) or a form body (older Artifactory token API callers)."""
    text = req.read_text()
    if "form-urlencoded" in req.headers.get("Content-Type", ""):
        return {key: values[-1] for key, values in parse_qs(text).items()}
    try:
        body = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as err:
        raise AccessError(400, f"Failed to parse request body: {err.msg}") from err
    if not isinstance(body, dict):
        raise AccessError(400, "Failed to parse request body: expected a JSON object")
    return body


def _token_spec(req: Request, body: dict[str, Any]) -> _Spec:
    principal = req.principal
    if principal is None:
        raise AccessError(401, "Authentication is required")
    scope = str(body.get("scope") or DEFAULT_SCOPE).strip()
    username = str(body.get("username") or principal.name)
    if not all(SCOPE_RE.fullmatch(part) for part in scope.split()):
        raise AccessError(400, f"Invalid scope: '{scope}'")
    if not principal.is_admin and (username != principal.name or "admin" in scope.split("/")):
        raise AccessError(403, "Only an admin can create tokens for other users or with admin scope")
    return _Spec(username, scope, _expires_in(body), str(body.get("audience") or DEFAULT_AUDIENCE))


def _expires_in(body: dict[str, Any]) -> int | None:
    raw = body.get("expires_in", DEFAULT_EXPIRES_IN)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise AccessError(400, f"Invalid expires_in: '{raw}'") from None
    if value < 0:
        raise AccessError(400, "expires_in must be a non-negative number of seconds")
    return value or None  # 0: a token that does not expire


def _token_body(minted: MintedToken, body: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "token_id": minted.token_id, "access_token": minted.access_token,
        "scope": minted.scope, "token_type": "Bearer",
    }  # fmt: skip
    if minted.expires_in is not None:
        answer["expires_in"] = minted.expires_in
    if _truthy(body.get("refreshable")):
        answer["refresh_token"] = str(uuid.uuid4())
    if _truthy(body.get("include_reference_token")):
        answer["reference_token"] = "cmVmdGtu" + minted.token_id.replace("-", "")
    return answer


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def revoke_token(req: Request, ctx: Sandbox, token_id: str) -> Response:
    """200 revoked; 204 already revoked (or expired); `me` is the calling token (Access 7.53.1)."""
    principal = req.principal
    if principal is not None and token_id == CURRENT_TOKEN:
        token_id = principal.token_id or ""
    with ctx.db.tx() as conn:
        row = conn.execute("SELECT subject, expires_at FROM tokens WHERE token_id = ?", (token_id,)).fetchone()
        if row is None:
            return access_error_response(404, f"Token with id '{token_id}' not found")
        if not _may_revoke(principal, row["subject"]):
            return access_error_response(403, "Not allowed to revoke this token")
        if row["expires_at"] is not None and row["expires_at"] <= time.time():
            return Response(204)
        conn.execute(REVOKE_SQL, (token_id,))
    return Response(200)


REVOKE_SQL = "UPDATE tokens SET expires_at = 0 WHERE token_id = ?"  # kept so a repeat answers 204


def _may_revoke(principal: Any, subject: str | None) -> bool:
    if principal is None:
        return False
    return bool(principal.is_admin or (subject or "").endswith(f"/users/{principal.name}"))


ROUTES = [
    Route("POST", r"/access/api/v1/tokens", create_token, auth="write"),
    Route("DELETE", r"/access/api/v1/tokens/(?P<token_id>[^/]+)", revoke_token, auth="read"),
]
