"""An emergency rollback never queues behind, and is never cancelled by, a promotion nobody approved."""

from __future__ import annotations

from typing import Any

from tests.workflows.concurrency import ConcurrencyGroups, concurrency_group
from tests.workflows.conftest import github_context
from tests.workflows.simulator import ROOT

PIPELINE = ROOT / ".github" / "workflows" / "ml-pipeline.yml"
PROMOTE = ROOT / ".github" / "workflows" / "promote.yml"
ROLLBACK = ROOT / ".github" / "workflows" / "rollback.yml"


def pipeline_promote_group(build_name: str) -> str:
    contexts: dict[str, Any] = {
        "github": github_context(),
        "needs": {"publish": {"outputs": {"build-name": build_name}}},
    }
    return concurrency_group(PIPELINE, "promote", contexts)


def dispatched_group(workflow: Any, job: str, build_name: str) -> str:
    return concurrency_group(workflow, job, {"github": github_context(), "inputs": {"build-name": build_name}})


def test_a_rollback_runs_while_a_promotion_waits_for_approval_and_the_next_push_does_not_cancel_it() -> None:
    groups = ConcurrencyGroups()
    unapproved = groups.queue("push 1: promote", pipeline_promote_group("fraud-model"), needs_approval=True)

    rollback = groups.queue("rollback", dispatched_group(ROLLBACK, "rollback", "fraud-model"), needs_approval=True)
    next_push = groups.queue("push 2: promote", pipeline_promote_group("fraud-model"), needs_approval=True)

    assert unapproved.state == "waiting"
    assert rollback.state == "waiting", "the rollback queued behind a promotion nobody approved"
    assert next_push.state == "pending"


def test_promotions_of_one_build_name_by_the_pipeline_and_by_hand_never_interleave() -> None:
    by_pipeline = pipeline_promote_group("fraud-model")

    assert dispatched_group(PROMOTE, "promote", "fraud-model") == by_pipeline
    assert dispatched_group(PROMOTE, "promote", "churn-model") != by_pipeline


def test_the_model_cancels_the_pending_job_when_another_is_queued_as_github_documents() -> None:
    groups = ConcurrencyGroups()
    groups.queue("a", "Deploy", needs_approval=False)
    second = groups.queue("b", "deploy", needs_approval=False)

    third = groups.queue("c", "DEPLOY", needs_approval=False)

    assert (second.state, third.state) == ("cancelled", "pending")
