"""Files and folders of the `items` table, their properties, and their download counters.

All functions take an open connection (inside `Database.tx()`/`read()`) and repository-relative
paths (`a/b/c.bin`, `""` for the root). Folders are real rows; every ancestor of a file exists.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .digests import Digests
from .http import HttpError
from .paths import RepoPath
from .props import Properties


@dataclass(frozen=True)
class Stamp:
    """Who did something, and when (an ISO timestamp)."""

    user: str
    time: str


def split(path: str) -> tuple[str, str]:
    """`a/b/c` -> (`a/b`, `c`); `c` -> (`.`, `c`)."""
    parent, _, name = path.rpartition("/")
    return parent or ".", name


def full_path(row: sqlite3.Row) -> str:
    """The item's path relative to its repository root."""
    return row["name"] if row["path"] == "." else f"{row['path']}/{row['name']}"


def get(conn: sqlite3.Connection, repo: str, path: str) -> sqlite3.Row | None:
    if not path:
        return None
    parent, name = split(path)
    return conn.execute(  # type: ignore[no-any-return]
        "SELECT * FROM items WHERE repo = ? AND path = ? AND name = ?", (repo, parent, name)
    ).fetchone()


def require(conn: sqlite3.Connection, where: RepoPath) -> sqlite3.Row:
    row = get(conn, where.repo, where.path)
    if row is None:
        raise HttpError(404, "Unable to find item")
    return row


def children(conn: sqlite3.Connection, repo: str, path: str) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM items WHERE repo = ? AND path = ? ORDER BY name", (repo, path or ".")).fetchall()


def descendants(conn: sqlite3.Connection, repo: str, path: str) -> list[sqlite3.Row]:
    """Everything below `path` (the whole repository for `""`), parents before children."""
    if not path:
        sql, args = "SELECT * FROM items WHERE repo = ?", (repo,)
    else:
        sql = "SELECT * FROM items WHERE repo = ? AND (path = ? OR substr(path, 1, ?) = ?)"
        args = (repo, path, len(path) + 1, path + "/")  # type: ignore[assignment]
    rows = conn.execute(sql + " ORDER BY path, name", args).fetchall()
    return sorted(rows, key=lambda row: full_path(row).count("/"))


def ensure_folder(conn: sqlite3.Connection, repo: str, path: str, stamp: Stamp) -> None:
    """Create folder `path` and its ancestors; 409 if a file is in the way."""
    if not path:
        return
    parent, name = split(path)
    ensure_folder(conn, repo, "" if parent == "." else parent, stamp)
    row = get(conn, repo, path)
    if row is not None and row["type"] != "folder":
        raise HttpError(409, f"Cannot create folder '{repo}:{path}': a file with that path exists")
    if row is None:
        conn.execute(
            "INSERT INTO items(repo, path, name, type, size, created, created_by, modified,"
            " modified_by, updated) VALUES (?, ?, ?, 'folder', 0, ?, ?, ?, ?, ?)",
            (repo, parent, name, stamp.time, stamp.user, stamp.time, stamp.user, stamp.time),
        )


def record_binary(conn: sqlite3.Connection, digests: Digests) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO binaries(sha256, sha1, md5, size) VALUES (?, ?, ?, ?)",
        (digests.sha256, digests.sha1, digests.md5, digests.size),
    )


def find_binary(conn: sqlite3.Connection, kind: str, value: str) -> Digests | None:
    """A stored binary by sha1, md5 or sha256 (`kind`)."""
    column = {"sha1": "sha1", "md5": "md5", "sha256": "sha256"}[kind]
    row = conn.execute(
        f"SELECT * FROM binaries WHERE {column} = ? LIMIT 1",  # noqa: S608  column from a fixed map
        (value.lower(),),
    ).fetchone()
    if row is None:
        return None
    return Digests(sha1=row["sha1"], md5=row["md5"], sha256=row["sha256"], size=row["size"])


def put_file(
    conn: sqlite3.Connection,
    where: RepoPath,
    digests: Digests,
    originals: Mapping[str, str],
    stamp: Stamp,
) -> int:
    """Create or replace the file at `where` (its old properties go with it); returns its id."""
    record_binary(conn, digests)
    ensure_folder(conn, where.repo, "" if where.parent == "." else where.parent, stamp)
    existing = get(conn, where.repo, where.path)
    if existing is not None and existing["type"] == "folder":
        raise HttpError(409, f"Cannot deploy file '{where.display}': a folder with that path exists")
    created = (existing["created"], existing["created_by"]) if existing else (stamp.time, stamp.user)
    if existing is not None:
        conn.execute("DELETE FROM items WHERE id = ?", (existing["id"],))
    cursor = conn.execute(
        "INSERT INTO items(repo, path, name, type, size, sha256, sha1, md5, created, created_by,"
        " modified, modified_by, updated, original_sha1, original_md5, original_sha256)"
        " VALUES (?, ?, ?, 'file', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            where.repo,
            where.parent,
            where.name,
            digests.size,
            digests.sha256,
            digests.sha1,
            digests.md5,
            *created,
            stamp.time,
            stamp.user,
            stamp.time,
            originals.get("sha1"),
            originals.get("md5"),
            originals.get("sha256"),
        ),
    )
    return int(cursor.lastrowid or 0)


def delete_tree(conn: sqlite3.Connection, repo: str, path: str) -> int:
    """Delete the item at `path` and everything below it; returns how many rows went."""
    ids = [row["id"] for row in descendants(conn, repo, path)]
    item = get(conn, repo, path)
    if item is not None:
        ids.append(item["id"])
    conn.executemany("DELETE FROM items WHERE id = ?", [(item_id,) for item_id in ids])
    return len(ids)


def properties(conn: sqlite3.Connection, item_id: int) -> Properties:
    props: Properties = {}
    rows = conn.execute("SELECT key, value FROM properties WHERE item_id = ? ORDER BY rowid", (item_id,))
    for row in rows:
        props.setdefault(row["key"], []).append(row["value"])
    return props


def set_properties(conn: sqlite3.Connection, item_id: int, props: Properties) -> None:
    """Replace the values of each key in `props`; other keys stay."""
    for key, values in props.items():
        conn.execute("DELETE FROM properties WHERE item_id = ? AND key = ?", (item_id, key))
        conn.executemany(
            "INSERT OR IGNORE INTO properties(item_id, key, value) VALUES (?, ?, ?)",
            [(item_id, key, value) for value in values],
        )


def delete_properties(conn: sqlite3.Connection, item_id: int, keys: Iterable[str]) -> None:
    conn.executemany("DELETE FROM properties WHERE item_id = ? AND key = ?", [(item_id, key) for key in keys])


def touch(conn: sqlite3.Connection, item_id: int, stamp: Stamp) -> None:
    """Mark metadata as changed (`lastUpdated`)."""
    conn.execute("UPDATE items SET updated = ? WHERE id = ?", (stamp.time, item_id))


def count_download(conn: sqlite3.Connection, item_id: int, stamp: Stamp) -> None:
    conn.execute(
        "INSERT INTO downloads(item_id, count, last_downloaded, last_downloaded_by)"
        " VALUES (?, 1, ?, ?) ON CONFLICT(item_id) DO UPDATE SET count = count + 1,"
        " last_downloaded = excluded.last_downloaded,"
        " last_downloaded_by = excluded.last_downloaded_by",
        (item_id, stamp.time, stamp.user),
    )
