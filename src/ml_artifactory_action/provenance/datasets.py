"""The data sets a model was trained on: the `datasets` input, or the MLflow run's dataset inputs.

MLflow records them on the run (`mlflow.log_input`); `runs/get` returns them under
`run.inputs.dataset_inputs[].dataset` with a name, a digest and a source (a JSON text such as
`{"uri": "s3://bucket/train.csv"}`). They are read over the REST API, as the gate reads metrics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from ml_artifactory_action.errors import MetricsError
from ml_artifactory_action.provenance.facts import Dataset
from ml_artifactory_action.settings import Settings

MLFLOW_RUN_API = "api/2.0/mlflow/runs/get"
_SOURCE_KEYS = ("uri", "url", "path", "hf_dataset_name", "table_name")


def datasets_of(settings: Settings, http: Callable[[], httpx.Client]) -> tuple[Dataset, ...]:
    """The `datasets` input, else the MLflow run's dataset inputs when the gate reads MLflow."""
    if settings.datasets:
        return named_datasets(settings.datasets)
    if settings.metrics_file is None and settings.mlflow_tracking_uri and settings.mlflow_run_id:
        with http() as client:
            return mlflow_datasets(client, settings.mlflow_tracking_uri, settings.mlflow_run_id)
    return ()


def named_datasets(names: Sequence[str]) -> tuple[Dataset, ...]:
    """The `datasets` input: one name (or URL) per line."""
    return tuple(Dataset(name, source=name if "://" in name else "") for name in names)


def mlflow_datasets(http: httpx.Client, tracking_uri: str, run_id: str) -> tuple[Dataset, ...]:
    """The dataset inputs of an MLflow run; MetricsError when the run cannot be read."""
    source = f"MLflow run '{run_id}' at {tracking_uri}"
    try:
        response = http.get(f"{tracking_uri.rstrip('/')}/{MLFLOW_RUN_API}", params={"run_id": run_id})
        body = response.json() if response.is_success else None
    except (httpx.HTTPError, ValueError) as exc:
        raise MetricsError(
            f"Cannot read the data sets of {source}: {exc!r}.",
            fix="Check mlflow-tracking-uri, or name the data sets in the datasets input.",
        ) from None
    run = body.get("run") if isinstance(body, dict) else None
    if not isinstance(run, dict):
        raise MetricsError(
            f"{source} answered {response.status_code} without a run, so its data sets are unknown.",
            fix="Check mlflow-run-id and mlflow-tracking-uri, or name the data sets in the datasets input.",
        )
    inputs = run.get("inputs")
    entries = inputs.get("dataset_inputs", []) if isinstance(inputs, dict) else []
    return tuple(_dataset(e["dataset"]) for e in entries if isinstance(e, dict) and isinstance(e.get("dataset"), dict))


def _dataset(dataset: dict[str, Any]) -> Dataset:
    return Dataset(
        name=str(dataset.get("name") or "unnamed"),
        source=_source(str(dataset.get("source") or "")),
        digest=str(dataset.get("digest") or ""),
    )


def _source(text: str) -> str:
    """The location inside MLflow's JSON source text, or the text itself."""
    try:
        document = json.loads(text)
    except ValueError:
        return text
    if isinstance(document, dict):
        return next((str(document[k]) for k in _SOURCE_KEYS if document.get(k)), "")
    return text
