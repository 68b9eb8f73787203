"""Xray's artifact-level API: scan an artifact, its scan status, its summary, and the violations list.

As JFrog documents them (jfrog.com/help/r/xray-rest-apis/...):
- `POST /xray/api/v1/scanArtifact` `{"componentID": "generic://sha256:<sha256>/<name>"}` →
  `{"info": "Scan of artifact is in progress"}` (a rescan: the cached verdict is dropped).
- `POST /xray/api/v1/artifact/status` `{"repo", "path"}` (both mandatory, 400 otherwise) →
  `{"overall": {"status", "time"}, "details": {"sca", "contextual_analysis", "exposures", "violations"}}`.
- `POST /xray/api/v2/summary/artifact` `{"paths": ["default/<repo>/<path>"]}` or `{"checksums": [...]}`
  ("Either paths or checksums must be provided. If both are provided, checksums are ignored.") →
  `{"artifacts": [{"general", "issues", "licenses", "operational_risks"}], "errors": [{"identifier", "error"}]}`.
- `POST /xray/api/v1/violations` `{"filters": {...}, "pagination": {"order_by", "direction", "limit", "offset"}}`
  → `{"total_violations": N, "violations": [...]}`; `offset` is the 1-based page number.
A file is indexed `xray_index_delay` seconds after it was last deployed; before that it is PENDING
and missing from summaries. Files are judged by `xray_models` (malicious models), cached by checksum.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from . import build_store, items
from .app import iso_time
from .http import Request, Response, Route, json_response
from .xray_advisories import AdvisoryFileError, severity_rank
from .xray_models import ModelScanError
from .xray_report import WATCH_NAME
from .xray_scan import Issue, artifact_issues, is_violation, scan_run

if TYPE_CHECKING:
    from .app import Sandbox

ARTIFACTORY_ID = "default"  # paths in Xray start with the Artifactory id ("default" for Xray 3.x)
NOT_INDEXED = "Artifact doesn't exist or not indexed/cached in Xray"
DEFAULT_PAGE_SIZE = 25
_GENERIC_ID = re.compile(r"^generic://sha256:(?P<sha256>[0-9a-fA-F]{64})/(?P<name>.+)$")


def xray_error(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


def _body(req: Request) -> dict[str, Any]:
    body = req.read_json()
    return body if isinstance(body, dict) else {}


def indexed_at(ctx: Sandbox, row: sqlite3.Row) -> datetime:
    return datetime.fromisoformat(row["modified"] or row["created"]) + timedelta(seconds=ctx.config.xray_index_delay)


def _file(conn: sqlite3.Connection, repo: str, path: str) -> sqlite3.Row | None:
    row = items.get(conn, repo, path.strip("/"))
    return row if row is not None and row["type"] == "file" else None


def _by_checksum(conn: sqlite3.Connection, checksum: str) -> sqlite3.Row | None:
    column = "sha256" if len(checksum) == 64 else "sha1"
    row: sqlite3.Row | None = conn.execute(
        f"SELECT * FROM items WHERE {column} = ? AND type = 'file' ORDER BY id LIMIT 1",  # noqa: S608  fixed column
        (checksum.lower(),),
    ).fetchone()
    return row


def xray_path(row: sqlite3.Row) -> str:
    return f"{ARTIFACTORY_ID}/{row['repo']}/{items.full_path(row)}"


def component_id(row: sqlite3.Row) -> str:
    return f"generic://sha256:{row['sha256']}/{row['name']}"


# scanArtifact ------------------------------------------------------------------------------------
def scan_artifact(req: Request, ctx: Sandbox) -> Response:
    component = str(_body(req).get("componentID") or "")
    if not component:
        return xray_error(400, "componentID is mandatory")
    found = _GENERIC_ID.match(component)
    with ctx.db.read() as conn:
        row = _by_checksum(conn, found["sha256"]) if found else None
    if row is None:
        return xray_error(404, f"Component {component} was not found")
    with ctx.lock:
        ctx.state.get(ARTIFACT_CACHE_KEY, {}).pop(row["sha256"], None)
    return json_response({"info": "Scan of artifact is in progress"})


ARTIFACT_CACHE_KEY = "xray.artifact_results"


# artifact/status ---------------------------------------------------------------------------------
def artifact_status(req: Request, ctx: Sandbox) -> Response:
    body = _body(req)
    repo, path = str(body.get("repo") or ""), str(body.get("path") or "")
    if not repo or not path:
        return xray_error(400, "Bad request - Mandatory fields are missing: repo, path")
    with ctx.db.read() as conn:
        row = _file(conn, repo, path)
    if row is None:
        return xray_error(404, f"Artifact {repo}/{path} was not found")
    when = indexed_at(ctx, row)
    status = "PENDING"
    if ctx.now() >= when:
        try:
            _issues(ctx, row)
            status = "DONE"
        except ModelScanError:
            status = "FAILED"
    state = {"status": status, "time": iso_time(when)}
    unsupported = {"status": "NOT_SUPPORTED", "time": iso_time(when)}
    details = {"sca": state, "contextual_analysis": unsupported, "exposures": unsupported, "violations": state}
    return json_response({"overall": state, "details": details})


def _issues(ctx: Sandbox, row: sqlite3.Row) -> list[Issue]:
    """The file's issues, cached by content; raises ModelScanError."""
    with ctx.lock:
        cache: dict[str, list[Issue]] = ctx.state.setdefault(ARTIFACT_CACHE_KEY, {})
        if row["sha256"] in cache:
            return cache[row["sha256"]]
    found = artifact_issues(ctx, row)
    with ctx.lock:
        cache[row["sha256"]] = found
    return found


