"""Who is calling: Bearer tokens, Basic `user:token`, `X-JFrog-Art-Api`; and what they may do.

Static tokens come from the command line (admin, read-only); Access/OIDC tokens are rows in the
`tokens` table, looked up by the sha256 of the token and accepted until they expire.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import TYPE_CHECKING

from .http import AuthLevel, Headers, HttpError, Principal

if TYPE_CHECKING:
    from .app import Sandbox

__all__ = ["Principal", "authenticate", "authorize", "token_hash"]

ADMIN_SCOPES = ("applied-permissions/admin",)
READ_ONLY_SCOPES = ("applied-permissions/groups:readers",)
BAD_CREDENTIALS = "Bad credentials"
# What Artifactory answers a request without credentials when anonymous access is off.
AUTH_REQUIRED = "Authentication is required"
CHALLENGE = {"WWW-Authenticate": 'Basic realm="Artifactory Realm"'}


def token_hash(token: str) -> str:
    """How tokens are stored in the `tokens` table: the sha256 hex of the token text."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def authenticate(headers: Headers, ctx: Sandbox) -> Principal | None:
    """The caller, None when no credentials were sent; `HttpError(401)` for wrong ones."""
    credentials = _credentials(headers)
    if credentials is None:
        return None
    user, token = credentials
    principal = _lookup(token, ctx)
    if principal is None:
        raise HttpError(401, BAD_CREDENTIALS, dict(CHALLENGE))
    if user and principal.token_id is None and principal.name == "admin":
        return Principal(user, principal.scopes, None)
    return principal


def authorize(principal: Principal | None, level: AuthLevel) -> None:
    """Raise 401 (nobody) or 403 (not allowed) unless `principal` may act at `level`."""
    if level == "none":
        return
    if principal is None:
        raise HttpError(401, AUTH_REQUIRED, dict(CHALLENGE))
    if level == "write" and not principal.can_write:
        raise HttpError(403, "Forbidden")
    if level == "admin" and not principal.is_admin:
        raise HttpError(403, "Forbidden")


def _credentials(headers: Headers) -> tuple[str | None, str] | None:
    """(user or None, secret) from whichever auth header the client sent."""
    authorization = headers.get("Authorization", "").strip()
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return None, value.strip()
    if scheme.lower() == "basic":
        return _basic(value.strip())
    api_key = headers.get("X-JFrog-Art-Api", "").strip()
    if api_key:
        return None, api_key
    if authorization:
        raise HttpError(401, BAD_CREDENTIALS, dict(CHALLENGE))
    return None


def _basic(value: str) -> tuple[str | None, str]:
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as err:
        raise HttpError(401, BAD_CREDENTIALS, dict(CHALLENGE)) from err
    user, sep, password = decoded.partition(":")
    if not sep or not password:
        raise HttpError(401, BAD_CREDENTIALS, dict(CHALLENGE))
    return user, password


def _lookup(token: str, ctx: Sandbox) -> Principal | None:
    config = ctx.config
    if hmac.compare_digest(token, config.admin_token):
        return Principal("admin", ADMIN_SCOPES)
    if config.read_only_token and hmac.compare_digest(token, config.read_only_token):
        return Principal("reader", READ_ONLY_SCOPES)
    return _stored_token(token, ctx)


def _stored_token(token: str, ctx: Sandbox) -> Principal | None:
    with ctx.db.read() as conn:
        row = conn.execute(
            "SELECT token_id, subject, scope, expires_at FROM tokens WHERE token_hash = ?",
            (token_hash(token),),
        ).fetchone()
    if row is None or (row["expires_at"] is not None and row["expires_at"] <= time.time()):
        return None
    return Principal(_user_name(row["subject"] or ""), tuple((row["scope"] or "").split()), row["token_id"])


def _user_name(subject: str) -> str:
    """`jfac@01h.../users/alice` -> `alice` (the way setup-jfrog-cli derives it)."""
    if "/users/" in subject or subject.startswith("jfrt@"):
        return subject.rsplit("/", 1)[-1]
    return subject or "token"
