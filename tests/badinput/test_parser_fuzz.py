"""Hypothesis against the parsers of user-supplied text: thresholds, properties, metrics.

Each parser either parses or raises its documented error (ValueError for the input parsers, which
the settings turn into ConfigError; MetricsError for metrics), never anything else; and what can
be written back is read back the same (thresholds, properties, and the matrix parameters the
upload sends, decoded by the sandbox's parser as Artifactory decodes them).
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from artifactory_sandbox.props import matrix_params as sandbox_matrix_params
from ml_artifactory_action.artifactory.properties import matrix_params, parse_properties
from ml_artifactory_action.errors import MetricsError
from ml_artifactory_action.model.metrics import fetch_mlflow_metrics, load_metrics_file
from ml_artifactory_action.model.thresholds import OPERATORS, Threshold, parse_thresholds

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEEP = 100_000  # nesting deeper than Python's recursion limit

# Pieces of the grammars, so that generated text is often nearly valid, not only noise.
metric_names = st.from_regex(r"[A-Za-z_][\w.\-/]{0,20}", fullmatch=True)
operators = st.sampled_from(sorted(OPERATORS))
limits = st.floats(allow_nan=False, allow_infinity=False, width=64)
property_keys = st.from_regex(r"[A-Za-z][A-Za-z0-9_.:\-]{0,15}", fullmatch=True)
# Values as users write them: anything printable on one line but the escape character (see below).
property_values = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\\"), min_size=1, max_size=20
).filter(lambda v: v.strip() == v and v != "")
near_thresholds = st.lists(
    st.one_of(
        st.builds(
            lambda m, o, v: f"{m} {o} {v}", metric_names, operators, st.one_of(limits.map(repr), st.text(max_size=5))
        ),
        st.text(max_size=30),
    ),
    max_size=5,
).map("\n".join)
near_properties = st.lists(
    st.one_of(
        st.builds(lambda k, v: f"{k}={v}", st.one_of(property_keys, st.text(max_size=8)), st.text(max_size=12)),
        st.text(max_size=20),
    ),
    max_size=5,
).map(";".join)


# Thresholds ------------------------------------------------------------------------------------
@FUZZ
@given(st.one_of(near_thresholds, st.text()))
def test_thresholds_parse_or_raise_value_error(text: str) -> None:
    try:
        parsed = parse_thresholds(text)
    except ValueError as error:
        refusal = str(error)
    else:
        assert all(isinstance(t, Threshold) and math.isfinite(t.value) for t in parsed)
        return
    assert refusal.startswith(("cannot read threshold", "threshold "))


@FUZZ
@given(st.lists(st.tuples(metric_names, operators, limits), max_size=6))
def test_thresholds_written_one_per_line_read_back_the_same(items: list[tuple[str, str, float]]) -> None:
    text = "\n".join(f"{metric} {op} {value!r}" for metric, op, value in items)
    assert parse_thresholds(text) == tuple(Threshold(m, o, v) for m, o, v in items)


# Properties ------------------------------------------------------------------------------------
@FUZZ
@given(st.one_of(near_properties, st.text()))
def test_properties_parse_or_raise_value_error(text: str) -> None:
    try:
        parsed = parse_properties(text)
    except ValueError as error:
        refusal = str(error)
    else:
        assert all(key and values and all(values) for key, values in parsed)
        return
    assert refusal.startswith(("cannot read property", "property key", "property "))


def escaped(value: str) -> str:
    return value.replace(";", "\\;").replace(",", "\\,")


def written(props: dict[str, list[str]]) -> str:
    """How a user writes properties: `;` between pairs, `,` between values, both escaped in values."""
    return ";".join(f"{key}={','.join(escaped(v) for v in values)}" for key, values in props.items())


unique_values = st.lists(property_values, min_size=1, max_size=3, unique=True)


@FUZZ
@given(st.dictionaries(property_keys, unique_values, max_size=5))
def test_properties_written_with_escapes_read_back_the_same(props: dict[str, list[str]]) -> None:
    parsed = parse_properties(written(props))
    assert {key: list(values) for key, values in parsed} == props


@FUZZ
@given(st.dictionaries(property_keys, unique_values, max_size=5))
@example({"build.name": ["a,b"], "note": ["x;y=z", "50% + 1"]})
def test_matrix_parameters_decode_to_the_same_properties_on_the_server(props: dict[str, list[str]]) -> None:
    encoded = matrix_params(tuple((key, tuple(values)) for key, values in props.items()))
    assert sandbox_matrix_params(f"/ml-models-dev-local/model.bin{encoded}") == props


# Metrics files ---------------------------------------------------------------------------------
def load(content: bytes, suffix: str) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"metrics{suffix}"
        path.write_bytes(content)
        return load_metrics_file(path)


json_documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(
    st.one_of(
        json_documents.map(lambda doc: json.dumps(doc).encode()),
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
    ),
    st.sampled_from([".json", ".yaml", ".yml", ".txt", ""]),
)
@example(b"[" * DEEP, ".json")
@example(b"[" * DEEP, ".yaml")
@example(b'{"a":' * DEEP, ".txt")
@example(b"- " * 5000 + b"1", ".yaml")
@example(b"&a [*a]", ".yaml")
@example(b"!!python/object/apply:os.system ['echo pwned']", ".yaml")
def test_metrics_files_parse_or_raise_metrics_error(content: bytes, suffix: str) -> None:
    try:
        metrics = load(content, suffix)
    except MetricsError as error:
        refusal = error
    else:
        assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values.values())
        return
    assert refusal.message.startswith("metrics-file ")
    assert refusal.fix


@FUZZ
@given(st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), limits, max_size=5))
def test_metrics_read_back_as_written(values: dict[str, float]) -> None:
    metrics = load(json.dumps({"eval": values}).encode(), ".json")
    assert metrics.values == {f"eval.{name}": value for name, value in values.items()}


# MLflow answers --------------------------------------------------------------------------------
@FUZZ
@given(
    st.one_of(
        json_documents.map(lambda doc: json.dumps({"run": doc}).encode()),
        json_documents.map(lambda doc: json.dumps({"run": {"data": doc}}).encode()),
        json_documents.map(lambda doc: json.dumps({"run": {"data": {"metrics": doc}}}).encode()),
        json_documents.map(lambda doc: json.dumps(doc).encode()),
        st.binary(max_size=100),
    ),
    st.sampled_from([200, 404, 500]),
)
@example(b'{"run": {"data": []}}', 200)
@example(b'{"run": {"data": {"metrics": [1, "x", {"key": 1}]}}}', 200)
def test_mlflow_answers_parse_or_raise_metrics_error(body: bytes, status: int) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=body))
    with httpx.Client(transport=transport) as http:
        try:
            metrics = fetch_mlflow_metrics(http, "http://mlflow.test", "run-1")
        except MetricsError as error:
            refusal = error
        else:
            assert all(isinstance(v, float) for v in metrics.values.values())
            return
    assert "MLflow run 'run-1' at http://mlflow.test" in refusal.message
    assert refusal.fix


@pytest.mark.parametrize("key", ["1st", "_private", ".hidden", "-x"])
def test_a_property_key_artifactory_refuses_is_refused_here(key: str) -> None:
    """Artifactory: a property name must start with a letter; the server would refuse the deploy."""
    with pytest.raises(ValueError, match=f"property key '{key}'"):
        parse_properties(f"{key}=value")
