"""The Hugging Face Hub API under `/artifactory/api/huggingfaceml/{repo}/` (`HF_ENDPOINT`).

What `huggingface_hub` calls (read from its code, 2.4.0): `api/validate-yaml`, `preupload`, the git
LFS batch API and the upload URL it hands out, `commit` (ndjson), model/dataset info with or without
a revision, `tree`, and `resolve` (HEAD and GET). Errors carry the `X-Error-Code` the client maps
(`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`). Xet storage is not offered: clients run with
`HF_HUB_DISABLE_XET=1`. Storage is in `hf_store`; reads through remote and virtual repositories are
in `hf_remote`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import yaml

from . import hf_lfs, hf_remote, hf_store, items
from .app import iso_time
from .digests import Digests
from .download import FileBody, mime_type, parse_range
from .filestore import ChecksumMismatch
from .hf_store import HfRepo, Revision
from .http import HttpError, Request, Response, Route, json_response
from .paths import parse_checked
from .repos import deploy_target, require_repo

if TYPE_CHECKING:
    from .app import Sandbox

PREFIX = "/artifactory/api/huggingfaceml/"
PACKAGE_TYPE = "huggingfaceml"
LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub's rule: larger files, or binary ones, go through LFS
MAX_YAML_CHARS = 1024 * 1024
DEFAULT_REVISION = "main"
API_VERBS = ("revision", "tree", "preupload", "commit")
LFS_VERB = "info"  # {name}.git/info/lfs/objects/batch


@dataclass(frozen=True)
class Call:
    """One HF API request: the Artifactory repository and the raw path segments after it."""

    req: Request
    ctx: Sandbox
    key: str
    segments: list[str]


def handle(req: Request, ctx: Sandbox, key: str, rest: str) -> Response:
    with ctx.db.read() as conn:
        repo = require_repo(conn, key)
    if repo.package_type != PACKAGE_TYPE:
        raise HttpError(400, f"Repository {key} is not a Hugging Face repository")
    raw_rest = req.raw_path.split(";", 1)[0][len(PREFIX) + len(quote(key, safe="")) + 1 :]
    call = Call(req, ctx, key, [unquote(part) for part in raw_rest.split("/")])
    return _dispatch(call)


def _dispatch(call: Call) -> Response:
    seg, method = call.segments, call.req.method
    if seg[:2] == ["api", "validate-yaml"] and method == "POST":
        return validate_yaml(call)
    if seg[:2] == ["api", "lfs-upload"] and len(seg) == 3 and method == "PUT":
        return hf_lfs.receive(call.req, call.ctx, call.key, seg[2])
    if seg[0] == "api" and len(seg) >= 3 and seg[1] in hf_store.REPO_TYPES:
        org, name, rest = _split_id(seg[2:], API_VERBS)
        return _api(call, _hf_repo(call, seg[1], org, name), rest)
    kind, seg = ("datasets", seg[1:]) if seg[0] == "datasets" else ("models", seg)
    org, name, rest = _split_id(seg, ("resolve", LFS_VERB))
    if name.endswith(".git") and rest == ["info", "lfs", "objects", "batch"]:
        return hf_lfs.batch(call.req, call.ctx, _hf_repo(call, kind, org, name[: -len(".git")]))
    if len(rest) >= 3 and rest[0] == "resolve" and method in ("GET", "HEAD"):
        return resolve(call, _hf_repo(call, kind, org, name), rest[1], "/".join(rest[2:]))
    raise HttpError(404, "Not Found")


def _split_id(seg: list[str], verbs: tuple[str, ...]) -> tuple[str, str, list[str]]:
    """(org, name, the rest): a bare id (`gpt2`) when the second segment is already a verb."""
    if len(seg) == 1 or seg[1] in verbs or seg[0].endswith(".git"):
        return "", seg[0], seg[1:]
    return seg[0], seg[1], seg[2:]


def _api(call: Call, repo: HfRepo, rest: list[str]) -> Response:
    method = call.req.method
    if not rest and method == "GET":
        return info(call, repo, DEFAULT_REVISION)
    if len(rest) == 2 and rest[0] == "revision" and method == "GET":
        return info(call, repo, rest[1])
    if len(rest) >= 2 and rest[0] == "tree" and method == "GET":
        return tree(call, repo, rest[1], "/".join(rest[2:]))
    if len(rest) == 2 and rest[0] == "preupload" and method == "POST":
        return preupload(call, repo, rest[1])
    if len(rest) == 2 and rest[0] == "commit" and method == "POST":
        return commit(call, repo, rest[1])
    raise HttpError(404, "Not Found")


def _hf_repo(call: Call, kind: str, org: str, name: str) -> HfRepo:
    hf_store.check_name(org, name)
    return HfRepo(call.key, kind, org, name)


# --- reads ------------------------------------------------------------------------------------


def _revision(call: Call, repo: HfRepo, revision: str) -> Revision:
    return hf_remote.revision(call.req, call.ctx, repo, revision)


def info(call: Call, repo: HfRepo, revision: str) -> Response:
    found = _revision(call, repo, revision)
    entries = hf_remote.entries(call.ctx, found)
    blobs = call.req.flag("blobs")
    siblings = [_sibling(entry, blobs) for entry in entries]
    body: dict[str, Any] = {
        "_id": found.sha,
        "id": repo.repo_id,
        "author": repo.org,
        "sha": found.sha,
        "lastModified": found.modified,
        "createdAt": found.created,
        "private": False,
        "disabled": False,
        "gated": False,
        "downloads": 0,
        "likes": 0,
        "tags": [],
        "siblings": siblings,
    }
    if repo.kind == "models":
        body["modelId"] = repo.repo_id
    return json_response(body)


def _sibling(entry: hf_store.Entry, blobs: bool) -> dict[str, Any]:
    sibling: dict[str, Any] = {"rfilename": entry.path}
    if blobs:
        sibling |= {"size": entry.digests.size, "blobId": entry.digests.sha1}
    return sibling


def tree(call: Call, repo: HfRepo, revision: str, path: str) -> Response:
    found = _revision(call, repo, revision)
    entries = hf_remote.entries(call.ctx, found)
    prefix = f"{path.strip('/')}/" if path.strip("/") else ""
    below = [entry for entry in entries if entry.path.startswith(prefix)]
    if prefix and not below:
        raise _entry_not_found(found, path)
    recursive = call.req.flag("recursive")
    return json_response(_tree_listing(below, prefix, recursive))


def _tree_listing(entries: list[hf_store.Entry], prefix: str, recursive: bool) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = []
    folders: set[str] = set()
    for entry in entries:
        relative = entry.path[len(prefix) :]
        parts = relative.split("/")
        for depth in range(1, len(parts) if recursive else min(len(parts), 2)):
            folders.add(prefix + "/".join(parts[:depth]))
        if recursive or len(parts) == 1:
            listed.append({"type": "file", "oid": entry.digests.sha1, "size": entry.digests.size, "path": entry.path})
    listed += [{"type": "directory", "oid": _tree_id(folder), "size": 0, "path": folder} for folder in folders]
    return sorted(listed, key=lambda item: str(item["path"]))


def _tree_id(folder: str) -> str:
    return hashlib.sha1(folder.encode(), usedforsecurity=False).hexdigest()


def resolve(call: Call, repo: HfRepo, revision: str, path: str) -> Response:
    found = _revision(call, repo, revision)
    path = parse_checked(f"x/{path}").path
    row = hf_remote.file_row(call.ctx, found, path)
    if row is None:
        raise _entry_not_found(found, path)
    headers = {
        "X-Repo-Commit": found.sha,
        "ETag": f'"{row["sha256"]}"',
        "Accept-Ranges": "bytes",
        "X-Checksum-Sha1": row["sha1"],
        "X-Checksum-Sha256": row["sha256"],
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(row['name'])}",
    }
    span = parse_range(call.req.headers.get("Range"), row["size"])
    start, length, status = 0, row["size"], 200
    if span is not None:
        start, length, status = span[0], span[1] - span[0] + 1, 206
        headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{row['size']}"
    headers["Content-Length"] = str(length)
    body = FileBody(call.ctx.files.open(row["sha256"]), start, length)  # HEAD: the server sends no body
    return Response(status, body, headers, mime_type(row["name"]))


def _entry_not_found(found: Revision, path: str) -> HttpError:
    headers = {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": found.sha}
    return HttpError(404, f"Entry not found: {path}", headers)


# --- writes -----------------------------------------------------------------------------------


def validate_yaml(call: Call) -> Response:
    """The model card's front matter must be a YAML mapping (what the Hub checks first)."""
    body = call.req.read_json()
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, str) or len(content) > MAX_YAML_CHARS:
        raise HttpError(400, "validate-yaml expects {'content': <README.md text>, 'repoType': ...}")
    errors: list[dict[str, str]] = []
    if content.startswith("---"):
        head, sep, _ = content[3:].partition("\n---")
        try:
            loaded = yaml.safe_load(head) if sep else None
        except yaml.YAMLError as err:
            loaded, errors = None, [{"message": f"Invalid YAML in README.md metadata: {err}"}]
        if not sep:
            errors = [{"message": "README.md metadata block is not closed by '---'"}]
        elif not errors and loaded is not None and not isinstance(loaded, dict):
            errors = [{"message": "README.md metadata must be a YAML mapping"}]
    return json_response({"errors": errors, "warnings": []}, 400 if errors else 200)


