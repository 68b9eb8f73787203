"""Xray's answer shapes for a scanned build: v2 CI scan results, legacy v1 alerts, build summary.

One policy stands in for a watch with a "Fail build" rule: issues at or above the sandbox's
`fail_severity` are violations with `fail_build: true`; all issues are vulnerabilities.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .build_store import BuildRun
from .xray_scan import Issue, is_violation

WATCH_NAME = "sandbox-watch"
POLICY_NAME = "sandbox-fail-build"
PROVIDER = "sandbox"
LEGACY_SEVERITY = {"Critical": "Critical", "High": "Major", "Medium": "Minor", "Low": "Minor"}


@dataclass(frozen=True)
class ScanContext:
    run: BuildRun
    issues: list[Issue]
    fail_severity: str
    base_url: str

    @property
    def violations(self) -> list[Issue]:
        return [issue for issue in self.issues if is_violation(issue, self.fail_severity)]

    @property
    def build_component(self) -> str:
        return f"build://{self.run.name}:{self.run.number}"

    @property
    def details_url(self) -> str:
        name, number = quote(self.run.name, safe=""), quote(self.run.number, safe="")
        return f"{self.base_url}/xray/ui/builds/{name}/{number}/1/xrayData?buildRepo={self.run.build_repo}"


def v2_result(scan: ScanContext, include_vulnerabilities: bool) -> dict[str, Any]:
    violations = scan.violations
    body: dict[str, Any] = {
        "build_name": scan.run.name, "build_number": scan.run.number, "status": "completed",
        "more_details_url": scan.details_url, "fail_build": bool(violations),
        "violations": [_violation(scan, issue) for issue in violations],
    }  # fmt: skip
    if include_vulnerabilities:
        body["vulnerabilities"] = [_vulnerability(scan, issue) for issue in scan.issues]
    return body


def _impact_path(scan: ScanContext, issue: Issue) -> list[list[dict[str, str]]]:
    return [[{"component_id": scan.build_component}, {"component_id": issue.component_id}]]


def _violation(scan: ScanContext, issue: Issue) -> dict[str, Any]:
    component = {"fixed_versions": list(issue.fixed_versions), "impact_paths": _impact_path(scan, issue)}
    rule = f"fail-on-{scan.fail_severity.lower()}-or-above"
    return {
        "summary": issue.summary, "severity": issue.severity, "type": "security",
        "watch_name": WATCH_NAME, "issue_id": issue.issue_id, "fail_build": True,
        "cves": [dict(cve) for cve in issue.cves], "components": {issue.component_id: component},
        "policies": [{"policy": POLICY_NAME, "rule": rule, "is_blocking": True}],
        "license_key": "", "references": list(issue.references),
    }  # fmt: skip


def _vulnerability(scan: ScanContext, issue: Issue) -> dict[str, Any]:
    component = {
        "package_name": issue.package_name, "package_version": issue.package_version,
        "package_type": issue.package_type, "fixed_versions": list(issue.fixed_versions),
        "infected_versions": list(issue.infected_versions), "impact_paths": _impact_path(scan, issue),
    }  # fmt: skip
    return {
        "cves": [dict(cve) for cve in issue.cves], "summary": issue.summary,
        "severity": issue.severity, "components": {issue.component_id: component},
        "issue_id": issue.issue_id, "references": list(issue.references), "provider": PROVIDER,
    }  # fmt: skip


def v1_result(scan: ScanContext, created: str) -> dict[str, Any]:
    violations = scan.violations
    run = scan.run
    outcome = f"{len(violations)} Alerts were generated" if violations else "passed with no Alerts"
    summary = {"message": f"Build {run.name} number {run.number} was scanned by Xray and {outcome}",
               "total_alerts": len(violations), "fail_build": bool(violations),
               "more_details_url": scan.details_url if violations else ""}  # fmt: skip
    alerts = [_alert(scan, violations, created)] if violations else []
    return {"summary": summary, "alerts": alerts, "licenses": []}


def _alert(scan: ScanContext, violations: list[Issue], created: str) -> dict[str, Any]:
    return {"created": created, "top_severity": LEGACY_SEVERITY[violations[0].severity],
            "watch_name": WATCH_NAME, "issues": [_legacy_issue(scan, i, created) for i in violations]}  # fmt: skip


def _legacy_issue(scan: ScanContext, issue: Issue, created: str) -> dict[str, Any]:
    infected = {"name": issue.package_name, "path": issue.file_path, "sha256": "", "sha1": "", "depth": 0,
                "parent_sha": "", "display_name": f"{issue.package_name}:{issue.package_version}".rstrip(":"),
                "pkg_type": "Pypi" if issue.package_type == "pypi" else "Generic"}  # fmt: skip
    impacted = {"name": scan.run.name, "path": "LOCAL/builds/", "sha256": "", "sha1": "", "depth": 0,
                "display_name": f"{scan.run.name}:{scan.run.number}", "pkg_type": "Build",
                "parent_sha": "", "impact_path": "", "infected_file": infected}  # fmt: skip
    return {"severity": LEGACY_SEVERITY[issue.severity], "type": "security", "provider": PROVIDER,
            "created": created, "summary": issue.summary, "description": issue.description,
            "cve": issue.cves[0]["cve"] if issue.cves else "", "component_ids": [issue.component_id],
            "impacted_artifacts": [impacted]}  # fmt: skip


def build_summary(scan: ScanContext, created: str) -> dict[str, Any]:
    build = {"name": scan.run.name, "component_id": scan.build_component, "pkg_type": "Build",
             "path": f"{scan.run.build_repo}/{scan.run.name}", "sha256": ""}  # fmt: skip
    issues = [{"issue_id": issue.issue_id, "summary": issue.summary, "description": issue.description,
               "issue_type": "security", "severity": issue.severity, "provider": PROVIDER,
               "cves": [{"cve": c["cve"], "cvss_v3": c["cvss_v3_score"]} for c in issue.cves],
               "created": created, "impact_path": [f"{scan.build_component}/{issue.component_id}"],
               "components": [{"component_id": issue.component_id,
                               "fixed_versions": list(issue.fixed_versions)}]}
              for issue in scan.issues]  # fmt: skip
    return {"build": build, "issues": issues, "licenses": [], "operational_risks": [], "errors": []}
