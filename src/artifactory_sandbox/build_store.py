"""Build runs in the metadata store: save a published build-info, look runs up, delete them.

One run per (project, name, number): publishing the same name and number again replaces the run
(Artifactory keeps both runs and answers with the latest, which is what readers see here too).
The JSON is also stored as an item of the build-info repository (`artifactory-build-info`, or
`<project>-build-info`) at `<encoded name>/<encoded number>-<started epoch ms>.json`, as the
JFrog CLI expects when it resolves `LATEST` through AQL.
"""

from __future__ import annotations

import io
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import items
from .app import iso_time
from .http import HttpError
from .paths import RepoPath

if TYPE_CHECKING:
    from .app import Sandbox

DEFAULT_BUILD_REPO = "artifactory-build-info"
# The JFrog CLI's encoding of build names in build-info repository paths (aqlquerybuilder.go).
SPECIAL_PATH_CHARS = {"/": "%2F", "\\": "%5C", "|": "%7C", "*": "%2A", "?": "%3F", "'": "%22",
                      ":": "%3A", ";": "%3B", "%": "%25"}  # fmt: skip
STARTED_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"


@dataclass(frozen=True)
class BuildRun:
    id: int
    name: str
    number: str
    started: str
    project: str
    info: dict[str, Any]
    created: str

    @property
    def build_repo(self) -> str:
        return build_info_repo(self.project)


def build_info_repo(project: str) -> str:
    return f"{project}-build-info" if project else DEFAULT_BUILD_REPO


def encode_segment(value: str) -> str:
    """A build name or number as it appears in the build-info repository path."""
    text = "".join(SPECIAL_PATH_CHARS.get(" " if c.isspace() else c, " " if c.isspace() else c)
                   for c in value)  # fmt: skip
    return text.replace("%2F ", "%2F%20").replace(" %2F", "%20%2F")


def started_millis(started: str) -> int:
    """Epoch milliseconds of a build's `started` (`2024-05-01T12:00:19.893+0300`, or `Z`)."""
    try:
        moment = datetime.strptime(started, STARTED_FORMAT)
    except ValueError:
        raise HttpError(400, f'Unparseable date: "{started}"') from None
    return int(moment.timestamp() * 1000)


def _run(row: sqlite3.Row) -> BuildRun:
    return BuildRun(row["id"], row["name"], row["number"], row["started"], row["project"] or "",
                    json.loads(row["info"]), row["created"])  # fmt: skip


def find_run(conn: sqlite3.Connection, name: str, number: str, project: str = "") -> BuildRun | None:
    row = conn.execute(
        "SELECT * FROM builds WHERE name = ? AND number = ? AND project = ? ORDER BY id DESC",
        (name, number, project),
    ).fetchone()
    return _run(row) if row else None


def runs_of(conn: sqlite3.Connection, name: str, project: str = "") -> list[BuildRun]:
    rows = conn.execute(
        "SELECT * FROM builds WHERE name = ? AND project = ? ORDER BY id DESC", (name, project)
    ).fetchall()
    return [_run(row) for row in rows]


def latest_runs(conn: sqlite3.Connection, project: str = "") -> list[BuildRun]:
    rows = conn.execute(
        "SELECT * FROM builds WHERE project = ? AND id IN (SELECT max(id) FROM builds"
        " WHERE project = ? GROUP BY name) ORDER BY name",
        (project, project),
    ).fetchall()
    return [_run(row) for row in rows]


def save_run(ctx: Sandbox, info: dict[str, Any], project: str, user: str) -> None:
    """Store `info` (already validated) as the run of its name and number."""
    name, number, started = info["name"], info["number"], info["started"]
    data = json.dumps(info, ensure_ascii=False, indent=2).encode("utf-8")
    digests = ctx.files.ingest(io.BytesIO(data), {})
    stamp = items.Stamp(user, iso_time(ctx.now()))
    where = RepoPath(build_info_repo(project), _json_path(name, number, started))
    with ctx.db.tx() as conn:
        existing = find_run(conn, name, number, project)
        if existing is not None and existing.started == started and existing.info != info:
            raise HttpError(409, f"Build {name}:{number}-{started} already exists.")
        if existing is not None:
            conn.execute("DELETE FROM builds WHERE id = ?", (existing.id,))
        _insert(conn, info, project, stamp.time)
        _ensure_build_repo(conn, where.repo, stamp.time)
        items.put_file(conn, where, digests, {}, stamp)


