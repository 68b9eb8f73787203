"""Deploy (`PUT /artifactory/{repo}/{path};props`) and delete; reads are in `download.py`.

The body streams into the filestore while it is hashed; the item row is written only after the
bytes are verified and renamed into place, so a failed or cut upload leaves nothing behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import download, items
from .app import iso_time
from .digests import Digests
from .filestore import ChecksumMismatch, check_expected
from .http import HttpError, Request, Response, Route, json_response
from .paths import RepoPath, repo_path
from .props import Properties, matrix_params
from .repos import deploy_target

if TYPE_CHECKING:
    from .app import Sandbox

PREFIX = "/artifactory/"
ITEM_CREATED = "application/vnd.org.jfrog.artifactory.storage.ItemCreated+json"
CHECKSUM_HEADERS = {"X-Checksum-Sha1": "sha1", "X-Checksum-Md5": "md5", "X-Checksum-Sha256": "sha256"}
GENERIC_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}
POLICY_LABELS = (("sha1", "SHA-1"), ("md5", "MD5"), ("sha256", "SHA-256"))


def announced_checksums(req: Request) -> dict[str, str]:
    """Checksums the client sent: `X-Checksum-*` headers, `X-Checksum` typed by its length."""
    found = {
        kind: req.headers[name].strip().lower()
        for name, kind in CHECKSUM_HEADERS.items()
        if req.headers.get(name, "").strip()
    }
    generic = req.headers.get("X-Checksum", "").strip().lower()
    if generic:
        kind = GENERIC_BY_LENGTH.get(len(generic))
        if kind is None:
            raise HttpError(400, f"Unrecognized checksum '{generic}' in header X-Checksum")
        found.setdefault(kind, generic)
    return found


def mismatch_message(where: RepoPath, expected: dict[str, str], actual: Digests) -> str:
    """The 409 text of Artifactory's client checksum policy."""
    computed = actual.as_dict()
    infos = ", ".join(
        f"{label}=ChecksumInfo{{type={label}, original='{expected.get(kind, 'null')}', actual='{computed[kind]}'}}"
        for kind, label in POLICY_LABELS
    )
    return (
        f"Checksum policy 'LocalRepoChecksumPolicy: CLIENT' rejected the artifact "
        f"'{where.display}'. Checksums info: ChecksumsInfo{{checksums={{{infos}}}}}"
    )


def deploy(req: Request, ctx: Sandbox, **_: str) -> Response:
    where = repo_path(req, PREFIX)
    props = matrix_params(req.raw_path)
    with ctx.db.read() as conn:
        target = RepoPath(deploy_target(conn, where.repo).key, where.path, where.is_folder_request)
    _check_deploy_permission(req, target)
    if target.is_folder_request or not target.path:
        return _create_folder(req, ctx, target, props)
    expected = announced_checksums(req)
    if req.headers.get("X-Checksum-Deploy", "").strip().lower() == "true":
        digests = _existing_content(ctx, target, expected)
    else:
        digests = _receive(req, ctx, target, expected)
    stamp = items.Stamp(req.user, _now(ctx))
    with ctx.db.tx() as conn:
        item_id = items.put_file(conn, target, digests, expected, stamp)
        items.set_properties(conn, item_id, props)
    return json_response(_created_body(req, target, digests, expected, stamp), 201, ITEM_CREATED)


def _check_deploy_permission(req: Request, where: RepoPath) -> None:
    """Read-only callers get Artifactory's deploy refusal before any byte is read."""
    principal = req.principal
    if principal is not None and not principal.can_write:
        name = f"token:{principal.name}" if principal.token_id else principal.name
        raise HttpError(403, f"User {name} is not permitted to deploy '{where.path}' into '{where.display}'.")


def _receive(req: Request, ctx: Sandbox, where: RepoPath, expected: dict[str, str]) -> Digests:
    try:
        return ctx.files.ingest(req.body, expected)
    except ChecksumMismatch as err:
        raise HttpError(409, mismatch_message(where, expected, err.actual)) from err


def _existing_content(ctx: Sandbox, where: RepoPath, expected: dict[str, str]) -> Digests:
    """Checksum deploy: the stored binary with the announced checksum, else 404."""
    if not expected:
        raise HttpError(400, "Checksum deploy requires a checksum header (X-Checksum-Sha256/Sha1/Md5)")
    kind = next(k for k in ("sha256", "sha1", "md5") if k in expected)
    with ctx.db.read() as conn:
        digests = items.find_binary(conn, kind, expected[kind])
    if digests is None or not ctx.files.has(digests.sha256):
        raise HttpError(
            404,
            f"Checksum deploy failed for '{where.display}': no existing binary with {kind.upper()} '{expected[kind]}'",
        )
    try:
        check_expected(expected, digests)
    except ChecksumMismatch as err:
        raise HttpError(409, mismatch_message(where, expected, err.actual)) from err
    return digests


def _create_folder(req: Request, ctx: Sandbox, where: RepoPath, props: Properties) -> Response:
    stamp = items.Stamp(req.user, _now(ctx))
    with ctx.db.tx() as conn:
        items.ensure_folder(conn, where.repo, where.path, stamp)
        row = items.get(conn, where.repo, where.path)
        if row is not None:
            items.set_properties(conn, row["id"], props)
    uri = f"{req.base_url}/artifactory/{where.url_path()}/"
    body = {
        "repo": where.repo,
        "path": f"/{where.path}/" if where.path else "/",
        "created": stamp.time,
        "createdBy": stamp.user,
        "uri": uri,
        "children": [],
    }
    return json_response(body, 201, ITEM_CREATED)


def _created_body(
    req: Request, where: RepoPath, digests: Digests, originals: dict[str, str], stamp: items.Stamp
) -> dict[str, Any]:
    uri = f"{req.base_url}/artifactory/{where.url_path()}"
    return {
        "repo": where.repo,
        "path": f"/{where.path}",
        "created": stamp.time,
        "createdBy": stamp.user,
        "downloadUri": uri,
        "mimeType": download.mime_type(where.name),
        "size": str(digests.size),
        "checksums": digests.as_dict(),
        "originalChecksums": dict(originals),
        "uri": uri,
    }


def delete(req: Request, ctx: Sandbox, **_: str) -> Response:
    where = repo_path(req, PREFIX)
    with ctx.db.tx() as conn:
        target = deploy_target(conn, where.repo)
        removed = items.delete_tree(conn, target.key, where.path)
    if not removed and where.path:
        raise HttpError(404, f"Could not locate artifact '{target.key}:{where.path}'.")
    return Response(204)


def _now(ctx: Sandbox) -> str:
    return iso_time(ctx.now())


ITEM = r"/artifactory/(?P<repo>[^/]+)(?:/(?P<path>.*))?"
ROUTES = [
    Route("PUT", ITEM, deploy, auth="read"),  # deploy() refuses read-only callers itself
    Route("DELETE", ITEM, delete, auth="write"),
    Route("GET", ITEM, download.get, auth="read"),
    Route("HEAD", ITEM, download.get, auth="read"),
]
