"""Build promotion: `POST /artifactory/api/build/promote/{name}/{number}[?project=]`.

Follows Artifactory's BuildPromotionHelper: collect the build's artifacts (and, if asked, its
dependencies) by checksum, optionally only in `sourceRepo`; copy or move them to `targetRepo` at
the same path; tag them with `properties`; append a status to the build unless it is a dry run or
`failFast` met an error. Every step reports into `{"messages":[{"level","message"}]}`; with
`failFast` (the default) any error or warning makes the answer 400.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import build_store, items
from .app import iso_time
from .build_store import BuildRun
from .builds import name_and_number, project_of
from .copymove import transfer
from .http import HttpError, Request, Response, Route, json_response
from .paths import RepoPath
from .promotion_items import Candidate, collect_items, target_accepts

if TYPE_CHECKING:
    from .app import Sandbox

RESULT_TYPE = "application/vnd.org.jfrog.artifactory.build.PromotionResult+json"
STATUS_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f%z"


@dataclass
class Promotion:
    """The request body (field names and defaults as Artifactory's `Promotion`)."""

    status: str | None = None
    comment: str = ""
    ci_user: str | None = None
    timestamp: str | None = None
    dry_run: bool = False
    source_repo: str | None = None
    target_repo: str | None = None
    copy: bool = False
    artifacts: bool = True
    dependencies: bool = False
    scopes: list[str] = field(default_factory=list)
    properties: dict[str, list[str]] = field(default_factory=dict)
    fail_fast: bool = True


@dataclass
class Messages:
    entries: list[dict[str, str]] = field(default_factory=list)

    def add(self, level: str, message: str) -> None:
        self.entries.append({"level": level, "message": message})

    @property
    def failed(self) -> bool:
        return any(entry["level"] in ("ERROR", "WARNING") for entry in self.entries)


def promote(req: Request, ctx: Sandbox) -> Response:
    name, number = name_and_number(req, "/api/build/promote/")
    if number is None:
        raise HttpError(404, "Not Found")
    promotion = parse_promotion(req.read_json())
    project = project_of(req)
    messages = Messages()
    stamp = items.Stamp(req.user, iso_time(ctx.now()))
    with ctx.db.tx() as conn:
        run = build_store.find_run(conn, name, number, project)
        if run is None:
            raise HttpError(404, f"Cannot find builds by the name '{name}' and the number "
                                 f"'{number}' and buildRepo '{build_store.build_info_repo(project)}'.")  # fmt: skip
        _run_promotion(_Job(conn, stamp, run, promotion, messages))
    status = 400 if promotion.fail_fast and messages.failed else 200
    return json_response({"messages": messages.entries}, status, RESULT_TYPE)


def parse_promotion(body: Any) -> Promotion:
    if not isinstance(body, dict):
        raise HttpError(400, "Promotion request must be a JSON object")
    if body.get("mappings") is not None:
        if body.get("sourceRepo") is not None or body.get("targetRepo") is not None:
            raise HttpError(400, "The use of both 'sourceRepo' or 'targetRepo' and 'mappings' fields is forbidden")
        raise HttpError(400, "Promotion 'mappings' are not supported by the sandbox")
    return Promotion(
        status=_text(body, "status"), comment=str(body.get("comment") or ""),
        ci_user=_text(body, "ciUser"), timestamp=_text(body, "timestamp"),
        dry_run=_flag(body, "dryRun", False), source_repo=_text(body, "sourceRepo"),
        target_repo=_text(body, "targetRepo"), copy=_flag(body, "copy", False),
        artifacts=_flag(body, "artifacts", True), dependencies=_flag(body, "dependencies", False),
        scopes=[str(s) for s in body.get("scopes") or []], properties=_properties(body),
        fail_fast=_flag(body, "failFast", True),
    )  # fmt: skip


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    return str(value).strip() or None if value is not None else None


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise HttpError(400, f"Promotion field '{key}' must be true or false")
    return value


def _properties(body: dict[str, Any]) -> dict[str, list[str]]:
    raw = body.get("properties") or {}
    if not isinstance(raw, dict):
        raise HttpError(400, "Promotion 'properties' must map names to lists of values")
    return {str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])] for k, vs in raw.items()}


@dataclass
class _Job:
    """One promotion in progress: where it writes, for whom, and what it has reported."""

    conn: sqlite3.Connection
    stamp: items.Stamp
    run: BuildRun
    promotion: Promotion
    messages: Messages


