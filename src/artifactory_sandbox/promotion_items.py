"""Which stored items a promotion acts on, and whether a target repository accepts a path.

A build's artifacts and dependencies are found by checksum (sha1, else sha256), limited to
`sourceRepo` when given; among several copies, the one carrying this build's `build.name` and
`build.number` properties wins, then the one at the artifact's recorded path.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from . import items
from .build_store import BuildRun
from .paths import RepoPath


class _Messages(Protocol):
    def add(self, level: str, message: str) -> None: ...


class _Selection(Protocol):
    """What a promotion request selects (`promotion.Promotion` has these fields; named here so this
    module does not import `promotion`, which imports it)."""

    @property
    def artifacts(self) -> bool: ...

    @property
    def dependencies(self) -> bool: ...

    @property
    def source_repo(self) -> str | None: ...

    @property
    def fail_fast(self) -> bool: ...

    @property
    def scopes(self) -> list[str]: ...


@dataclass(frozen=True)
class Candidate:
    where: RepoPath
    item_id: int


def collect_items(
    conn: sqlite3.Connection, run: BuildRun, promotion: _Selection, messages: _Messages
) -> list[Candidate]:
    """The build's items to promote; missing artifacts are errors (fail-fast aborts with 400)."""
    from .http import HttpError  # noqa: PLC0415  keeps this module free of HTTP at import

    found: dict[int, Candidate] = {}
    if promotion.artifacts:
        missing = _collect(conn, run, _artifacts(run), promotion.source_repo, found)
        for name in missing:
            messages.add("ERROR", f"Unable to find artifact '{name}' of build '{run.name}' #{run.number}")
        if missing and promotion.fail_fast:
            raise HttpError(400, f"Unable to find artifacts of build '{run.name}' #{run.number} "
                                 f"from {run.build_repo} repo: aborting promotion.")  # fmt: skip
    if promotion.dependencies:
        wanted = [d for d in _dependencies(run) if _in_scopes(d, promotion.scopes)]
        for name in _collect(conn, run, wanted, promotion.source_repo, found):
            messages.add("ERROR", f"Unable to find dependency '{name}' of build '{run.name}' #{run.number}")
    return list(found.values())


def _artifacts(run: BuildRun) -> list[dict[str, Any]]:
    return [a for m in run.info.get("modules") or [] for a in m.get("artifacts") or []]


def _dependencies(run: BuildRun) -> list[dict[str, Any]]:
    return [d for m in run.info.get("modules") or [] for d in m.get("dependencies") or []]


def _in_scopes(dependency: dict[str, Any], scopes: list[str]) -> bool:
    return not scopes or bool(set(dependency.get("scopes") or []) & set(scopes))


def _collect(
    conn: sqlite3.Connection, run: BuildRun, entries: list[dict[str, Any]],
    source_repo: str | None, found: dict[int, Candidate],
) -> list[str]:  # fmt: skip
    """Add each entry's best item to `found`; return the names of entries with none."""
    missing: list[str] = []
    for entry in entries:
        row = _best_item(conn, run, entry, source_repo)
        if row is None:
            missing.append(str(entry.get("name") or entry.get("id") or entry.get("path")))
        else:
            found.setdefault(row["id"], Candidate(RepoPath(row["repo"], items.full_path(row)), row["id"]))
    return missing


def _best_item(
    conn: sqlite3.Connection, run: BuildRun, entry: dict[str, Any], source_repo: str | None
) -> sqlite3.Row | None:
    column, value = ("sha1", entry.get("sha1")) if entry.get("sha1") else ("sha256", entry.get("sha256"))
    if not value:
        return None
    sql = f"SELECT * FROM items WHERE type = 'file' AND {column} = ?"  # noqa: S608  column is sha1 or sha256
    params: list[Any] = [str(value).lower()]
    if source_repo:
        sql += " AND repo = ?"
        params.append(source_repo)
    rows = conn.execute(sql + " ORDER BY id", params).fetchall()
    if not rows:
        return None
    best: sqlite3.Row = max(rows, key=lambda row: _rank(conn, run, entry, row))
    return best


def _rank(conn: sqlite3.Connection, run: BuildRun, entry: dict[str, Any], row: sqlite3.Row) -> tuple[bool, bool, bool]:
    props = items.properties(conn, row["id"])
    same_build = run.name in props.get("build.name", []) and run.number in props.get("build.number", [])
    same_name = run.name in props.get("build.name", [])
    return same_build, same_name, entry.get("path") == items.full_path(row)


def target_accepts(conn: sqlite3.Connection, where: RepoPath) -> bool:
    """The repository's includesPattern/excludesPattern (Ant style) allow `where.path`."""
    row = conn.execute("SELECT config FROM repos WHERE key = ?", (where.repo,)).fetchone()
    config = json.loads(row["config"]) if row else {}
    includes = _patterns(config.get("includesPattern") or "**/*")
    excludes = _patterns(config.get("excludesPattern") or "")
    return any(p.fullmatch(where.path) for p in includes) and not any(p.fullmatch(where.path) for p in excludes)


def _patterns(text: str) -> list[re.Pattern[str]]:
    return [_ant_regex(part.strip()) for part in text.split(",") if part.strip()]


@lru_cache(maxsize=256)
def _ant_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        else:
            out += {"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i]))
            i += 1
    return re.compile(out, re.DOTALL)
