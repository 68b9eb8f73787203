"""What the sandbox's Xray finds in a build: unsafe model files and vulnerable dependencies.

Artifacts are looked up in the filestore by checksum and judged by Xray's own malicious-model
detection (`xray_models`; a malicious file is a Critical issue); dependencies (`name:version`) are matched against
the advisories file. Results are cached per build run: a run's content never changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.specifiers import SpecifierSet

from .build_store import BuildRun
from .xray_advisories import Advisory, load_advisories, normalize, parse_dependency_id, severity_rank
from .xray_models import ModelScanner, ModelVerdict, scan_stored

if TYPE_CHECKING:
    from .app import Sandbox

SCANNER_STATE_KEY = "xray.model_scanner"  # tests may put a ModelScanner here
CACHE_STATE_KEY = "xray.results"
MALICIOUS_MODEL_ISSUE = "SANDBOX-MALICIOUS-MODEL"
ADVISORIES_STATE_KEY = "xray.advisories"


@dataclass(frozen=True)
class Issue:
    issue_id: str
    summary: str
    description: str
    severity: str  # Critical, High, Medium, Low
    component_id: str
    package_name: str
    package_version: str
    package_type: str
    cves: tuple[dict[str, str], ...] = ()
    fixed_versions: tuple[str, ...] = ()
    infected_versions: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    file_path: str = ""  # repo/path of an unsafe artifact


def scan_run(ctx: Sandbox, run: BuildRun) -> list[Issue]:
    """Every issue in the run (cached); raises ModelScanError / AdvisoryFileError."""
    with ctx.lock:
        cache: dict[int, list[Issue]] = ctx.state.setdefault(CACHE_STATE_KEY, {})
        if run.id in cache:
            return cache[run.id]
    issues = [*_artifact_issues(ctx, run), *_dependency_issues(ctx, run)]
    issues.sort(key=lambda issue: (-severity_rank(issue.severity), issue.issue_id))
    with ctx.lock:
        cache[run.id] = issues
    return issues


def is_violation(issue: Issue, fail_severity: str) -> bool:
    return severity_rank(issue.severity) >= severity_rank(fail_severity)


def _scanner(ctx: Sandbox) -> ModelScanner:
    scanner: ModelScanner = ctx.state.get(SCANNER_STATE_KEY, scan_stored)
    return scanner


def _artifact_issues(ctx: Sandbox, run: BuildRun) -> Iterator[Issue]:
    scanner = _scanner(ctx)
    for artifact, stored in _stored_artifacts(ctx, run):
        name = str(artifact.get("name") or artifact.get("path") or stored["sha256"])
        verdict = scanner(ctx.files.path(stored["sha256"]), name)
        if verdict.malicious:
            yield model_issue(name, stored, verdict)


def artifact_issues(ctx: Sandbox, row: sqlite3.Row) -> list[Issue]:
    """The issues of one stored file (`row`: repo, path, name, sha256); raises ModelScanError."""
    if not row["sha256"] or not ctx.files.has(row["sha256"]):
        return []
    verdict = _scanner(ctx)(ctx.files.path(row["sha256"]), row["name"])
    return [model_issue(row["name"], row, verdict)] if verdict.malicious else []


def _stored_artifacts(ctx: Sandbox, run: BuildRun) -> Iterator[tuple[dict[str, Any], sqlite3.Row]]:
    seen: set[str] = set()
    with ctx.db.read() as conn:
        pairs = [(a, _stored(conn, a)) for m in run.info.get("modules") or [] for a in m.get("artifacts") or []]
    for artifact, stored in pairs:
        if stored is not None and stored["sha256"] not in seen and ctx.files.has(stored["sha256"]):
            seen.add(stored["sha256"])
            yield artifact, stored


def _stored(conn: sqlite3.Connection, artifact: dict[str, Any]) -> sqlite3.Row | None:
    for column in ("sha256", "sha1"):
        value = artifact.get(column)
        if value:
            row: sqlite3.Row | None = conn.execute(
                f"SELECT i.repo, i.path, i.name, i.sha256 FROM items i WHERE i.{column} = ?"  # noqa: S608  fixed column
                " AND i.type = 'file' ORDER BY i.id LIMIT 1", (str(value).lower(),),
            ).fetchone()  # fmt: skip
            if row is not None:
                return row
    return None


def model_issue(name: str, stored: sqlite3.Row, verdict: ModelVerdict) -> Issue:
    """A malicious model file as an Xray issue (`stored`: repo, path, name, sha256 of the item)."""
    names = sorted({finding.global_name for finding in verdict.findings})
    where = f"{stored['repo']}/{stored['name'] if stored['path'] == '.' else stored['path'] + '/' + stored['name']}"
    return Issue(
        issue_id=f"{MALICIOUS_MODEL_ISSUE}-{stored['sha256'][:12]}",
        summary=f"Malicious model file {name}: loading it calls {', '.join(names)}",
        description="; ".join(f"{f.global_name}: {f.reason}" for f in verdict.findings),
        severity="Critical", component_id=f"generic://sha256:{stored['sha256']}/{name}",
        package_name=name, package_version="", package_type="generic", file_path=where,
    )  # fmt: skip


def _advisories(ctx: Sandbox) -> list[Advisory]:
    with ctx.lock:
        cached: list[Advisory] | None = ctx.state.get(ADVISORIES_STATE_KEY)
    if cached is None:
        cached = load_advisories(ctx.config.advisories_path)
        with ctx.lock:
            ctx.state[ADVISORIES_STATE_KEY] = cached
    return cached


def _dependency_issues(ctx: Sandbox, run: BuildRun) -> Iterator[Issue]:
    advisories = _advisories(ctx)
    seen: set[tuple[str, str]] = set()
    for module in run.info.get("modules") or []:
        for dependency in module.get("dependencies") or []:
            parsed = parse_dependency_id(str(dependency.get("id") or ""))
            if parsed is None or parsed in seen:
                continue
            seen.add(parsed)
            yield from (_advisory_issue(a, *parsed) for a in advisories if a.affects(*parsed))


def _advisory_issue(advisory: Advisory, name: str, version: str) -> Issue:
    cve = {"cve": advisory.cve, "cvss_v3_score": advisory.cvss_v3_score} if advisory.cve else None
    return Issue(
        issue_id=advisory.id, summary=advisory.summary, description=advisory.summary,
        severity=advisory.severity, component_id=f"pypi://{normalize(name)}:{version}",
        package_name=normalize(name), package_version=version, package_type="pypi",
        cves=(cve,) if cve else (), fixed_versions=tuple(f"[{v}]" for v in advisory.fixed_versions),
        infected_versions=(xray_range(advisory.affected),), references=advisory.references,
    )  # fmt: skip


def xray_range(specifiers: SpecifierSet) -> str:
    """A specifier set in Xray's interval notation: `<2.6.0` → `(,2.6.0)`, `>=1,<2` → `[1,2)`."""
    low, high = "(", ","
    end = ")"
    for spec in specifiers:
        if spec.operator in (">=", ">"):
            low = ("[" if spec.operator == ">=" else "(") + spec.version
        elif spec.operator in ("<", "<="):
            high, end = "," + spec.version, ")" if spec.operator == "<" else "]"
        else:
            return str(specifiers)
    return f"{low}{high}{end}"