def _writable(call: Call, repo: HfRepo) -> HfRepo:
    principal = call.req.principal
    if principal is None or not principal.can_write:
        raise HttpError(403, f"User {call.req.user} is not permitted to deploy into '{repo.key}'")
    with call.ctx.db.read() as conn:
        target = deploy_target(conn, repo.key)
    return HfRepo(target.key, repo.kind, repo.org, repo.name)


def preupload(call: Call, repo: HfRepo, revision: str) -> Response:
    _writable(call, repo)
    hf_store.check_revision(revision)
    body = call.req.read_json()
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, list):
        raise HttpError(400, "preupload expects {'files': [{'path', 'sample', 'size'}]}")
    return json_response({"files": [_upload_mode(file) for file in files]})


def _upload_mode(file: Any) -> dict[str, Any]:
    if not isinstance(file, dict) or not isinstance(file.get("path"), str) or not isinstance(file.get("size"), int):
        raise HttpError(400, "preupload: every file needs a 'path' and an integer 'size'")
    sample = _b64(file.get("sample") or "", "sample")
    lfs = file["size"] > LFS_THRESHOLD or b"\x00" in sample
    return {"path": file["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}


def commit(call: Call, repo: HfRepo, revision: str) -> Response:
    target = _writable(call, repo)
    hf_store.check_revision(revision)
    header, operations = _parse_commit(call.req.read_text())
    with call.ctx.db.read() as conn:
        previous = hf_store.find(conn, target, revision)
        files = {e.path: e.digests for e in hf_store.tree(conn, previous)} if previous else {}
    for key, value in operations:
        _apply(call.ctx, files, key, value)
    if not files:
        raise HttpError(400, "A commit must leave at least one file in the revision")
    stamp = items.Stamp(call.req.user, iso_time(call.ctx.now()))
    with call.ctx.db.tx() as conn:
        written = hf_store.write(
            conn, target, revision, files, stamp=stamp, now=call.ctx.now(), summary=str(header.get("summary", ""))
        )
    url = f"{_endpoint(call)}/{'datasets/' if repo.kind == 'datasets' else ''}{repo.repo_id}/commit/{written.sha}"
    return json_response({"success": True, "commitOid": written.sha, "commitUrl": url, "pullRequestUrl": None})


def _endpoint(call: Call) -> str:
    return f"{call.req.base_url}{PREFIX}{call.key}"


def _parse_commit(text: str) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    lines = [json.loads(line) for line in text.splitlines() if line.strip()] if text else []
    if not lines or not isinstance(lines[0], dict) or lines[0].get("key") != "header":
        raise HttpError(400, "A commit starts with a 'header' line (application/x-ndjson)")
    operations = []
    for line in lines[1:]:
        if not isinstance(line, dict) or not isinstance(line.get("value"), dict):
            raise HttpError(400, "Every commit line is {'key': ..., 'value': {...}}")
        operations.append((str(line.get("key")), line["value"]))
    return dict(lines[0].get("value") or {}), operations


def _apply(ctx: Sandbox, files: dict[str, Digests], key: str, value: dict[str, Any]) -> None:
    path = parse_checked(f"x/{value.get('path', '')}").path  # no '..', '.', '\\' or NUL; '//' folded
    if not path:
        raise HttpError(400, f"Commit operation '{key}' has no path")
    if key == "file":
        files[path] = _store_regular(ctx, value)
    elif key == "lfsFile":
        files[path] = hf_lfs.committed_object(ctx, value)
    elif key == "deletedFile":
        if files.pop(path, None) is None:
            raise HttpError(404, f"A file with this name doesn't exist: {path}", {"X-Error-Code": "EntryNotFound"})
    elif key == "deletedFolder":
        for name in [name for name in files if name.startswith(path + "/")]:
            del files[name]
    else:
        raise HttpError(400, f"Unsupported commit operation '{key}'")


def _store_regular(ctx: Sandbox, value: dict[str, Any]) -> Digests:
    if value.get("encoding") != "base64":
        raise HttpError(400, "Regular files in a commit must be base64-encoded")
    data = _b64(value.get("content", ""), "content")
    try:
        digests = ctx.files.ingest(io.BytesIO(data), {})
    except ChecksumMismatch as err:  # pragma: no cover - nothing announced
        raise HttpError(400, str(err)) from err
    with ctx.db.tx() as conn:
        items.record_binary(conn, digests)
    return digests


def _b64(text: Any, field: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError) as err:
        raise HttpError(400, f"'{field}' is not valid base64") from err


HF_ITEM = rf"{PREFIX}(?P<key>[^/]+)/(?P<rest>.+)"
ROUTES = [
    Route("GET", HF_ITEM, handle, auth="read"),
    Route("HEAD", HF_ITEM, handle, auth="read"),
    Route("POST", HF_ITEM, handle, auth="read"),  # writes check the caller themselves
    Route("PUT", HF_ITEM, handle, auth="none"),  # the LFS upload URL is signed instead
]
