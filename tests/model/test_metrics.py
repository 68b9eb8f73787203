from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from ml_artifactory_action.errors import MetricsError
from ml_artifactory_action.model.metrics import Metrics, fetch_mlflow_metrics, flatten, load_metrics_file


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_nested_json_keys_become_dotted_paths_and_non_numbers_are_kept_apart(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "m.json",
        json.dumps({"accuracy": 0.93, "eval": {"loss": 0.2, "f1": 1}, "model": "resnet", "ok": True}),
    )

    metrics = load_metrics_file(path)

    assert metrics.values == {"accuracy": 0.93, "eval.loss": 0.2, "eval.f1": 1.0}
    assert metrics.other == {"model": "resnet", "ok": "True"}
    assert metrics.source == f"metrics-file '{path}'"


def test_yaml_by_suffix_and_yaml_fallback_for_other_suffixes(tmp_path: Path) -> None:
    assert load_metrics_file(write(tmp_path, "m.yaml", "accuracy: 0.9\neval:\n  loss: 0.3\n")).values == {
        "accuracy": 0.9,
        "eval.loss": 0.3,
    }
    assert load_metrics_file(write(tmp_path, "m.txt", "auc: 0.7\n")).values == {"auc": 0.7}


def test_a_json_file_that_is_not_json_names_the_file_and_the_position(tmp_path: Path) -> None:
    path = write(tmp_path, "metrics.json", "accuracy: 0.9\n")

    with pytest.raises(MetricsError) as caught:
        load_metrics_file(path)

    assert caught.value.message == f"metrics-file '{path}' is not valid JSON: Expecting value at line 1 column 1."
    assert caught.value.fix == "Write the metrics as a JSON object, or give a .yaml file."


def test_a_document_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MetricsError, match=r"holds a list, not an object of metrics"):
        load_metrics_file(write(tmp_path, "m.json", "[0.9, 0.8]"))


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(MetricsError, match=r"does not exist"):
        load_metrics_file(tmp_path / "nope.json")


def test_broken_yaml_gives_the_line(tmp_path: Path) -> None:
    with pytest.raises(MetricsError, match=r"is neither JSON nor YAML at line 2"):
        load_metrics_file(write(tmp_path, "m.yml", "a: 1\n b: [\n"))


def test_require_names_the_missing_metric_and_the_metrics_that_exist() -> None:
    metrics = Metrics({"accuracy": 0.9, "eval.loss": 0.2}, "metrics-file 'm.json'", {"model": "resnet"})

    assert metrics.require("accuracy") == 0.9
    with pytest.raises(MetricsError) as caught:
        metrics.require("f1")
    assert caught.value.message == "Metric 'f1' is not in metrics-file 'm.json'. Metrics found: accuracy, eval.loss."
    with pytest.raises(MetricsError, match=r"Metric 'model' in metrics-file 'm.json' is 'resnet', not a number."):
        metrics.require("model")


def test_non_finite_numbers_are_not_metrics() -> None:
    values, other = flatten({"a": float("nan"), "b": float("inf"), "c": 2})
    assert values == {"c": 2.0}
    assert other == {"a": "nan", "b": "inf"}


def mlflow(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(transport=handler)


def test_mlflow_metrics_are_read_from_the_rest_api() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        run = {
            "info": {"run_id": "abc"},
            "data": {"metrics": [{"key": "accuracy", "value": 0.91, "step": 3}, {"key": "val/loss", "value": 0.2}]},
        }
        return httpx.Response(200, json={"run": run})

    metrics = fetch_mlflow_metrics(mlflow(httpx.MockTransport(answer)), "http://mlflow.local:5000/", "abc")

    assert metrics.values == {"accuracy": 0.91, "val/loss": 0.2}
    assert str(seen[0].url) == "http://mlflow.local:5000/api/2.0/mlflow/runs/get?run_id=abc"
    assert metrics.source == "MLflow run 'abc' at http://mlflow.local:5000/"


def test_an_unknown_mlflow_run_is_a_metrics_error() -> None:
    body = {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Run 'x' not found"}
    client = mlflow(httpx.MockTransport(lambda _r: httpx.Response(404, json=body)))

    with pytest.raises(MetricsError) as caught:
        fetch_mlflow_metrics(client, "http://mlflow.local", "x")

    assert caught.value.message == "MLflow run 'x' at http://mlflow.local does not exist."


def test_an_unreachable_mlflow_server_is_a_metrics_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(MetricsError, match=r"Cannot reach MLflow run 'x' at http://mlflow.local"):
        fetch_mlflow_metrics(mlflow(httpx.MockTransport(refuse)), "http://mlflow.local", "x")


def test_an_mlflow_server_that_wants_credentials_says_what_to_do() -> None:
    client = mlflow(httpx.MockTransport(lambda _r: httpx.Response(401, text="no")))

    with pytest.raises(MetricsError) as caught:
        fetch_mlflow_metrics(client, "http://mlflow.local", "x")

    assert "refused the request (401)" in caught.value.message
    assert "metrics-file" in caught.value.fix
