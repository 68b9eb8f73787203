"""The Markdown report of a run: the step summary, and the same text as a PR comment.

One section per stage that produced a result (a failing gate or scan keeps its result, so its
table is shown beside the error). On pull_request events the report is also posted as a comment,
found again by the hidden `MARKER` and the model's name (`comment_marker`), so each model of a
pull request has its comment, edited in place on later runs. Outside a runner (no
GITHUB_OUTPUT) the report is written to a file and the outputs are printed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ml_artifactory_action.errors import ActionError, GitHubAPIError
from ml_artifactory_action.runner import human_size
from ml_artifactory_action.settings import Stage

if TYPE_CHECKING:  # stage modules load only when their stage runs (start-up time of every run)
    from ml_artifactory_action.stages.build_publish import BuildPublishResult
    from ml_artifactory_action.stages.configure import ConfigureResult
    from ml_artifactory_action.stages.context import StageContext
    from ml_artifactory_action.stages.gate import GateResult, GateRow
    from ml_artifactory_action.stages.promote import PromoteResult
    from ml_artifactory_action.stages.resolve import ResolveResult
    from ml_artifactory_action.stages.scan import ScanResult

MARKER = "<!-- ml-artifactory-action:report -->"
PR_EVENTS = frozenset({"pull_request", "pull_request_target"})
# GitHub refuses comments over 65,536 characters.
MAX_COMMENT_CHARS = 65_000
MAX_TABLE_ROWS = 50
PASS, FAIL, SKIP = ":white_check_mark:", ":x:", ":fast_forward:"
REPORT_FILE_PREFIX = "ml-artifactory-report-"


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def comment_marker(model_name: str) -> str:
    """The hidden first line of a model's PR comment: MARKER, then the model (quoted: no `-->` inside)."""
    return f"{MARKER}<!-- model={quote(model_name, safe='')} -->"


def failure_section(error: ActionError, stage: Stage | None = None) -> str:
    """What went wrong (in which stage) and how to fix it, for the step summary."""
    lines = [f"### {FAIL} {error.title}", ""]
    if stage is not None:
        lines += [f"**Failed stage:** `{stage.value}`", ""]
    lines.append(error.message)
    if error.fix:
        lines += ["", f"**How to fix:** {error.fix}"]
    return "\n".join(lines) + "\n"


def render(ctx: StageContext, error: ActionError | None = None) -> str:
    """The whole report: header, one section per stage result, then the failure if any."""
    parts = [f"{MARKER}\n{_header(ctx)}", unsafe_upload_section(ctx.state.get(Stage.UPLOAD))]
    for stage in Stage:
        result = ctx.state.get(stage)
        renderer = SECTIONS.get(stage)
        if result is not None and renderer is not None:
            parts.append(renderer(result))
    if error is not None:
        parts.append(failure_section(error, ctx.state.failed))
    elif not ctx.state.finished:
        parts.append("No stage ran.\n")
    return "\n".join(part.rstrip("\n") + "\n" for part in parts if part)


def _header(ctx: StageContext) -> str:
    settings = ctx.settings
    model = settings.effective_model_name or settings.effective_build_name or "model"
    title = f"## Model pipeline: {model}" + (" (dry run)" if settings.dry_run else "")
    facts = []
    if settings.effective_build_name and settings.effective_build_number:
        facts.append(f"build `{settings.effective_build_name}` #{settings.effective_build_number}")
    if settings.github.sha:
        facts.append(f"commit `{settings.github.sha[:7]}`")
    if settings.github.run_url:
        facts.append(f"[workflow run]({settings.github.run_url})")
    stages = ", ".join(s.value for s in settings.stages)
    return f"{title}\n\nStages: {stages}" + (f" · {' · '.join(facts)}" if facts else "") + "\n"


def unsafe_upload_section(result: Any) -> str:
    """First thing an approver reads: files uploaded with allow-unsafe-pickle run code when loaded."""
    if result is None:
        return ""
    from ml_artifactory_action.stages.upload_result import unsafe_markdown  # noqa: PLC0415  see TYPE_CHECKING

    return unsafe_markdown(result)


