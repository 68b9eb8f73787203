"""scan: Xray's verdict on the published build; fail the run when Xray's policy says so.

When this run uploads files but publishes no build (`stages` has upload and scan, not
build-publish), Xray is asked about the uploaded files themselves (`artifactory.xray_artifacts`):
any violation on them fails the scan. `fail-on-violations: false` reports the violations without
failing. A dry run scans nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ml_artifactory_action.artifactory.xray import BuildScan, Violation, Waiter, scan_build
from ml_artifactory_action.artifactory.xray_artifacts import ArtifactRef, scan_artifacts
from ml_artifactory_action.errors import ScanFailedError
from ml_artifactory_action.settings import Stage
from ml_artifactory_action.stages.context import StageContext

MAX_LISTED_VIOLATIONS = 10


@dataclass(frozen=True)
class ScanResult:
    outcome: str  # pass, fail or skipped
    scan: BuildScan | None = None

    @property
    def violations(self) -> tuple[Violation, ...]:
        return self.scan.violations if self.scan else ()


def run(ctx: StageContext) -> ScanResult:
    settings = ctx.settings
    upload = ctx.state.get(Stage.UPLOAD)
    if upload is not None and Stage.BUILD_PUBLISH not in settings.stages:
        subject = f"the {len(upload.artifacts)} files uploaded to {upload.repo}/{upload.folder}"
        refs = [ArtifactRef(a.repo, a.path, a.sha256) for a in upload.artifacts]

        def scan() -> BuildScan:
            return scan_artifacts(ctx.client, refs, Waiter(settings.scan_timeout), log=ctx.runner.info)
    else:
        name, number = settings.effective_build_name, settings.effective_build_number
        subject = f"build {name} #{number}"

        def scan() -> BuildScan:
            return scan_build(
                ctx.client, name, number, settings.project, Waiter(settings.scan_timeout), log=ctx.runner.info
            )

    if settings.dry_run:
        ctx.runner.info(f"Dry run: would ask Xray to scan {subject} and wait up to {settings.scan_timeout} s.")
        return _finish(ctx, ScanResult("skipped"))
    return _judge(ctx, subject, scan())


def _judge(ctx: StageContext, subject: str, scan: BuildScan) -> ScanResult:
    result = _finish(ctx, ScanResult("fail" if scan.fail_build else "pass", scan))
    _log(ctx, scan)
    if scan.fail_build and ctx.settings.fail_on_violations:
        raise scan_failure(subject, scan)
    if scan.fail_build:
        ctx.runner.warning(
            "Xray policy violations",
            f"Xray's policy fails {subject} ({len(scan.violations)} violations); continuing because fail-on-violations is false.",
        )
    return result


def _finish(ctx: StageContext, result: ScanResult) -> ScanResult:
    ctx.state.results[Stage.SCAN] = result  # kept for the report even when the scan fails the run
    ctx.runner.set_output("scan-result", result.outcome)
    ctx.runner.set_output("violations", json.dumps([v.as_output() for v in result.violations]))
    return result


def describe(violation: Violation) -> str:
    ids = ", ".join(violation.cves) or violation.issue_id
    components = ", ".join(
        c.id + (f" (fixed in {', '.join(c.fixed_versions)})" if c.fixed_versions else "") for c in violation.components
    )
    return (
        f"{violation.severity} {violation.type}: {violation.summary}"
        + (f" [{ids}]" if ids else "")
        + (f" in {components}" if components else "")
    )


def scan_failure(subject: str, scan: BuildScan) -> ScanFailedError:
    """The error for a failing scan of `subject` ("build NAME #NUMBER", or the uploaded files)."""
    listed = "\n".join(f"- {describe(v)}" for v in scan.violations[:MAX_LISTED_VIOLATIONS])
    more = len(scan.violations) - MAX_LISTED_VIOLATIONS
    listed += f"\n- and {more} more" if more > 0 else ""
    details = f" Details: {scan.more_details_url}" if scan.more_details_url else ""
    return ScanFailedError(
        f"Xray's policy fails {subject} with {len(scan.violations)} violations:\n{listed}\n{details}".rstrip(),
        fix="Fix the violations (upgrade the components, replace the unsafe model file) and run again; nothing was promoted. Set fail-on-violations: false to report without failing.",
    )


def _log(ctx: StageContext, scan: BuildScan) -> None:
    if not scan.has_fail_policy:
        ctx.runner.info("No Xray policy can fail this build; the scan result is informational.")
    verdict = "fails the build" if scan.fail_build else "passes"
    ctx.runner.info(f"Xray: {verdict}; {len(scan.violations)} violations, {scan.vulnerabilities} vulnerabilities.")
    for violation in scan.violations:
        ctx.runner.info(f"  {describe(violation)}")
