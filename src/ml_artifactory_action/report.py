"""The Markdown report of a run: step summary and PR comment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_artifactory_action.errors import ActionError

if TYPE_CHECKING:
    from ml_artifactory_action.stages.context import StageContext

MARKER = "<!-- ml-artifactory-action:report -->"


def failure_section(error: ActionError) -> str:
    """What went wrong and how to fix it, for the step summary."""
    lines = [f"### :x: {error.title}", "", error.message]
    if error.fix:
        lines += ["", f"**How to fix:** {error.fix}"]
    return "\n".join(lines) + "\n"


def render(ctx: StageContext) -> str:
    """The report of what ran; each stage's section is added by the report builders."""
    title = "## Model pipeline" + (" (dry run)" if ctx.settings.dry_run else "")
    done = ", ".join(stage.value for stage in ctx.state.finished) or "none"
    return f"{MARKER}\n{title}\n\nStages finished: {done}\n"


def publish(ctx: StageContext, error: ActionError | None) -> None:
    """Write the report (and the failure, if any) to the step summary."""
    text = render(ctx)
    if error is not None:
        text += "\n" + failure_section(error)
    ctx.runner.add_summary(text)
