from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from tests.fakes.history import AQL, Repos, item_row, serve_builds, status
from tests.fakes.jfrog import FakeJFrog, log_of, make_context

from ml_artifactory_action.errors import GateFailedError, MetricsError
from ml_artifactory_action.settings import Stage
from ml_artifactory_action.stages import gate

PROD = "ml-models-prod-local"


def metrics_file(tmp_path: Path, metrics: dict[str, object]) -> str:
    (tmp_path / "workspace").mkdir(exist_ok=True)
    (tmp_path / "workspace" / "metrics.json").write_text(json.dumps(metrics))
    return "metrics.json"


def gate_inputs(tmp_path: Path, metrics: dict[str, object], thresholds: str, **more: str) -> dict[str, str]:
    return {"stages": "gate", "metrics-file": metrics_file(tmp_path, metrics), "thresholds": thresholds, **more}


def test_passing_thresholds_set_the_outputs_and_the_result(tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path, gate_inputs(tmp_path, {"accuracy": 0.93, "eval": {"loss": 0.2}}, "accuracy >= 0.9\neval.loss <= 0.3")
    )

    result = gate.run(ctx)

    assert result.passed
    assert [(r.metric, r.value, r.passed) for r in result.rows] == [("accuracy", 0.93, True), ("eval.loss", 0.2, True)]
    assert ctx.runner.outputs == {"gate-passed": "true", "metrics": '{"accuracy": 0.93, "eval.loss": 0.2}'}
    assert "pass: accuracy = 0.93 (needs >= 0.9)" in log_of(ctx)


def test_a_failing_threshold_raises_with_the_table_and_keeps_the_result(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, gate_inputs(tmp_path, {"accuracy": 0.85, "loss": 0.2}, "accuracy >= 0.9\nloss <= 0.3"))

    with pytest.raises(GateFailedError) as caught:
        gate.run(ctx)

    assert caught.value.message == (
        f"The candidate fails 1 of 2 checks (metrics-file '{tmp_path / 'workspace' / 'metrics.json'}'):\n"
        "- accuracy = 0.85: needs >= 0.9"
    )
    assert caught.value.fix.endswith("Nothing was uploaded.")
    assert ctx.state.get(Stage.GATE).passed is False
    assert ctx.runner.outputs["gate-passed"] == "false"


def test_a_missing_metric_is_an_error_not_a_pass(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, gate_inputs(tmp_path, {"accuracy": 0.95}, "f1 >= 0.8"))

    with pytest.raises(MetricsError, match=r"Metric 'f1' is not in metrics-file .* Metrics found: accuracy\."):
        gate.run(ctx)
    assert ctx.runner.outputs == {}


def production_fake(metrics: dict[str, str]) -> FakeJFrog:
    """Build 5 was in production, then build 6 (now), whose files carry `metrics`."""
    fake = FakeJFrog()
    rows = [
        item_row(PROD, "fraud-model/5/model.pkl", "fraud-model", "5", **{"metric.accuracy": "0.99"}),
        item_row(PROD, "fraud-model/6/model.pkl", "fraud-model", "6", **{f"metric.{k}": v for k, v in metrics.items()}),
    ]
    fake.on("POST", AQL, Repos(rows).answer)
    serve_builds(fake, "fraud-model", {"5": {"statuses": [status(1)]}, "6": {"statuses": [status(2)]}})
    return fake


def test_a_regression_beyond_max_regression_fails_in_the_thresholds_direction(tmp_path: Path) -> None:
    fake = production_fake({"accuracy": "0.95", "loss": "0.20"})
    inputs = gate_inputs(
        tmp_path,
        {"accuracy": 0.93, "loss": 0.26},
        "accuracy >= 0.9\nloss <= 0.3",
        **{"compare-to-production": "true", "max-regression": "0.05"},
    )
    ctx = make_context(tmp_path, inputs, fake=fake)

    with pytest.raises(GateFailedError) as caught:
        gate.run(ctx)

    assert caught.value.message.endswith(
        "- loss = 0.26: worse than production (build 6: 0.2) by 0.06, more than max-regression 0.05"
    )
    result = ctx.state.get(Stage.GATE)
    assert result.production_build == "6"
    assert [(r.metric, r.production, round(r.delta, 6), r.passed) for r in result.rows] == [
        ("accuracy", 0.95, -0.02, True),
        ("loss", 0.2, 0.06, False),
    ]
    assert fake.unexpected == []


def test_without_thresholds_every_shared_metric_is_compared_by_its_name(tmp_path: Path) -> None:
    fake = production_fake({"accuracy": "0.95", "val_loss": "0.20", "latency_ms": "10"})
    inputs = {
        "stages": "gate",
        "metrics-file": metrics_file(tmp_path, {"accuracy": 0.96, "val/loss": 0.25, "f1": 0.5}),
        "compare-to-production": "true",
    }
    ctx = make_context(tmp_path, inputs, fake=fake)

    with pytest.raises(GateFailedError, match=r"fails 1 of 2 checks") as caught:
        gate.run(ctx)

    assert "- val/loss = 0.25: worse than production (build 6: 0.2) by 0.05" in caught.value.message
    rows = ctx.state.get(Stage.GATE).rows
    assert [(r.metric, r.higher_is_better) for r in rows] == [("accuracy", True), ("val/loss", False)]


def test_nothing_in_production_checks_thresholds_only(tmp_path: Path) -> None:
    fake = FakeJFrog()
    fake.on("POST", AQL, Repos().answer)
    serve_builds(fake, "fraud-model", {})
    inputs = gate_inputs(tmp_path, {"accuracy": 0.93}, "accuracy >= 0.9", **{"compare-to-production": "true"})
    ctx = make_context(tmp_path, inputs, fake=fake)

    result = gate.run(ctx)

    assert result.passed
    assert result.production_build == ""
    assert "No build of fraud-model is in ml-models-prod-local with status Production" in log_of(ctx)


def test_metrics_from_an_mlflow_run(tmp_path: Path) -> None:
    seen: list[str] = []

    def mlflow(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"run": {"data": {"metrics": [{"key": "auc", "value": 0.81}]}}})

    inputs = {
        "stages": "gate",
        "mlflow-tracking-uri": "http://mlflow:5000",
        "mlflow-run-id": "r1",
        "thresholds": "auc > 0.8",
    }
    ctx = make_context(tmp_path, inputs, transport=httpx.MockTransport(mlflow))

    result = gate.run(ctx)

    assert result.passed
    assert result.source == "MLflow run 'r1' at http://mlflow:5000"
    assert seen == ["http://mlflow:5000/api/2.0/mlflow/runs/get?run_id=r1"]
