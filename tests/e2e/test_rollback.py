"""Rollback against the sandbox: production goes back to the build before the current one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from artifactory_sandbox.testing import SandboxHandle
from tests.e2e.conftest import FAKE_GITHUB_TOKEN, ActionHarness, ActionResult
from tests.fakes.github_api import FakeGitHub, run_fake_github
from tests.fakes.sandbox_client import SandboxClient

STAGE, PROD = "ml-models-staging-local", "ml-models-prod-local"
MODELS = {"1": b'{"weights": [0.1, 0.2]}', "2": b'{"weights": [0.3, 0.4]}'}


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with run_fake_github(FAKE_GITHUB_TOKEN) as fake:
        yield fake


def uploaded_elsewhere(sandbox: SandboxHandle, number: str) -> None:
    """The upload job of run `number` left its files in staging with their build properties."""
    props = {"build.name": "fraud-model", "build.number": number, "build.timestamp": f"171455760{number}000"}
    SandboxClient(sandbox).deploy(STAGE, f"fraud-model/{number}/model.json", MODELS[number], **props)


def ok(result: ActionResult) -> ActionResult:
    assert result.returncode == 0, result.log
    assert result.errors == []
    return result


def ship(action: ActionHarness, sandbox: SandboxHandle, github: FakeGitHub, number: str) -> None:
    uploaded_elsewhere(sandbox, number)
    run = {"GITHUB_RUN_NUMBER": number, "GITHUB_RUN_ID": f"5000{number}", "GITHUB_API_URL": github.url}
    ok(action.run({"stages": "build-publish,promote"}, env=run))


def test_rollback_puts_the_previous_build_back_and_a_rerun_does_not_flip_it(
    action: ActionHarness, sandbox: SandboxHandle, github: FakeGitHub
) -> None:
    client = SandboxClient(sandbox)
    ship(action, sandbox, github, "1")
    ship(action, sandbox, github, "2")
    assert ok(action.run({"stages": "resolve", "download-dir": "before"})).outputs["resolved-build"] == "2"
    later_run = {"GITHUB_RUN_ID": "60001", "GITHUB_API_URL": github.url}

    rollback = ok(action.run({"stages": "promote,resolve", "rollback": "true", "download-dir": "after"}, env=later_run))

    assert rollback.outputs["promoted"] == "true"
    assert rollback.outputs["promoted-build"] == "1"
    assert rollback.outputs["resolved-build"] == "1"
    assert (action.workspace / "after" / "model.json").read_bytes() == MODELS["1"]
    assert (action.workspace / "before" / "model.json").read_bytes() == MODELS["2"]
    props = client.properties(PROD, "fraud-model/1/model.json")
    assert props["promoted.rollback-of"] == ["2"]
    assert props["promoted.run"] == ["https://github.com/acme/fraud-model/actions/runs/60001"]
    assert "Rolled back: build [fraud-model #1]" in rollback.summary
    assert "replaces #2 in `ml-models-prod-local` as **Production**." in rollback.summary
    statuses = [s["status"] for s in (client.build("fraud-model", "1") or {}).get("statuses", [])]
    assert statuses == ["Production", "Production"]

    rerun = ok(action.run({"stages": "promote", "rollback": "true"}, env=later_run | {"GITHUB_RUN_ATTEMPT": "2"}))

    assert rerun.outputs["promoted-build"] == "1"
    assert rerun.outputs["deployment-id"] == rollback.outputs["deployment-id"] != ""
    deployments = sorted((d["payload"]["build_number"], d["sha"]) for d in github.deployments.values())
    assert deployments == [
        ("1", "3f786850e387550fdab836ed7e6dc881de23001b"),
        ("1", "3f786850e387550fdab836ed7e6dc881de23001b"),
        ("2", "3f786850e387550fdab836ed7e6dc881de23001b"),
    ]
    assert "already in ml-models-prod-local as Production; nothing to do" in rerun.stdout
    assert len((client.build("fraud-model", "1") or {}).get("statuses", [])) == 2


def test_rollback_with_one_build_in_production_is_refused(
    action: ActionHarness, sandbox: SandboxHandle, github: FakeGitHub
) -> None:
    ship(action, sandbox, github, "1")

    result = action.run({"stages": "promote", "rollback": "true"}, env={"GITHUB_API_URL": github.url})

    assert result.returncode == 1
    assert result.errors == [
        (
            "Promotion failed",
            "Nothing to roll back to: build fraud-model #1 is the only one that has been in production (ml-models-prod-local). "
            "Promote a build explicitly instead (rollback: false with build-number).",
        )
    ]
