"""Git LFS for Hugging Face repositories: the batch API and the signed upload URL it hands out.

`huggingface_hub` asks `{repo}.git/info/lfs/objects/batch` what to upload; objects whose sha256 the
server already stores come back without `actions` and the client sends nothing (Artifactory's
checksum deploy, seen from the LFS side). The others get an upload `href` the client PUTs to without
credentials, so the URL carries its own proof: an HMAC over repository, oid, size and expiry.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from . import items
from .digests import Digests
from .filestore import ChecksumMismatch
from .hf_store import HfRepo
from .http import HttpError, Request, Response, json_response

if TYPE_CHECKING:
    from .app import Sandbox

PREFIX = "/artifactory/api/huggingfaceml/"
UPLOAD_TTL_S = 3600
MAX_OBJECTS = 1000
SHA256 = re.compile(r"[0-9a-f]{64}")
LFS_JSON = "application/vnd.git-lfs+json"


def batch(req: Request, ctx: Sandbox, repo: HfRepo) -> Response:
    principal = req.principal
    if principal is None or not principal.can_write:
        raise HttpError(403, f"User {req.user} is not permitted to deploy into '{repo.key}'")
    body = req.read_json()
    if not isinstance(body, dict) or body.get("operation") != "upload":
        raise HttpError(400, "Only the LFS 'upload' operation is supported")
    objects = body.get("objects")
    if not isinstance(objects, list) or len(objects) > MAX_OBJECTS:
        raise HttpError(400, f"'objects' must be a list of at most {MAX_OBJECTS} {{oid, size}}")
    answered = [_object(req, ctx, repo, obj) for obj in objects]
    return json_response({"transfer": "basic", "objects": answered, "hash_algo": "sha256"}, content_type=LFS_JSON)


def _object(req: Request, ctx: Sandbox, repo: HfRepo, obj: Any) -> dict[str, Any]:
    oid, size = (obj.get("oid"), obj.get("size")) if isinstance(obj, dict) else (None, None)
    if not isinstance(oid, str) or not SHA256.fullmatch(oid) or not isinstance(size, int) or size < 0:
        raise HttpError(400, "Every LFS object needs a sha256 'oid' and an integer 'size'")
    if _stored(ctx, oid, size) is not None:
        return {"oid": oid, "size": size}
    expires = int(time.time()) + UPLOAD_TTL_S
    query = urlencode({"size": size, "expires": expires, "sig": _signature(ctx, repo.key, oid, size, expires)})
    href = f"{req.base_url}{PREFIX}{repo.key}/api/lfs-upload/{oid}?{query}"
    upload = {"href": href, "header": {}, "expires_in": UPLOAD_TTL_S}
    return {"oid": oid, "size": size, "authenticated": True, "actions": {"upload": upload}}


def receive(req: Request, ctx: Sandbox, key: str, oid: str) -> Response:
    """The PUT of an LFS object to the URL `batch` signed; 403 without a valid signature."""
    size, expires = _int_arg(req, "size"), _int_arg(req, "expires")
    expected = _signature(ctx, key, oid, size, expires)
    if not hmac.compare_digest(expected, req.arg("sig") or "") or expires < time.time():
        raise HttpError(403, "LFS upload URL is invalid or expired: ask the batch API for a new one")
    try:
        digests = ctx.files.ingest(req.body, {"sha256": oid})
    except ChecksumMismatch as err:
        raise HttpError(400, f"LFS object content does not match oid {oid}") from err
    if digests.size != size:
        raise HttpError(400, f"LFS object {oid} has {digests.size} bytes, {size} were announced")
    with ctx.db.tx() as conn:
        items.record_binary(conn, digests)
    return Response(200)


def committed_object(ctx: Sandbox, value: dict[str, Any]) -> Digests:
    """The stored binary an `lfsFile` commit line names; 400 if it was never uploaded."""
    oid, size = value.get("oid"), value.get("size")
    if value.get("algo", "sha256") != "sha256" or not isinstance(oid, str) or not SHA256.fullmatch(oid):
        raise HttpError(400, "lfsFile needs a sha256 'oid'")
    digests = _stored(ctx, oid, size if isinstance(size, int) else None)
    if digests is None:
        raise HttpError(400, f"LFS object {oid} for '{value.get('path')}' was not uploaded")
    return digests


def _stored(ctx: Sandbox, oid: str, size: int | None) -> Digests | None:
    with ctx.db.read() as conn:
        digests = items.find_binary(conn, "sha256", oid)
    if digests is None or not ctx.files.has(oid) or (size is not None and digests.size != size):
        return None
    return digests


def _signature(ctx: Sandbox, key: str, oid: str, size: int, expires: int) -> str:
    message = f"{key}\n{oid}\n{size}\n{expires}".encode()
    return hmac.new(_secret(ctx), message, hashlib.sha256).hexdigest()


def _secret(ctx: Sandbox) -> bytes:
    with ctx.lock:
        secret: bytes = ctx.state.setdefault("hf_lfs_secret", secrets.token_bytes(32))
    return secret


def _int_arg(req: Request, name: str) -> int:
    value = req.arg(name) or ""
    if not value.isdigit():
        raise HttpError(403, "LFS upload URL is invalid or expired: ask the batch API for a new one")
    return int(value)