# summary/artifact (v2) ---------------------------------------------------------------------------
def artifact_summary(req: Request, ctx: Sandbox) -> Response:
    body = _body(req)
    paths, checksums = body.get("paths"), body.get("checksums")
    wanted = paths if paths else checksums
    if not isinstance(wanted, list) or not wanted:
        return xray_error(400, "Either paths or checksums must be provided")
    artifacts, errors = [], []
    for identifier in (str(value) for value in wanted):
        with ctx.db.read() as conn:
            row = _lookup_path(conn, identifier) if paths else _by_checksum(conn, identifier)
        if row is None or ctx.now() < indexed_at(ctx, row):
            errors.append({"identifier": identifier, "error": NOT_INDEXED})
            continue
        try:
            artifacts.append(_summary_entry(ctx, row))
        except ModelScanError as err:
            errors.append({"identifier": identifier, "error": f"Xray could not scan the artifact: {err}"})
    return json_response({"artifacts": artifacts, "errors": errors})


def _lookup_path(conn: sqlite3.Connection, identifier: str) -> sqlite3.Row | None:
    prefix, _, rest = identifier.partition("/")
    repo, _, path = rest.partition("/")
    return _file(conn, repo, path) if prefix == ARTIFACTORY_ID and repo and path else None


def _summary_entry(ctx: Sandbox, row: sqlite3.Row) -> dict[str, Any]:
    created = iso_time(indexed_at(ctx, row))
    general = {"name": row["name"], "path": xray_path(row), "pkg_type": "Generic",
               "sha256": row["sha256"], "component_id": component_id(row)}  # fmt: skip
    issues = [
        {"issue_id": issue.issue_id, "summary": issue.summary, "description": issue.description,
         "issue_type": "security", "severity": issue.severity, "provider": "sandbox", "cves": [],
         "created": created, "impact_path": [xray_path(row)],
         "components": [{"component_id": issue.component_id, "version": "", "pkg_type": "generic",
                         "fixed_versions": []}]}
        for issue in _issues(ctx, row)
    ]  # fmt: skip
    return {"general": general, "issues": issues, "licenses": [], "operational_risks": []}


# violations --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Found:
    """One violation: an issue on an impacted resource (a file's Xray path or a build)."""

    issue: Issue
    impacted: str
    repo: str
    path: str
    build: tuple[str, str] | None
    created: datetime


def _by_created(found: Found) -> tuple[str, str]:
    return iso_time(found.created), found.issue.issue_id


def _by_severity(found: Found) -> tuple[int, str]:
    return severity_rank(found.issue.severity), found.issue.issue_id


ORDER_KEYS: dict[str, Callable[[Found], tuple[Any, str]]] = {"created": _by_created, "severity": _by_severity}


class BadViolationsRequest(Exception):
    """The violations request cannot be answered; the message says why (a 400)."""


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int  # 1-based page number
    order_by: str
    descending: bool

    @classmethod
    def of(cls, page: dict[str, Any]) -> Page:
        try:
            limit, offset = int(_given(page, "limit", DEFAULT_PAGE_SIZE)), int(_given(page, "offset", 1))
        except (TypeError, ValueError) as err:
            raise BadViolationsRequest("pagination limit and offset must be numbers") from err
        if limit < 1 or offset < 1:
            raise BadViolationsRequest("pagination limit and offset start at 1")
        order = str(page.get("order_by") or "created")
        if order not in ORDER_KEYS:
            raise BadViolationsRequest(f"order_by must be one of {', '.join(sorted(ORDER_KEYS))}")
        return cls(limit, offset, order, str(page.get("direction") or "asc").lower() == "desc")

    def of_list(self, found: list[Found]) -> list[Found]:
        ordered = sorted(found, key=ORDER_KEYS[self.order_by], reverse=self.descending)
        return ordered[(self.offset - 1) * self.limit : self.offset * self.limit]