def _json_path(name: str, number: str, started: str) -> str:
    return f"{encode_segment(name)}/{encode_segment(number)}-{started_millis(started)}.json"


def _insert(conn: sqlite3.Connection, info: dict[str, Any], project: str, created: str) -> None:
    cursor = conn.execute(
        "INSERT INTO builds(name, number, started, project, info, created) VALUES (?,?,?,?,?,?)",
        (info["name"], info["number"], info["started"], project, json.dumps(info), created),
    )
    build_id = cursor.lastrowid
    for module in info.get("modules") or []:
        module_id = str(module.get("id", ""))
        conn.executemany(
            "INSERT INTO build_artifacts(build_id, module, name, type, sha1, sha256, md5, path)"
            " VALUES (?,?,?,?,?,?,?,?)",
            [(build_id, module_id, a.get("name"), a.get("type"), _lower(a.get("sha1")),
              _lower(a.get("sha256")), _lower(a.get("md5")), a.get("path"))
             for a in module.get("artifacts") or []],
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO build_dependencies(build_id, module, id_, type, sha1, sha256, md5)"
            " VALUES (?,?,?,?,?,?,?)",
            [(build_id, module_id, d.get("id"), d.get("type"), _lower(d.get("sha1")),
              _lower(d.get("sha256")), _lower(d.get("md5")))
             for d in module.get("dependencies") or []],
        )  # fmt: skip


def _lower(value: Any) -> str | None:
    return str(value).lower() if value else None


def _ensure_build_repo(conn: sqlite3.Connection, key: str, created: str) -> None:
    config = {"key": key, "rclass": "local", "packageType": "buildinfo", "description": "",
              "includesPattern": "**/*", "excludesPattern": "", "repoLayoutRef": "simple-default"}  # fmt: skip
    conn.execute(
        "INSERT OR IGNORE INTO repos(key, rclass, package_type, config, created)"
        " VALUES (?, 'local', 'buildinfo', ?, ?)",
        (key, json.dumps(config), created),
    )


def delete_run(conn: sqlite3.Connection, run: BuildRun) -> None:
    """Remove the run and its JSON items from the build-info repository."""
    conn.execute("DELETE FROM builds WHERE id = ?", (run.id,))
    folder = encode_segment(run.name)
    prefix = f"{encode_segment(run.number)}-"
    for row in items.children(conn, run.build_repo, folder):
        if row["name"].startswith(prefix) and row["name"][len(prefix) : -5].isdigit():
            conn.execute("DELETE FROM items WHERE id = ?", (row["id"],))


def statuses(conn: sqlite3.Connection, build_id: int) -> list[dict[str, str]]:
    rows = conn.execute("SELECT * FROM build_statuses WHERE build_id = ? ORDER BY rowid", (build_id,)).fetchall()
    return [_status(row) for row in rows]


def _status(row: sqlite3.Row) -> dict[str, str]:
    fields = {"status": row["status"], "comment": row["comment"], "repository": row["repository"],
              "timestamp": row["timestamp"], "user": row["user"], "ciUser": row["ci_user"]}  # fmt: skip
    return {key: value for key, value in fields.items() if value is not None}


def add_status(conn: sqlite3.Connection, build_id: int, entry: dict[str, str | None]) -> None:
    conn.execute(
        "INSERT INTO build_statuses(build_id, status, comment, repository, timestamp, user,"
        " ci_user) VALUES (?,?,?,?,?,?,?)",
        (build_id, entry.get("status"), entry.get("comment"), entry.get("repository"),
         entry.get("timestamp"), entry.get("user"), entry.get("ciUser")),
    )  # fmt: skip