def gate_section(result: GateResult) -> str:
    mark, verdict = (PASS, "passed") if result.passed else (FAIL, "failed")
    lines = [f"### {mark} Quality gate {verdict}", "", f"Metrics from {cell(result.source)}."]
    if result.compared:
        lines[-1] += (
            f" Compared with production build #{result.production_build}."
            if result.production_build
            else " No model in production yet: thresholds only."
        )
    if result.rows:
        lines += [
            "",
            "| Metric | Value | Threshold | Production | Δ | Result |",
            "| --- | ---: | --- | ---: | ---: | --- |",
        ]
        lines += [_gate_row(row) for row in result.rows]
    return "\n".join(lines) + "\n"


def _gate_row(row: GateRow) -> str:
    threshold = f"`{row.threshold.op} {row.threshold.value:g}`" if row.threshold else ""
    production = f"{row.production:g}" if row.production is not None else ""
    delta = f"{row.delta:+g}" if row.delta is not None else ""
    result = PASS if row.passed else FAIL
    return f"| {cell(row.metric)} | {row.value:g} | {threshold} | {production} | {delta} | {result} |"


def upload_section(result: Any) -> str:
    """The upload stage renders its own table (`UploadResult.summary_markdown`)."""
    render_upload: Callable[[], str] | None = getattr(result, "summary_markdown", None)
    return render_upload() if render_upload is not None else ""


def build_section(result: BuildPublishResult) -> str:
    link = f"[{cell(result.name)} #{cell(result.number)}]({result.url})"
    if result.already_published:
        state = f"Build {link} was already published with these files."
    elif result.published:
        state = f"Published build {link}."
    else:
        state = f"Would publish build {link}."
    counts = f"{len(result.artifacts)} files, {result.dependencies} dependencies, {result.env_variables} environment variables recorded."
    bom = (
        f"\n\nAI-BOM (CycloneDX 1.6): [{cell(result.bom_url.rpartition('/')[2])}]({result.bom_url})"
        if result.bom_url
        else ""
    )
    return f"### Build-info\n\n{state} {counts}{bom}\n"


def scan_section(result: ScanResult) -> str:
    if result.outcome == "skipped" or result.scan is None:
        return f"### {SKIP} Xray scan skipped (dry run)\n"
    scan = result.scan
    mark, verdict = (FAIL, "fails the build") if scan.fail_build else (PASS, "passed")
    lines = [f"### {mark} Xray scan {verdict}", ""]
    lines.append(f"{len(scan.violations)} violations, {scan.vulnerabilities} vulnerabilities.")
    if scan.more_details_url:
        lines[-1] += f" [Details in Xray]({scan.more_details_url})"
    if scan.violations:
        lines += ["", "| Severity | Type | Issue | Component | Fixed versions |", "| --- | --- | --- | --- | --- |"]
        for v in scan.violations[:MAX_TABLE_ROWS]:
            issue = ", ".join(v.cves) or v.issue_id
            components = "<br>".join(cell(c.id) for c in v.components)
            fixed = "<br>".join(cell(", ".join(c.fixed_versions)) or "none" for c in v.components)
            lines.append(
                f"| {cell(v.severity)} | {cell(v.type)} | {cell(issue)}: {cell(v.summary)} | {components} | {fixed} |"
            )
        if len(scan.violations) > MAX_TABLE_ROWS:
            lines.append(f"\n…and {len(scan.violations) - MAX_TABLE_ROWS} more.")
    return "\n".join(lines) + "\n"


def promote_section(result: PromoteResult) -> str:
    build = f"[{cell(result.build_name)} #{cell(result.build_number)}]({result.build_url})"
    where = f"`{result.target_repo}` as **{cell(result.status)}**"
    if result.dry_run:
        text = f"Dry run: build {build} would be promoted to {where}."
    elif not result.changed:
        text = f"Build {build} was already in {where}; nothing changed."
    elif result.rollback_of:
        text = f"Rolled back: build {build} replaces #{cell(result.rollback_of)} in {where}."
    else:
        text = f"Build {build} promoted to {where}."
    if result.deployment_id is not None:
        text += f" GitHub deployment {result.deployment_id} recorded."
    if result.signed_by:
        text += f" {PASS} Signature checked: the files are as signed by {cell(result.signed_by)}."
    return f"### Promotion\n\n{text}\n"


