"""upload's model card: a README.md added to a model without one, before it is signed and sent.

`model-card: auto` adds it for Hugging Face repositories (the Hub shows the card and reads its
metadata), `always` for any repository, `none` never. The card says what this run knows: the
gate's metrics and thresholds, the model's formats, and the license, task, base model and data
sets given as inputs (or the MLflow run's data sets).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ml_artifactory_action.artifactory import huggingface
from ml_artifactory_action.artifactory.storage import Repository
from ml_artifactory_action.model.files import ModelFile, detect_frameworks
from ml_artifactory_action.provenance.datasets import datasets_of
from ml_artifactory_action.provenance.facts import ModelCardFacts
from ml_artifactory_action.provenance.model_card import CARD_NAME, has_card, write_card
from ml_artifactory_action.settings import ModelCardMode, Stage
from ml_artifactory_action.stages.context import StageContext


def with_card(
    ctx: StageContext, files: Sequence[ModelFile], repository: Repository, single: str, scratch: Path
) -> list[ModelFile]:
    """The files, with a generated README.md when the settings and the repository ask for one."""
    settings, runner = ctx.settings, ctx.runner
    mode = settings.model_card
    if mode == ModelCardMode.NONE or (
        mode == ModelCardMode.AUTO and repository.package_type != huggingface.PACKAGE_TYPE
    ):
        return list(files)
    if has_card(files):
        runner.info(f"The model brings its own {CARD_NAME}: it stays its model card.")
        return list(files)
    if single:
        runner.info(f"No {CARD_NAME} model card: target-path names one file, so there is no folder to put it in.")
        return list(files)
    card = write_card(scratch, settings.effective_model_name, settings.effective_model_version, _facts(ctx, files))
    runner.info(f"Added a {CARD_NAME} model card (the model had none).")
    return [*files, card]


def _facts(ctx: StageContext, files: Sequence[ModelFile]) -> ModelCardFacts:
    settings = ctx.settings
    gate = ctx.state.get(Stage.GATE)
    return ModelCardFacts(
        task=settings.task,
        frameworks=detect_frameworks(files),
        metrics=dict(gate.metrics) if gate is not None else {},
        thresholds=settings.thresholds,
        datasets=datasets_of(settings, ctx.http),
        license=settings.license,
        base_model=settings.base_model,
    )
