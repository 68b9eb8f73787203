from __future__ import annotations

import json

import httpx

from ml_artifactory_action.artifactory.models import (
    Item,
    build_items,
    items_at,
    items_with_properties,
    metric_key,
    metric_properties,
)
from ml_artifactory_action.artifactory.search import MAX_QUERY_CHARS
from tests.fakes.jfrog import FakeJFrog, jfrog_json

ROW = {
    "repo": "prod",
    "path": "fraud/7",
    "name": "model.pkl",
    "size": 12,
    "sha256": "s" * 64,
    "actual_sha1": "1" * 40,
    "actual_md5": "5" * 32,
    "created": "2024-05-01T10:00:00.000Z",
    "properties": [{"key": "build.number", "value": "7"}, {"key": "tag", "value": "a"}, {"key": "tag", "value": "b"}],
}


def aql_criteria(request: httpx.Request) -> dict[str, object]:
    text = request.content.decode()
    assert text.startswith("items.find(")
    assert ").include(" in text
    criteria: dict[str, object] = json.loads(text[len("items.find(") : text.index(").include(")])
    return criteria


def test_build_items_queries_by_build_properties_and_reads_checksums_and_properties() -> None:
    fake = FakeJFrog()
    fake.on("POST", "/artifactory/api/search/aql", jfrog_json({"results": [ROW]}))

    [item] = build_items(fake.client(), "prod", "fraud", "7")

    assert aql_criteria(fake.requests[0]) == {
        "repo": "prod",
        "@build.name": "fraud",
        "@build.number": "7",
        "type": "file",
    }
    assert item.repo_path == "fraud/7/model.pkl"
    assert (item.size, item.sha1, item.md5) == (12, "1" * 40, "5" * 32)
    assert item.properties == {"build.number": ("7",), "tag": ("a", "b")}
    assert item.prop("tag") == "a"
    assert item.prop("missing") == ""


def test_items_at_asks_for_exact_paths_in_queries_artifactory_accepts() -> None:
    fake = FakeJFrog()
    fake.on("POST", "/artifactory/api/search/aql", jfrog_json({"results": [ROW | {"path": ".", "name": "f0"}]}))
    paths = [f"f{i}" for i in range(150)] + [f"deep/folder/with/a/long/name/file-{i}.safetensors" for i in range(150)]

    found = items_at(fake.client(), "prod", paths)

    assert list(found) == ["f0"]
    assert len(fake.requests) > 1
    assert all(len(r.content) <= MAX_QUERY_CHARS for r in fake.requests)  # Artifactory refuses > 6000 by default
    asked = [term for r in fake.requests for term in aql_criteria(r)["$or"]]  # type: ignore[union-attr]
    assert asked[0] == {"path": ".", "name": "f0"}
    assert asked[-1] == {"path": "deep/folder/with/a/long/name", "name": "file-149.safetensors"}
    assert len(asked) == len(paths)
    assert all(aql_criteria(r)["repo"] == "prod" for r in fake.requests)


def test_items_with_properties_ands_every_value() -> None:
    fake = FakeJFrog()
    fake.on("POST", "/artifactory/api/search/aql", jfrog_json({"results": []}))

    assert items_with_properties(fake.client(), "prod", (("env", ("production",)), ("tag", ("a", "b")))) == []
    assert aql_criteria(fake.requests[0])["$and"] == [{"@env": "production"}, {"@tag": "a"}, {"@tag": "b"}]


def test_metric_properties_come_from_the_first_file_that_has_them() -> None:
    plain = Item("prod", ".", "README.md")
    model = Item("prod", ".", "m.pkl", properties={"metric.accuracy": ("0.93",), "metric.bad": ("x",), "other": ("1",)})

    assert metric_properties([plain, model]) == {"accuracy": 0.93}
    assert metric_key("val/loss") == "val_loss"
    assert metric_key("eval.f1") == "eval.f1"
