"""Runs the selected stages in pipeline order and records what each produced."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol

from ml_artifactory_action.errors import ActionError
from ml_artifactory_action.settings import Stage
from ml_artifactory_action.stages.context import StageContext

# Each stage module exposes `run(ctx: StageContext) -> object` (its result, stored in the state).
STAGE_MODULES: dict[Stage, str] = {
    Stage.CONFIGURE: "ml_artifactory_action.stages.configure",
    Stage.GATE: "ml_artifactory_action.stages.gate",
    Stage.UPLOAD: "ml_artifactory_action.stages.upload",
    Stage.BUILD_PUBLISH: "ml_artifactory_action.stages.build_publish",
    Stage.SCAN: "ml_artifactory_action.stages.scan",
    Stage.PROMOTE: "ml_artifactory_action.stages.promote",
    Stage.RESOLVE: "ml_artifactory_action.stages.resolve",
}


class StageModule(Protocol):
    def run(self, ctx: StageContext) -> object: ...


def stage_runner(stage: Stage) -> Callable[[StageContext], object]:
    module: StageModule = importlib.import_module(STAGE_MODULES[stage])
    return module.run


def run_stages(ctx: StageContext) -> None:
    """Check every selected stage's inputs, then run the stages in order; the first error stops.

    A stage module may expose `preflight(ctx)`, checking what it can before any stage runs, so
    that a bad input of a later stage (a download-dir that is a file) does not stop the run after
    the earlier stages changed the registry.
    """
    for stage in ctx.settings.stages:
        preflight: Callable[[StageContext], None] | None = getattr(
            importlib.import_module(STAGE_MODULES[stage]), "preflight", None
        )
        try:
            if preflight is not None:
                preflight(ctx)
        except ActionError:
            ctx.state.failed = stage
            raise
    for stage in ctx.settings.stages:
        run = stage_runner(stage)
        with ctx.runner.group(f"{stage.value}{' (dry run)' if ctx.settings.dry_run else ''}"):
            try:
                ctx.state.results[stage] = run(ctx)
            except ActionError:
                ctx.state.failed = stage
                raise
        ctx.state.finished.append(stage)
