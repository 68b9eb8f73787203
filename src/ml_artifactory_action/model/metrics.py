"""The candidate's metrics: from a JSON/YAML file (nested keys by dotted path) or an MLflow run.

MLflow is read over its REST API (`GET {uri}/api/2.0/mlflow/runs/get?run_id=`), so the action
does not install mlflow. A metric that is asked for but missing is an error, never a pass.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from ml_artifactory_action.errors import MetricsError

# A metrics file is a small document; a bigger one is almost certainly the wrong file.
MAX_METRICS_FILE_BYTES = 10 * 1024 * 1024
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
MLFLOW_RUN_API = "api/2.0/mlflow/runs/get"
MAX_LISTED_NAMES = 20


@dataclass(frozen=True)
class Metrics:
    """Numeric metrics by name (dotted path for nested documents), and where they came from."""

    values: dict[str, float]
    source: str
    # Leaves that are not numbers (`model: resnet`), to explain why such a metric cannot be gated.
    other: dict[str, str] = field(default_factory=dict)

    def require(self, name: str) -> float:
        """The value of `name`; MetricsError naming it and the metrics that exist when it is missing."""
        if name in self.values:
            return self.values[name]
        if name in self.other:
            raise MetricsError(
                f"Metric '{name}' in {self.source} is {self.other[name]!r}, not a number.",
                fix="Write the metric as a number, or gate on another metric.",
            )
        raise MetricsError(
            f"Metric '{name}' is not in {self.source}. Metrics found: {self.names_text()}.",
            fix="Fix the metric's name in thresholds (nested keys are joined with '.'), or write it to the metrics.",
        )

    def names_text(self) -> str:
        names = sorted(self.values)
        if not names:
            return "none"
        shown = ", ".join(names[:MAX_LISTED_NAMES])
        return shown + (f" and {len(names) - MAX_LISTED_NAMES} more" if len(names) > MAX_LISTED_NAMES else "")


def load_metrics_file(path: Path) -> Metrics:
    """Read a JSON or YAML metrics document (by suffix; other suffixes: JSON, then YAML)."""
    source = f"metrics-file '{path}'"
    text = _read_small_text(path, source)
    try:
        document = _parse_document(text, path.suffix.lower(), source)
        if not isinstance(document, Mapping):
            kind = type(document).__name__
            raise MetricsError(
                f"{source} holds a {kind}, not an object of metrics.",
                fix='Write an object such as {"accuracy": 0.93, "eval": {"loss": 0.21}}.',
            )
        values, other = flatten(document)
    except RecursionError:  # JSON/YAML nested thousands deep, or a YAML mapping that holds itself
        raise MetricsError(
            f"{source} is nested too deeply (or refers to itself) to be a metrics document.",
            fix='Write an object of numbers nested a few levels at most, e.g. {"eval": {"loss": 0.21}}.',
        ) from None
    return Metrics(values, source, other)


def _read_small_text(path: Path, source: str) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_METRICS_FILE_BYTES:
            raise MetricsError(
                f"{source} is {size} bytes; a metrics file is expected to be small.",
                fix="Point metrics-file at the JSON or YAML file of metrics, not at the model or a data set.",
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MetricsError(
            f"{source} does not exist.",
            fix="Write the metrics file before this step, or fix the path (relative to the workspace).",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MetricsError(f"{source} cannot be read: {exc}.", fix="Check the file's path and encoding.") from None


def _parse_document(text: str, suffix: str, source: str) -> Any:
    if suffix in YAML_SUFFIXES:
        return _parse_yaml(text, source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if suffix == ".json":
            raise MetricsError(
                f"{source} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
                fix="Write the metrics as a JSON object, or give a .yaml file.",
            ) from None
    return _parse_yaml(text, source)


def _parse_yaml(text: str, source: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1} column {where.column + 1}" if where is not None else ""
        raise MetricsError(
            f"{source} is neither JSON nor YAML{at}.",
            fix="Write the metrics as a JSON object or a YAML mapping.",
        ) from None


def flatten(document: Mapping[Any, Any], prefix: str = "") -> tuple[dict[str, float], dict[str, str]]:
    """Numeric leaves by dotted path (`eval.f1`), and the other leaves as text."""
    values: dict[str, float] = {}
    other: dict[str, str] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            nested_values, nested_other = flatten(value, f"{name}.")
            values.update(nested_values)
            other.update(nested_other)
        elif _is_number(value):
            values[name] = float(value)
        else:
            other[name] = str(value)
    return values, other


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def fetch_mlflow_metrics(http: httpx.Client, tracking_uri: str, run_id: str) -> Metrics:
    """The latest value of every metric of an MLflow run, read over MLflow's REST API."""
    source = f"MLflow run '{run_id}' at {tracking_uri}"
    url = f"{tracking_uri.rstrip('/')}/{MLFLOW_RUN_API}"
    try:
        response = http.get(url, params={"run_id": run_id})
    except httpx.HTTPError as exc:
        raise MetricsError(
            f"Cannot reach {source}: {exc!r}.",
            fix="Check mlflow-tracking-uri and that the tracking server is reachable from the runner.",
        ) from None
    run = _mlflow_run(response, source)
    data = run.get("data")
    metrics = data.get("metrics") if isinstance(data, dict) else None
    values = {
        str(m["key"]): float(m["value"])
        for m in (metrics if isinstance(metrics, list) else [])
        if isinstance(m, dict) and "key" in m and _is_number(m.get("value"))
    }
    return Metrics(values, source)


def _mlflow_run(response: httpx.Response, source: str) -> dict[str, Any]:
    body = _json_or_empty(response)
    if response.status_code == 404 or body.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
        raise MetricsError(f"{source} does not exist.", fix="Check mlflow-run-id and mlflow-tracking-uri.")
    if response.status_code in (401, 403):
        raise MetricsError(
            f"{source} refused the request ({response.status_code}).",
            fix="The tracking server needs credentials the action does not send; expose the metrics through metrics-file instead.",
        )
    if not response.is_success or not isinstance(body.get("run"), dict):
        detail = body.get("message") or response.text[:300]
        raise MetricsError(
            f"{source} answered {response.status_code}: {detail}",
            fix="Check that mlflow-tracking-uri is the tracking server's base URL.",
        )
    run: dict[str, Any] = body["run"]
    return run


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
