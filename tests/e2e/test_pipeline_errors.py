"""Bad inputs and refusals end-to-end: each gives one clear error annotation, a summary section, exit 1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from tests.e2e.conftest import ActionHarness, ActionResult
from tests.fakes.sandbox_client import SandboxClient

STAGE = "ml-models-staging-local"


def one_error(result: ActionResult) -> tuple[str, str]:
    assert result.returncode == 1, result.log
    assert len(result.errors) == 1, result.errors
    title, message = result.errors[0]
    assert f"### :x: {title}" in result.summary
    assert "**How to fix:**" in result.summary
    return title, message


def gate(action: ActionHarness, metrics_text: str, thresholds: str, name: str = "metrics.json") -> ActionResult:
    (action.workspace / name).write_text(metrics_text)
    return action.run(
        {"stages": "gate,upload", "model-path": "model.bin", "metrics-file": name, "thresholds": thresholds}
    )


def test_malformed_thresholds(action: ActionHarness) -> None:
    title, message = one_error(gate(action, '{"accuracy": 0.9}', "accuracy >= ninety"))

    assert title == "Invalid input 'thresholds'"
    assert message.startswith("Input 'thresholds': threshold 'accuracy >= ninety': 'ninety' is not a number.")


def test_a_missing_metric(action: ActionHarness) -> None:
    title, message = one_error(gate(action, '{"accuracy": 0.93, "eval": {"loss": 0.2}}', "accuracy >= 0.9\nf1 >= 0.8"))

    assert title == "Metrics not readable"
    assert message == (
        f"Metric 'f1' is not in metrics-file '{action.workspace / 'metrics.json'}'. Metrics found: accuracy, eval.loss. "
        "Fix the metric's name in thresholds (nested keys are joined with '.'), or write it to the metrics."
    )


def test_a_metrics_file_that_is_not_json(action: ActionHarness) -> None:
    title, message = one_error(gate(action, "accuracy = 0.9\n", "accuracy >= 0.9"))

    assert title == "Metrics not readable"
    assert message == (
        f"metrics-file '{action.workspace / 'metrics.json'}' is not valid JSON: Expecting value at line 1 column 1. "
        "Write the metrics as a JSON object, or give a .yaml file."
    )


def test_promoting_a_build_that_does_not_exist(action: ActionHarness, sandbox: SandboxHandle) -> None:
    result = action.run({"stages": "promote", "build-number": "404"})

    title, message = one_error(result)
    assert title == "Promotion failed"
    assert message.startswith("Build fraud-model #404 cannot be promoted: ")
    assert message.endswith(
        "Publish the build first (stage build-publish) with the same build-name and build-number, or give the number of a published build."
    )
    assert SandboxClient(sandbox).files("ml-models-prod-local") == []
    assert result.outputs == {}


@pytest.fixture
def slow_xray(tmp_path: Path) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path / "slow-xray", xray_index_delay=120) as handle:
        yield handle


def test_a_scan_that_does_not_finish_in_scan_timeout(slow_xray: SandboxHandle, tmp_path: Path) -> None:
    action = ActionHarness(slow_xray, tmp_path)
    SandboxClient(slow_xray).deploy(
        STAGE,
        "fraud-model/7/model.json",
        json.dumps({"w": [1, 2]}).encode(),
        **{"build.name": "fraud-model", "build.number": "7"},
    )

    result = action.run({"stages": "build-publish,scan", "scan-timeout": "2"})

    title, message = one_error(result)
    assert title == "Xray scan timed out"
    assert message.startswith("Xray did not finish scanning build fraud-model #7 within 2 s (last answer: ")
    assert message.endswith(
        "Raise scan-timeout, or check that Xray indexes this build (Indexed Resources > Builds) and is healthy."
    )
    assert result.outputs["build-name"] == "fraud-model"
    assert "scan-result" not in result.outputs
