"""Data sets for the AI-BOM: the `datasets` input, or the MLflow run's dataset inputs over its REST API."""

from __future__ import annotations

import json

import httpx
import pytest

from ml_artifactory_action.errors import MetricsError
from ml_artifactory_action.provenance.datasets import mlflow_datasets, named_datasets
from ml_artifactory_action.provenance.facts import Dataset

# runs/get as MLflow 2.x/3.x answers it after mlflow.log_input(mlflow.data.from_pandas(df, source=...))
RUN = {
    "run": {
        "info": {"run_id": "abc123"},
        "data": {"metrics": [{"key": "accuracy", "value": 0.93}]},
        "inputs": {
            "dataset_inputs": [
                {
                    "tags": [{"key": "mlflow.data.context", "value": "training"}],
                    "dataset": {
                        "name": "creditcard",
                        "digest": "4f3a2b19",
                        "source_type": "http",
                        "source": json.dumps({"url": "https://data.example/creditcard.csv"}),
                    },
                },
                {"dataset": {"name": "holdout", "digest": "77aa", "source_type": "local", "source": "not json"}},
            ]
        },
    }
}


def client(answer: httpx.Response, seen: list[httpx.Request]) -> httpx.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    return httpx.Client(transport=httpx.MockTransport(handle))


def test_the_mlflow_runs_dataset_inputs_become_the_boms_datasets() -> None:
    seen: list[httpx.Request] = []
    found = mlflow_datasets(client(httpx.Response(200, json=RUN), seen), "http://mlflow:5000/", "abc123")
    assert found == (
        Dataset("creditcard", "https://data.example/creditcard.csv", "4f3a2b19"),
        Dataset("holdout", "not json", "77aa"),
    )
    assert str(seen[0].url) == "http://mlflow:5000/api/2.0/mlflow/runs/get?run_id=abc123"


def test_a_run_without_inputs_has_no_datasets() -> None:
    assert mlflow_datasets(client(httpx.Response(200, json={"run": {"info": {}}}), []), "http://m", "r") == ()


def test_a_run_mlflow_does_not_have_is_an_error_saying_what_to_do() -> None:
    missing = httpx.Response(404, json={"error_code": "RESOURCE_DOES_NOT_EXIST"})
    with pytest.raises(MetricsError, match="answered 404 without a run") as error:
        mlflow_datasets(client(missing, []), "http://m", "r")
    assert "datasets input" in error.value.fix


def test_named_datasets_keep_urls_as_their_source() -> None:
    assert named_datasets(["creditcard-2026", "s3://acme/fraud.parquet"]) == (
        Dataset("creditcard-2026"),
        Dataset("s3://acme/fraud.parquet", "s3://acme/fraud.parquet"),
    )
