"""Copy and move: `POST /artifactory/api/copy|move/{repo}/{path}?to=/{repo}/{path}[&dry=1]`.

Filesystem semantics: when the target is an existing folder (or ends with `/`) the source goes
inside it. Properties travel with the items. `transfer()` is the reusable core (build promotion
calls it inside its own transaction).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import items
from .app import iso_time
from .digests import Digests
from .http import HttpError, Request, Response, Route, json_response
from .paths import RepoPath, parse_checked, repo_path
from .repos import deploy_target, get_repo

if TYPE_CHECKING:
    from .app import Sandbox

RESULT_TYPE = "application/vnd.org.jfrog.artifactory.storage.CopyOrMoveResult+json"


@dataclass
class Counts:
    files: int = 0
    folders: int = 0


class TransferError(HttpError):
    """A copy/move refused; answered as `{"messages":[{"level":"ERROR",...}]}`."""


def transfer(
    conn: sqlite3.Connection,
    source: RepoPath,
    target: RepoPath,
    *,
    move: bool,
    stamp: items.Stamp,
    dry: bool = False,
) -> Counts:
    """Copy (or move) the item at `source`, and everything below it, to `target`."""
    root = items.get(conn, source.repo, source.path)
    if root is None:
        raise TransferError(404, f"Could not find item '{source.display}'")
    destination = _destination(conn, source, target)
    if destination.repo == source.repo and _inside(destination.path, source.path):
        raise TransferError(400, f"Cannot {_verb(move)} '{source.display}' into itself")
    rows = [root, *items.descendants(conn, source.repo, source.path)]
    counts = Counts()
    for row in rows:
        relative = items.full_path(row)[len(source.path) :].lstrip("/")
        to = RepoPath(destination.repo, "/".join(p for p in (destination.path, relative) if p))
        _copy_one(conn, row, to, stamp, counts=counts, dry=dry)
    if move and not dry:
        items.delete_tree(conn, source.repo, source.path)
    return counts


def _destination(conn: sqlite3.Connection, source: RepoPath, target: RepoPath) -> RepoPath:
    repo = deploy_target(conn, target.repo) if get_repo(conn, target.repo) else None
    if repo is None:
        raise TransferError(404, f"Target repository {target.repo} does not exist")
    existing = items.get(conn, repo.key, target.path)
    into_folder = target.is_folder_request or not target.path or (existing is not None and existing["type"] == "folder")
    return RepoPath(repo.key, target.path).child(source.name) if into_folder else RepoPath(repo.key, target.path)


def _inside(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith(ancestor + "/") or not ancestor


def _copy_one(
    conn: sqlite3.Connection,
    row: sqlite3.Row,
    to: RepoPath,
    stamp: items.Stamp,
    *,
    counts: Counts,
    dry: bool,
) -> None:
    existing = items.get(conn, to.repo, to.path)
    folder = row["type"] == "folder"
    if existing is not None and (existing["type"] == "folder") != folder:
        raise TransferError(409, f"Cannot overwrite '{to.display}': it is a {existing['type']}")
    if folder:
        counts.folders += 1
        if not dry:
            items.ensure_folder(conn, to.repo, to.path, stamp)
            _copy_properties(conn, row["id"], items.get(conn, to.repo, to.path))
        return
    counts.files += 1
    if not dry:
        digests = Digests(sha1=row["sha1"], md5=row["md5"], sha256=row["sha256"], size=row["size"])
        originals = {k: row[f"original_{k}"] for k in ("sha1", "md5", "sha256") if row[f"original_{k}"]}
        new_id = items.put_file(conn, to, digests, originals, stamp)
        items.set_properties(conn, new_id, items.properties(conn, row["id"]))


def _copy_properties(conn: sqlite3.Connection, source_id: int, target: sqlite3.Row | None) -> None:
    if target is not None:
        items.set_properties(conn, target["id"], items.properties(conn, source_id))


def _verb(move: bool) -> str:
    return "move" if move else "copy"


def _messages(level: str, text: str) -> dict[str, Any]:
    return {"messages": [{"level": level, "message": text}]}


def _handle(req: Request, ctx: Sandbox, move: bool) -> Response:
    source = repo_path(req, "/artifactory/api/move/" if move else "/artifactory/api/copy/")
    to = req.arg("to")
    if not to:
        return json_response(_messages("ERROR", "Target path (to=) is required"), 400, RESULT_TYPE)
    dry = req.flag("dry")
    try:
        target = parse_checked(to)
        with ctx.db.tx() as conn:
            counts = transfer(
                conn, source, target, move=move, dry=dry, stamp=items.Stamp(req.user, iso_time(ctx.now()))
            )
    except HttpError as err:
        return json_response(_messages("ERROR", err.message), err.status, RESULT_TYPE)
    return json_response(_messages("INFO", _summary(source, target, counts, move, dry)), content_type=RESULT_TYPE)


def _summary(source: RepoPath, target: RepoPath, counts: Counts, move: bool, dry: bool) -> str:
    verb = "moving" if move else "copying"
    done = "moved" if move else "copied"
    prefix = "Dry run for " if dry else ""
    return (
        f"{prefix}{verb} {source.display} to {target.display} completed successfully, "
        f"{counts.files} artifacts and {counts.folders} folders were {done}"
    )


def copy(req: Request, ctx: Sandbox, **_: str) -> Response:
    return _handle(req, ctx, move=False)


def move(req: Request, ctx: Sandbox, **_: str) -> Response:
    return _handle(req, ctx, move=True)


ROUTES = [
    Route("POST", r"/artifactory/api/copy/.+", copy, auth="write"),
    Route("POST", r"/artifactory/api/move/.+", move, auth="write"),
]