def resolve_section(result: ResolveResult) -> str:
    if result.dry_run and not result.files:
        return (
            f"### Resolved model\n\nDry run: {cell(result.selected_by)} would be downloaded from `{result.repo}` "
            f"to `{result.download_dir}` once promoted.\n"
        )
    verb = "Would download" if result.dry_run else "Downloaded"
    fetched = [f for f in result.files if f.downloaded]
    lines = [
        "### Resolved model",
        "",
        f"{verb} {len(fetched)} of {len(result.files)} files ({human_size(result.downloaded_bytes)}) of "
        f"{cell(result.selected_by)} from `{result.repo}` to `{result.download_dir}`.",
        "",
        "| File | Size | SHA-256 | |",
        "| --- | ---: | --- | --- |",
    ]
    for file in result.files[:MAX_TABLE_ROWS]:
        state = ("would download" if result.dry_run else "downloaded") if file.downloaded else "already in place"
        lines.append(f"| {cell(file.relative)} | {human_size(file.size)} | `{file.sha256[:12]}` | {state} |")
    if result.signed_by:
        lines += ["", f"{PASS} Signature verified (`model.sig`): signed by {cell(result.signed_by)}."]
    return "\n".join(lines) + "\n"


def configure_section(result: ConfigureResult) -> str:
    names = ", ".join(f"`{v.name}`" + (" (masked)" if v.secret else "") for v in result.variables)
    verb = "Would set" if result.dry_run else "Set"
    lines = ["### Package and model sources", "", f"{verb} for later steps: {names}."]
    if result.pypi_index:
        lines.append(f"\n- Python packages from `{result.pypi_index}`")
    if result.hf_endpoint:
        lines.append(f"- Hugging Face models from `{result.hf_endpoint}`")
    return "\n".join(lines) + "\n"


SECTIONS: dict[Stage, Callable[[Any], str]] = {
    Stage.CONFIGURE: configure_section,
    Stage.GATE: gate_section,
    Stage.UPLOAD: upload_section,
    Stage.BUILD_PUBLISH: build_section,
    Stage.SCAN: scan_section,
    Stage.PROMOTE: promote_section,
    Stage.RESOLVE: resolve_section,
}


def publish(ctx: StageContext, error: ActionError | None) -> None:
    """Write the report to the step summary, the PR comment, and (outside Actions) a file."""
    text = render(ctx, error)
    ctx.runner.add_summary(text)
    if not ctx.runner.in_actions:
        _print_locally(ctx, text)
    if _wants_comment(ctx):
        post_comment(ctx, text)


def _wants_comment(ctx: StageContext) -> bool:
    github = ctx.settings.github
    return ctx.settings.pr_comment and github.event_name in PR_EVENTS and github.pull_request_number is not None


def post_comment(ctx: StageContext, text: str) -> None:
    """Create or update our comment on the pull request; a refusal only warns."""
    from ml_artifactory_action.github_api import GitHubAPI  # noqa: PLC0415  PyGithub costs ~180 ms to import

    api = GitHubAPI.from_settings(ctx.settings)
    number = ctx.settings.github.pull_request_number
    if api is None or number is None:
        ctx.runner.debug("No github-token: the report is not posted on the pull request.")
        return
    marker = comment_marker(ctx.settings.effective_model_name)
    body = ctx.runner.redact(marker + text.removeprefix(MARKER))
    if len(body) > MAX_COMMENT_CHARS:
        body = body[:MAX_COMMENT_CHARS] + "\n\n…(truncated; the full report is in the job summary)\n"
    try:
        url = api.upsert_comment(number, body, marker)
    except GitHubAPIError as exc:
        ctx.runner.warning("Report not posted on the pull request", f"{exc.message} {exc.fix}")
        return
    ctx.runner.info(f"Report posted on pull request #{number}: {url}")


def _print_locally(ctx: StageContext, text: str) -> None:
    with tempfile.NamedTemporaryFile(
        "w", prefix=REPORT_FILE_PREFIX, suffix=".md", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(ctx.runner.redact(text))
    ctx.runner.info(f"Report: {Path(handle.name)}")
    for name, value in ctx.runner.outputs.items():
        ctx.runner.info(f"Output {name}: {value}")