def violations(req: Request, ctx: Sandbox) -> Response:
    body = _body(req)
    filters, page = body.get("filters") or {}, body.get("pagination") or {}
    try:
        if not isinstance(filters, dict) or not isinstance(page, dict):
            raise BadViolationsRequest("filters and pagination must be objects")
        pages = Page.of(page)
        matching = [v for v in _all_violations(ctx) if _matches(v, filters)]
    except BadViolationsRequest as err:
        return xray_error(400, str(err))
    except ValueError as err:
        return xray_error(400, f"created_from and created_until must be RFC 3339 times: {err}")
    except AdvisoryFileError as err:
        return xray_error(500, str(err))
    shown = pages.of_list(matching)
    return json_response({"total_violations": len(matching), "violations": [_violation(req, v) for v in shown]})


def _given(page: dict[str, Any], key: str, default: int) -> Any:
    value = page.get(key)
    return default if value is None else value


def _all_violations(ctx: Sandbox) -> Iterator[Found]:
    with ctx.db.read() as conn:
        files = conn.execute(
            "SELECT i.* FROM items i JOIN repos r ON r.key = i.repo WHERE i.type = 'file'"
            " AND r.rclass = 'local' AND r.package_type != 'buildinfo' ORDER BY i.id"
        ).fetchall()
        runs = [
            run
            for name, project in conn.execute("SELECT DISTINCT name, project FROM builds ORDER BY name").fetchall()
            for run in build_store.runs_of(conn, name, project)
        ]
    for row in files:
        if ctx.now() < indexed_at(ctx, row):
            continue
        try:
            found = _issues(ctx, row)
        except ModelScanError:
            continue  # its status says FAILED; it has no violation to list
        for issue in found:
            if is_violation(issue, ctx.config.fail_severity):
                yield Found(issue, xray_path(row), row["repo"], items.full_path(row), None, indexed_at(ctx, row))
    for run in runs:
        created = datetime.fromisoformat(run.created) + timedelta(seconds=ctx.config.xray_index_delay)
        if ctx.now() < created:
            continue
        try:
            found = scan_run(ctx, run)
        except ModelScanError:
            continue
        for issue in found:
            if is_violation(issue, ctx.config.fail_severity):
                yield Found(issue, f"build://{run.name}:{run.number}", "", "", (run.name, run.number), created)


def _matches(found: Found, filters: dict[str, Any]) -> bool:
    issue = found.issue
    checks: tuple[tuple[str, Callable[[Any], bool]], ...] = (
        ("name_contains", lambda v: str(v).lower() in issue.summary.lower()),
        ("violation_type", lambda v: str(v).lower() == "security"),
        ("watch_name", lambda v: str(v) == WATCH_NAME),
        ("min_severity", lambda v: severity_rank(issue.severity) >= severity_rank(str(v))),
        ("created_from", lambda v: found.created >= _time(v)),
        ("created_until", lambda v: found.created <= _time(v)),
        ("issue_id", lambda v: str(v) == issue.issue_id),
        ("cve_id", lambda v: str(v) in {cve.get("cve") for cve in issue.cves}),
        ("resources", lambda v: _in_resources(found, v)),
    )
    return all(check(filters[key]) for key, check in checks if filters.get(key))


def _time(value: Any) -> datetime:
    """An RFC 3339 time; ValueError otherwise (one without an offset is UTC)."""
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _in_resources(found: Found, resources: Any) -> bool:
    if not isinstance(resources, dict):
        return True
    wanted_files = [(str(a.get("repo") or ""), str(a.get("path") or "").strip("/"))
                    for a in resources.get("artifacts") or [] if isinstance(a, dict)]  # fmt: skip
    wanted_builds = [(str(b.get("name") or ""), str(b.get("number") or ""))
                     for b in resources.get("builds") or [] if isinstance(b, dict)]  # fmt: skip
    if found.build is not None:
        return not wanted_files and (not wanted_builds or found.build in wanted_builds)
    return not wanted_builds and (not wanted_files or (found.repo, found.path) in wanted_files)


def _violation(req: Request, found: Found) -> dict[str, Any]:
    issue = found.issue
    return {
        "description": issue.summary, "severity": issue.severity, "type": "Security",
        "infected_components": [issue.component_id], "created": iso_time(found.created),
        "watch_name": WATCH_NAME, "issue_id": issue.issue_id,
        "violation_details_url": f"{req.base_url}/ui/watchesNew/edit/{WATCH_NAME}?tab=violations",
        "impacted_artifacts": [found.impacted],
    }  # fmt: skip


ROUTES = [
    Route("POST", r"/xray/api/v1/scanArtifact", scan_artifact, auth="write"),
    Route("POST", r"/xray/api/v1/artifact/status", artifact_status),
    Route("POST", r"/xray/api/v2/summary/artifact", artifact_summary),
    Route("POST", r"/xray/api/v1/violations", violations),
]
