"""The sandbox's `api/machinelearning` refusals and edge cases, driven with plain HTTP (frogml's
happy paths are in test_frogml.py)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from .conftest import errors

ML = "ml-local"
API = f"/artifactory/api/machinelearning/{ML}"
DATA = b"model-bytes" * 100


@pytest.fixture
def ml(admin: httpx.Client) -> httpx.Client:
    assert (
        admin.put(
            f"/artifactory/api/repositories/{ML}", json={"rclass": "local", "packageType": "machinelearning"}
        ).status_code
        == 200
    )
    return admin


def manifest(path: str = "model.pkl", data: bytes = DATA) -> dict[str, Any]:
    return {
        "created_date": "2026-12-03T10:00:00.00",
        "model_artifacts": [{"artifact_path": path, "size": len(data), "checksums": {"sha2": hashlib.sha256(data).hexdigest()}}],
        "model_format": {"framework": "files", "framework_version": "", "serialization_format": "pkl",
                         "runtime": "python", "runtime_version": "3.11"},
    }  # fmt: skip


def start(client: httpx.Client, name: str = "fraud", version: str = "1.0") -> httpx.Response:
    return client.post(f"{API}/model/{name}/start-transaction/{version}")


def finish(client: httpx.Client, opened: dict[str, Any], body: dict[str, Any], extra: Any = None) -> httpx.Response:
    files = {"modelManifest": ("modelManifest", json.dumps(body), "application/octet-stream"),
             "additionalData": ("additionalData", json.dumps(extra), "application/octet-stream")}  # fmt: skip
    lead = opened["leadUploadPath"]  # models/<name>/tmp/<version>/<id>
    name, version = lead.split("/")[1], lead.split("/")[3]
    return client.put(f"{API}/model/entity-manifest/{name}/{version}/{opened['transactionId']}", files=files)


def publish(client: httpx.Client, version: str = "1.0") -> dict[str, Any]:
    opened = start(client, version=version).json()
    assert client.put(f"/artifactory/{ML}/{opened['filesUploadPath']}/model.pkl", content=DATA).status_code == 201
    done = finish(client, opened, manifest())
    assert done.status_code == 200, done.text
    return opened


def test_start_transaction_hands_out_paths_under_tmp_of_the_version(ml: httpx.Client) -> None:
    opened = start(ml).json()
    transaction = opened["transactionId"]
    assert transaction.isdigit()
    assert opened == {
        "filesUploadPath": f"models/fraud/tmp/1.0/{transaction}/files",
        "leadUploadPath": f"models/fraud/tmp/1.0/{transaction}",
        "dependenciesUploadPath": f"models/fraud/tmp/1.0/{transaction}/dependencies",
        "codeUploadPath": f"models/fraud/tmp/1.0/{transaction}/code",
        "transactionId": transaction,
    }


def test_only_machinelearning_repositories_take_entity_versions(admin: httpx.Client) -> None:
    generic = admin.post("/artifactory/api/machinelearning/ml-models-dev-local/model/fraud/start-transaction/1.0")
    assert errors(generic) == [
        (400, "Repository 'ml-models-dev-local' is not a machinelearning repository (it is generic)")
    ]
    assert admin.post("/artifactory/api/machinelearning/nope/model/fraud/start-transaction/1.0").status_code == 404


def test_a_read_only_token_cannot_start_a_transaction(ml: httpx.Client, reader: httpx.Client) -> None:
    assert start(reader).status_code == 403


def test_names_follow_frogmls_rule(ml: httpx.Client) -> None:
    for name in ("a..b", "-x!", "a/b/c", "x" * 61):
        answer = start(ml, name=name)
        assert answer.status_code == 400, answer.text
        assert "Invalid name" in errors(answer)[0][1]


def test_a_published_version_is_immutable(ml: httpx.Client) -> None:
    publish(ml)
    assert errors(start(ml)) == [(409, "The model 'fraud' version '1.0' already exists in repository 'ml-local'")]


def test_a_manifest_listing_a_file_never_uploaded_publishes_nothing(ml: httpx.Client) -> None:
    opened = start(ml).json()
    refused = finish(ml, opened, manifest())
    assert refused.status_code == 409
    assert "Manifest lists 'model.pkl' but it was not uploaded" in errors(refused)[0][1]
    assert ml.get(f"{API}/model/entity-manifest/fraud/1.0").status_code == 404
    # The transaction stays open: upload the file and finish it.
    assert ml.put(f"/artifactory/{ML}/{opened['filesUploadPath']}/model.pkl", content=DATA).status_code == 201
    assert finish(ml, opened, manifest()).status_code == 200


def test_a_manifest_whose_checksum_differs_from_the_upload_is_refused(ml: httpx.Client) -> None:
    opened = start(ml).json()
    ml.put(f"/artifactory/{ML}/{opened['filesUploadPath']}/model.pkl", content=DATA)
    refused = finish(ml, opened, manifest(data=b"other bytes"))
    assert refused.status_code == 409
    assert "does not match the uploaded file" in errors(refused)[0][1]


def test_artifact_paths_cannot_leave_the_version_folder(ml: httpx.Client) -> None:
    opened = start(ml).json()
    for path in ("../escape.pkl", "/abs.pkl", "a//b.pkl", "a\\..\\b"):
        refused = finish(ml, opened, manifest(path=path))
        assert refused.status_code == 400
        assert "invalid 'artifact_path'" in errors(refused)[0][1]


def test_an_unknown_transaction_is_a_404(ml: httpx.Client) -> None:
    refused = finish(ml, {"leadUploadPath": "models/fraud/tmp/1.0/123", "transactionId": "123"}, manifest())
    assert errors(refused) == [
        (404, "No open transaction '123' for the model 'fraud' version '1.0' in repository 'ml-local'")
    ]


def test_additional_data_must_be_an_object_or_null(ml: httpx.Client) -> None:
    opened = start(ml).json()
    ml.put(f"/artifactory/{ML}/{opened['filesUploadPath']}/model.pkl", content=DATA)
    assert errors(finish(ml, opened, manifest(), extra=["x"])) == [
        (400, "Part 'additionalData' must be a JSON object or null")
    ]


def test_reads_through_a_virtual_repository_point_downloads_at_it(ml: httpx.Client) -> None:
    publish(ml)
    config = {"rclass": "virtual", "packageType": "machinelearning", "repositories": [ML]}
    assert ml.put("/artifactory/api/repositories/ml-virtual", json=config).status_code == 200
    read = ml.get("/artifactory/api/machinelearning/ml-virtual/model/entity-manifest/fraud/1.0").json()
    url = read["model_artifacts"][0]["download_url"]
    assert url.endswith("/artifactory/ml-virtual/models/fraud/1.0/model.pkl")
    assert ml.get(url).content == DATA


def test_an_unknown_version_is_a_404(ml: httpx.Client) -> None:
    assert errors(ml.get(f"{API}/model/entity-manifest/fraud/9.9")) == [
        (404, "The model 'fraud' version '9.9' was not found in repository 'ml-local'")
    ]
