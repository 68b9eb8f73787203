"""Promotion and rollback by hand: the reusable promote workflow, rollback, and their templates."""

from __future__ import annotations

from typing import Any

import pytest

from tests.workflows.conftest import PROVIDER, Platform
from tests.workflows.declarations import WorkflowError
from tests.workflows.simulator import GITHUB_MADE, ROOT
from tests.workflows.test_ml_pipeline import GRANTED, PIPELINE, build_statuses, models_in, pipeline_inputs

PROMOTE = ROOT / ".github" / "workflows" / "promote.yml"
ROLLBACK = ROOT / ".github" / "workflows" / "rollback.yml"
PROMOTE_TEMPLATE = ROOT / "workflows" / "promote-manual.yml"
PROMOTE_GRANTED = {"id-token": "write"}


def publish(simulate: Any, platform: Platform, run_number: str, *, promote: bool = False) -> None:
    """A pipeline run on main that leaves build `run_number` in staging (and in production if `promote`)."""
    run = simulate(run_number=run_number).call(PIPELINE, pipeline_inputs(platform, promote=promote), {}, GRANTED)
    assert run.jobs["publish"].result == "success"


def promote_inputs(platform: Platform, **overrides: str) -> dict[str, str]:
    return {"build-name": "fraud-model", "jfrog-url": platform.sandbox.url, "oidc-provider-name": PROVIDER} | overrides


def test_promote_by_number_then_latest_passing_then_roll_back(simulate: Any, platform: Platform) -> None:
    publish(simulate, platform, "7")
    publish(simulate, platform, "8")

    by_number = simulate(run_number="50").dispatch(
        PROMOTE, promote_inputs(platform, **{"build-number": "7", "comment": "the reviewed one"})
    )
    assert by_number.jobs["promote"].result == "success"
    assert build_statuses(platform, "fraud-model", "7") == ["Staging", "Production"]

    latest = simulate(run_number="51").call(PROMOTE, promote_inputs(platform), {}, PROMOTE_GRANTED)
    job = latest.jobs["promote"]
    assert job.result == "success"
    assert latest.outputs["promoted-build"] == "8"
    assert job.environment == "production"
    assert job.concurrency == "ml-promote-acme/fraud-model-fraud-model"
    assert build_statuses(platform, "fraud-model", "8") == ["Staging", "Production"]

    rollback = simulate(run_number="52").dispatch(ROLLBACK, promote_inputs(platform, comment="8 misbehaves"))
    job = rollback.jobs["rollback"]
    assert job.result == "success"
    assert job.outputs["promoted-build"] == "7"
    assert job.environment == "production"
    assert job.concurrency == "ml-rollback-acme/fraud-model-fraud-model"
    # One GitHub deployment per promotion: the environment's (the action makes none in these jobs).
    made = [(d["environment"], d["description"]) for d in platform.github.deployments.values()]
    assert made[-3:] == [("production", GITHUB_MADE)] * 3
    assert len(made) == 5  # and the two staging promotions of the pipeline runs


def test_an_unknown_environment_from_a_caller_fails_with_one_error_before_any_promotion(
    simulate: Any, platform: Platform
) -> None:
    run = simulate(run_number="50").call(PROMOTE, promote_inputs(platform, environment="prod"), {}, PROMOTE_GRANTED)

    job = run.jobs["promote"]
    assert job.result == "failure"
    assert job.steps[-1].name == "Choose the repositories and the status"
    assert "::error title=Invalid input 'environment'::'prod' is not production or staging" in job.steps[-1].stdout
    assert models_in(platform, "ml-models-prod-local") == {}


def test_malformed_repos_fail_with_one_error(simulate: Any, platform: Platform) -> None:
    run = simulate(run_number="50").call(PROMOTE, promote_inputs(platform, repos="only-one-repo"), {}, PROMOTE_GRANTED)

    step = run.jobs["promote"].steps[-1]
    assert run.jobs["promote"].result == "failure"
    assert "::error title=Invalid input 'repos'::'only-one-repo' is not three repository keys" in step.stdout


def test_the_dispatch_form_only_offers_staging_and_production(simulate: Any, platform: Platform) -> None:
    with pytest.raises(WorkflowError, match=r"'qa' is not one of \['production', 'staging'\]"):
        simulate(run_number="50").dispatch(PROMOTE, promote_inputs(platform, environment="qa"))


def test_the_manual_promotion_template_calls_the_reusable_workflow_as_written(
    simulate: Any, platform: Platform
) -> None:
    publish(simulate, platform, "7")

    runs = simulate(run_number="50").caller(PROMOTE_TEMPLATE, vars_={"JF_URL": platform.sandbox.url})

    assert runs["promote"].jobs["promote"].result == "success"
    assert build_statuses(platform, "fraud-model", "7") == ["Staging", "Production"]
