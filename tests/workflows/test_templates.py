"""The caller templates that are not reusable-workflow calls: the PR preview and the nightly re-scan."""

from __future__ import annotations

from typing import Any

from ml_artifactory_action.report import MARKER as REPORT_MARKER
from tests.workflows.conftest import REPOSITORY, Platform
from tests.workflows.simulator import ROOT
from tests.workflows.test_ml_pipeline import models_in
from tests.workflows.test_promotion import publish

PR_PREVIEW = ROOT / "workflows" / "pr-preview.yml"
RESCAN = ROOT / "workflows" / "rescan-production.yml"
PR_NUMBER = 12


def pull_request_context() -> dict[str, Any]:
    return {
        "event_name": "pull_request",
        "ref": f"refs/pull/{PR_NUMBER}/merge",
        "ref_name": f"{PR_NUMBER}/merge",
        "event": {
            "number": PR_NUMBER,
            "pull_request": {"number": PR_NUMBER, "head": {"ref": "better-features"}, "base": {"ref": "main"}},
            "repository": {"full_name": REPOSITORY, "default_branch": "main"},
        },
    }


def test_the_pr_preview_gates_comments_and_changes_nothing_in_artifactory(simulate: Any, platform: Platform) -> None:
    simulator = simulate(**pull_request_context())

    run = simulator.trigger(PR_PREVIEW, vars_={"JF_URL": platform.sandbox.url})

    job = run.jobs["preview"]
    assert job.result == "success", job.actions[-1].log if job.actions else job.steps[-1].stdout
    # The pull request's code ran, and where it ran no ID token could be requested.
    pr_code = [step for j in run.jobs.values() for step in j.steps if "train.py" in step.name]
    assert pr_code
    assert all("ACTIONS_ID_TOKEN_REQUEST_TOKEN" not in step.env for step in pr_code)
    assert job.actions[0].outputs["gate-passed"] == "true"
    comments = platform.github.issue_comments(PR_NUMBER)
    assert len(comments) == 1
    assert REPORT_MARKER in comments[0]["body"]
    assert "dry run" in comments[0]["body"]
    for repo in ("ml-models-dev-local", "ml-models-staging-local", "ml-models-prod-local"):
        assert models_in(platform, repo) == {}


def test_a_second_push_to_the_pr_updates_the_same_comment(simulate: Any, platform: Platform) -> None:
    simulate(**pull_request_context()).trigger(PR_PREVIEW, vars_={"JF_URL": platform.sandbox.url})
    simulate(**pull_request_context()).trigger(PR_PREVIEW, vars_={"JF_URL": platform.sandbox.url})

    assert len(platform.github.issue_comments(PR_NUMBER)) == 1


def test_the_nightly_rescan_scans_the_build_now_in_production(simulate: Any, platform: Platform) -> None:
    publish(simulate, platform, "7", promote=True)
    simulator = simulate(event_name="schedule", run_number="99")  # not the build's number

    run = simulator.trigger(RESCAN, vars_={"JF_URL": platform.sandbox.url})

    job = run.jobs["rescan"]
    assert job.result == "success"
    found, scanned = job.actions
    assert found.outputs["resolved-build"] == "7"
    assert job.step("Scan it again").inputs["build-number"] == "7"
    assert scanned.outputs["scan-result"] == "pass"