def _run_promotion(job: _Job) -> None:
    promotion = job.promotion
    target = _target_repo(job.conn, promotion.target_repo)
    promotion.target_repo = target
    if target is None:
        job.messages.add("INFO", "Skipping build item relocation: no target repository selected.")
        sources = collect_items(job.conn, job.run, promotion, job.messages) if promotion.properties else []
        modified = [candidate.where for candidate in sources]
    else:
        candidates = collect_items(job.conn, job.run, promotion, job.messages)
        modified = _relocate(job, candidates, target)
    if promotion.properties and not promotion.dry_run:
        _tag(job, modified)
    _record_status(job)


def _target_repo(conn: sqlite3.Connection, key: str | None) -> str | None:
    if key is None:
        return None
    row = conn.execute("SELECT rclass, config FROM repos WHERE key = ?", (key,)).fetchone()
    if row is not None and row["rclass"] == "virtual":
        default = json.loads(row["config"]).get("defaultDeploymentRepo")
        return _target_repo(conn, str(default)) if default else _missing_target(key)
    if row is None or row["rclass"] != "local":
        _missing_target(key)
    return key


def _missing_target(key: str) -> str:
    raise HttpError(404, f"Cannot find target repository by the key '{key}'.")


def _relocate(job: _Job, candidates: list[Candidate], target: str) -> list[RepoPath]:
    verb = "copy" if job.promotion.copy else "move"
    moved: list[RepoPath] = []
    for candidate in candidates:
        destination = RepoPath(target, candidate.where.path)
        error = _relocation_error(job.conn, candidate.where, destination, verb)
        if error is None:
            error = _transfer(job, candidate.where, destination)
        if error is not None:
            job.messages.add("ERROR", error)
            if job.promotion.fail_fast:
                break
            continue
        moved.append(destination)
    return moved


def _relocation_error(conn: sqlite3.Connection, source: RepoPath, to: RepoPath, verb: str) -> str | None:
    if source == to:
        return f"Skipping {verb} {source.display}: Destination and source are the same"
    if not target_accepts(conn, to):
        return (f"The repository '{to.repo}' rejected the resolution of artifact in path "
                f"'{to.path}' due to a conflict with its include/exclude patterns.")  # fmt: skip
    return None


def _transfer(job: _Job, source: RepoPath, to: RepoPath) -> str | None:
    move = not job.promotion.copy
    try:
        transfer(job.conn, source, to, move=move, stamp=job.stamp, dry=job.promotion.dry_run)
    except HttpError as err:
        return err.message
    return None


def _tag(job: _Job, paths: list[RepoPath]) -> None:
    for where in paths:
        row = items.get(job.conn, where.repo, where.path)
        if row is not None:
            items.set_properties(job.conn, row["id"], job.promotion.properties)
            items.touch(job.conn, row["id"], job.stamp)


def _record_status(job: _Job) -> None:
    promotion, messages = job.promotion, job.messages
    if promotion.fail_fast and messages.failed:
        messages.add("INFO", "Skipping promotion status update: item promotion was completed with errors and warnings.")
        return
    if not promotion.status:
        messages.add("INFO", "Skipping promotion status update: no status received.")
        return
    if promotion.timestamp and not _parses(promotion.timestamp):
        messages.add("ERROR", f"Skipping promotion status update: invalid\\unparsable timestamp {promotion.timestamp}.")
        return
    if promotion.dry_run:
        return
    entry = {"status": promotion.status, "comment": promotion.comment,
             "repository": promotion.target_repo, "user": job.stamp.user, "ciUser": promotion.ci_user,
             "timestamp": promotion.timestamp or _status_time(datetime.fromisoformat(job.stamp.time))}  # fmt: skip
    build_store.add_status(job.conn, job.run.id, entry)


def _status_time(moment: datetime) -> str:
    """Java's `yyyy-MM-dd'T'HH:mm:ss.SSSZ`: milliseconds and a `+0000` offset."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}" + moment.strftime("%z")


def _parses(timestamp: str) -> bool:
    try:
        datetime.fromisoformat(timestamp)
    except ValueError:
        try:
            datetime.strptime(timestamp, STATUS_TIME_FORMAT)
        except ValueError:
            return False
    return True


ROUTES = [Route("POST", r"/artifactory/api/build/promote/.+", promote, auth="write")]
