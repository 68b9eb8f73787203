"""The storage API: `/artifactory/api/storage/{repo}/{path}` info, `?list`, `?properties`,
`?stats`, and `PATCH /artifactory/api/metadata/{repo}/{path}` (jfrog-api.md sections 5 and 6).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import download, items
from .app import iso_time
from .http import HttpError, Request, Response, Route, json_response
from .paths import RepoPath, repo_path
from .props import Properties, check_key, parse_keys, parse_properties
from .repos import Repo, get_repo, read_order

if TYPE_CHECKING:
    from .app import Sandbox

PREFIX = "/artifactory/api/storage/"
METADATA_PREFIX = "/artifactory/api/metadata/"
NO_PROPERTIES = "No properties could be found."
UNLIMITED = 1 << 30
FILE_INFO = "application/vnd.org.jfrog.artifactory.storage.FileInfo+json"
FOLDER_INFO = "application/vnd.org.jfrog.artifactory.storage.FolderInfo+json"
FILE_LIST = "application/vnd.org.jfrog.artifactory.storage.FileList+json"
ITEM_PROPERTIES = "application/vnd.org.jfrog.artifactory.storage.ItemProperties+json"


def storage_uri(req: Request, where: RepoPath) -> str:
    return f"{req.base_url}/artifactory/api/storage/{where.url_path()}"


def _locate(conn: sqlite3.Connection, where: RepoPath) -> tuple[Repo, sqlite3.Row | None]:
    """(repository, item) for the storage API; item None for the repository root."""
    repo = get_repo(conn, where.repo)
    missing = "Not Found" if repo is not None and repo.rclass == "virtual" else "Unable to find item"
    if repo is None:
        raise HttpError(404, missing)
    if not where.path:
        return repo, None
    for key in read_order(conn, where.repo):
        row = items.get(conn, key, where.path)
        if row is not None:
            return get_repo(conn, key) or repo, row
    raise HttpError(404, missing)


def get_storage(req: Request, ctx: Sandbox, **_: str) -> Response:
    where = repo_path(req, PREFIX)
    with ctx.db.read() as conn:
        repo, row = _locate(conn, where)
        if "properties" in req.query:
            return _get_properties(req, conn, where, row)
        if "stats" in req.query:
            return _stats(req, conn, where, row)
        if "list" in req.query:
            return _list(req, conn, where, repo, row)
        if row is not None and row["type"] == "file":
            return json_response(file_info(req, where, row), content_type=FILE_INFO)
        return json_response(_folder_info(req, conn, where, repo, row), content_type=FOLDER_INFO)


def file_info(req: Request, where: RepoPath, row: sqlite3.Row) -> dict[str, Any]:
    originals = {kind: row[f"original_{kind}"] for kind in ("sha1", "md5", "sha256") if row[f"original_{kind}"]}
    return {
        "repo": where.repo,
        "path": f"/{where.path}",
        "created": row["created"],
        "createdBy": row["created_by"],
        "lastModified": row["modified"],
        "modifiedBy": row["modified_by"],
        "lastUpdated": row["updated"],
        "downloadUri": f"{req.base_url}/artifactory/{where.url_path()}",
        "mimeType": download.mime_type(row["name"]),
        "size": str(row["size"]),
        "checksums": {"sha1": row["sha1"], "md5": row["md5"], "sha256": row["sha256"]},
        "originalChecksums": originals,
        "uri": storage_uri(req, where),
    }


def _folder_info(
    req: Request, conn: sqlite3.Connection, where: RepoPath, repo: Repo, row: sqlite3.Row | None
) -> dict[str, Any]:
    created = row["created"] if row is not None else _repo_created(conn, repo.key)
    children = [
        {"uri": f"/{child['name']}", "folder": child["type"] == "folder"}
        for child in items.children(conn, repo.key, where.path)
    ]
    return {
        "repo": where.repo,
        "path": f"/{where.path}",
        "created": created,
        "createdBy": row["created_by"] if row is not None else "system",
        "lastModified": row["modified"] if row is not None else created,
        "modifiedBy": row["modified_by"] if row is not None else "system",
        "lastUpdated": row["updated"] if row is not None else created,
        "children": children,
        "uri": storage_uri(req, where),
    }


def _repo_created(conn: sqlite3.Connection, key: str) -> str:
    row = conn.execute("SELECT created FROM repos WHERE key = ?", (key,)).fetchone()
    return str(row["created"]) if row else ""


def _list(req: Request, conn: sqlite3.Connection, where: RepoPath, repo: Repo, row: sqlite3.Row | None) -> Response:
    if row is not None and row["type"] == "file":
        raise HttpError(400, f"Expected a folder but found a file: {where.display}")
    deep, folders = req.flag("deep"), req.flag("listFolders")
    max_level = (_int_arg(req, "depth", 0) or UNLIMITED) if deep else 1
    base = where.path
    rows = items.descendants(conn, repo.key, base) if deep else items.children(conn, repo.key, base)
    files = [
        _list_entry(req, conn, child, base)
        for child in rows
        if (folders or child["type"] == "file") and _level(child, base) <= max_level
    ]
    if req.flag("includeRootPath"):
        files.insert(0, _root_entry(conn, repo, row))
    created = row["created"] if row is not None else _repo_created(conn, repo.key)
    body = {"uri": storage_uri(req, where), "created": created, "files": files}
    return json_response(body, content_type=FILE_LIST)


def _level(row: sqlite3.Row, base: str) -> int:
    relative = items.full_path(row)[len(base) + 1 if base else 0 :]
    return relative.count("/") + 1


def _list_entry(req: Request, conn: sqlite3.Connection, row: sqlite3.Row, base: str) -> dict[str, Any]:
    folder = row["type"] == "folder"
    entry: dict[str, Any] = {
        "uri": "/" + items.full_path(row)[len(base) + 1 if base else 0 :],
        "size": -1 if folder else row["size"],
        "lastModified": row["modified"],
        "folder": folder,
    }
    if not folder:
        entry |= {"sha1": row["sha1"], "sha2": row["sha256"]}
    if req.flag("mdTimestamps") and items.properties(conn, row["id"]):
        entry["mdTimestamps"] = {"properties": row["updated"]}
    return entry


def _root_entry(conn: sqlite3.Connection, repo: Repo, row: sqlite3.Row | None) -> dict[str, Any]:
    modified = row["modified"] if row is not None else _repo_created(conn, repo.key)
    return {"uri": "/", "size": -1, "lastModified": modified, "folder": True}


def _int_arg(req: Request, name: str, default: int) -> int:
    value = req.arg(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as err:
        raise HttpError(400, f"Parameter '{name}' must be a number") from err


def _get_properties(req: Request, conn: sqlite3.Connection, where: RepoPath, row: sqlite3.Row | None) -> Response:
    props = items.properties(conn, row["id"]) if row is not None else {}
    wanted = parse_keys(req.arg("properties") or "")
    if wanted:
        props = {key: values for key, values in props.items() if key in wanted}
    if not props:
        raise HttpError(404, NO_PROPERTIES)
    body = {"properties": props, "uri": storage_uri(req, where)}
    return json_response(body, content_type=ITEM_PROPERTIES)


def _stats(req: Request, conn: sqlite3.Connection, where: RepoPath, row: sqlite3.Row | None) -> Response:
    if row is None or row["type"] != "file":
        raise HttpError(400, f"Statistics are kept for files only: {where.display}")
    stats = conn.execute("SELECT * FROM downloads WHERE item_id = ?", (row["id"],)).fetchone()
    last = _epoch_ms(stats["last_downloaded"]) if stats else 0
    return json_response(
        {
            "uri": storage_uri(req, where),
            "downloadCount": stats["count"] if stats else 0,
            "lastDownloaded": last,
            "lastDownloadedBy": stats["last_downloaded_by"] if stats else None,
            "remoteDownloadCount": 0,
            "remoteLastDownloaded": 0,
        }
    )


def _epoch_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def put_properties(req: Request, ctx: Sandbox, **_: str) -> Response:
    where = repo_path(req, PREFIX)
    text = req.arg("properties")
    if text is None:
        raise HttpError(400, "The 'properties' parameter is required")
    props = parse_properties(text)
    if not props:
        raise HttpError(400, "No valid properties were given")
    _apply(req, ctx, where, lambda conn, item_id: items.set_properties(conn, item_id, props))
    return Response(204)


def delete_properties(req: Request, ctx: Sandbox, **_: str) -> Response:
    where = repo_path(req, PREFIX)
    keys = parse_keys(req.arg("properties") or "")
    if not keys:
        raise HttpError(400, "The 'properties' parameter is required")
    _apply(req, ctx, where, lambda conn, item_id: items.delete_properties(conn, item_id, keys))
    return Response(204)


def patch_metadata(req: Request, ctx: Sandbox, **_: str) -> Response:
    where = repo_path(req, METADATA_PREFIX)
    to_set, to_delete = _metadata_body(req.read_json())

    def change(conn: sqlite3.Connection, item_id: int) -> None:
        items.set_properties(conn, item_id, to_set)
        items.delete_properties(conn, item_id, to_delete)

    _apply(req, ctx, where, change, recursive_param="recursiveProperties")
    return Response(204)


def _metadata_body(body: Any) -> tuple[Properties, list[str]]:
    props = body.get("props") if isinstance(body, dict) else None
    if not isinstance(props, dict):
        raise HttpError(400, 'Expected a JSON body like {"props":{"key":"value"}}')
    to_set: Properties = {}
    to_delete: list[str] = []
    for key, value in props.items():
        check_key(key)
        if value is None:
            to_delete.append(key)
        elif isinstance(value, list):
            to_set[key] = [str(v) for v in value]
        else:
            to_set[key] = [str(value)]
    return to_set, to_delete


Change = Callable[[sqlite3.Connection, int], None]


def _apply(req: Request, ctx: Sandbox, where: RepoPath, change: Change, recursive_param: str = "recursive") -> None:
    """Run `change(conn, item_id)` on the item, and on everything below it when recursive."""
    stamp = items.Stamp(req.user, iso_time(ctx.now()))
    with ctx.db.tx() as conn:
        repo, row = _locate(conn, where)
        if repo.rclass != "local":
            raise HttpError(400, f"Properties can be set on local repositories only: {where.repo}")
        targets = [] if row is None else [row]
        if req.flag(recursive_param, default=True) and (row is None or row["type"] == "folder"):
            targets += items.descendants(conn, repo.key, where.path)
        if not targets:
            raise HttpError(400, f"Cannot set properties on the root of repository {where.repo}")
        for target in targets:
            change(conn, target["id"])
            items.touch(conn, target["id"], stamp)


ROUTES = [
    Route("GET", r"/artifactory/api/storage/.+", get_storage),
    Route("PUT", r"/artifactory/api/storage/.+", put_properties, auth="write"),
    Route("DELETE", r"/artifactory/api/storage/.+", delete_properties, auth="write"),
    Route("PATCH", r"/artifactory/api/metadata/.+", patch_metadata, auth="write"),
]
