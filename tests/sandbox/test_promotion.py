"""Build promotion over HTTP: copy, move, properties, status history, dry run, errors, re-runs."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox

DEV, STAGING, PROD = "ml-models-dev-local", "ml-models-staging-local", "ml-models-prod-local"
STARTED = "2025-04-06T09:00:00.000+0000"
RESULT_TYPE = "application/vnd.org.jfrog.artifactory.build.PromotionResult+json"
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path_factory.mktemp("promotion")) as handle:
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    with httpx.Client(base_url=sandbox.artifactory_url, headers=headers) as http:
        yield http


def published_build(client: httpx.Client, name: str, files: dict[str, bytes]) -> str:
    """Deploy `files` to DEV with build props, publish the build; returns its number."""
    number = str(next(_numbers))
    artifacts = []
    for path, data in files.items():
        props = f";build.name={name};build.number={number}"
        assert client.put(f"/{DEV}/{path}{props}", content=data).status_code == 201
        artifacts.append({"name": path.rsplit("/", 1)[-1], "path": path,
                          "sha1": hashlib.sha1(data).hexdigest(),  # noqa: S324  Artifactory's checksum
                          "sha256": hashlib.sha256(data).hexdigest()})  # fmt: skip
    info = {"name": name, "number": number, "started": STARTED,
            "modules": [{"id": name, "type": "generic", "artifacts": artifacts}]}  # fmt: skip
    assert client.put("/api/build", json=info).status_code == 204
    return number


def promote(client: httpx.Client, name: str, number: str, **body: Any) -> httpx.Response:
    return client.post(f"/api/build/promote/{name}/{number}", json=body,
                       headers={"Content-Type": "application/vnd.org.jfrog.artifactory.build.PromotionRequest+json"})  # fmt: skip


def exists(client: httpx.Client, repo: str, path: str) -> bool:
    return client.get(f"/api/storage/{repo}/{path}").status_code == 200


def test_copy_promotion_with_status_and_properties(client: httpx.Client) -> None:
    number = published_build(client, "fraud", {"fraud/m1/model.pkl": b"w1", "fraud/m1/card.md": b"c"})
    response = promote(client, "fraud", number, status="staged", comment="gate passed", ciUser="ci",
                       sourceRepo=DEV, targetRepo=STAGING, copy=True,
                       properties={"stage": ["staging"], "approved.by": ["gate", "ci"]})  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"] == RESULT_TYPE
    assert response.json() == {"messages": []}
    for path in ("fraud/m1/model.pkl", "fraud/m1/card.md"):
        assert exists(client, DEV, path)
        props = client.get(f"/api/storage/{STAGING}/{path}?properties").json()["properties"]
        assert props["stage"] == ["staging"]
        assert sorted(props["approved.by"]) == ["ci", "gate"]
        assert props["build.name"] == ["fraud"]  # properties travel with the copy
    statuses = client.get(f"/api/build/fraud/{number}").json()["buildInfo"]["statuses"]
    assert len(statuses) == 1
    assert statuses[0] | {"timestamp": "-"} == {"status": "staged", "comment": "gate passed",
        "repository": STAGING, "timestamp": "-", "user": "admin", "ciUser": "ci"}  # fmt: skip
    assert statuses[0]["timestamp"].endswith("+0000")


def test_move_promotion_and_aql_follows_the_artifacts(client: httpx.Client) -> None:
    number = published_build(client, "churn", {"churn/v1/model.onnx": b"churn"})
    response = promote(client, "churn", number, status="released", targetRepo=PROD, sourceRepo=DEV)
    assert response.status_code == 200
    assert not exists(client, DEV, "churn/v1/model.onnx")
    assert exists(client, PROD, "churn/v1/model.onnx")
    query = f'items.find({{"artifact.module.build.name":"churn","artifact.module.build.number":"{number}"}})'
    rows = client.post("/api/search/aql", content=query).json()["results"]
    assert [(row["repo"], row["path"]) for row in rows] == [(PROD, "churn/v1")]


def test_dry_run_changes_nothing(client: httpx.Client) -> None:
    number = published_build(client, "dry", {"dry/model.bin": b"dry"})
    response = promote(client, "dry", number, status="released", targetRepo=PROD, dryRun=True,
                       properties={"x": ["y"]})  # fmt: skip
    assert response.status_code == 200
    assert exists(client, DEV, "dry/model.bin")
    assert not exists(client, PROD, "dry/model.bin")
    assert "statuses" not in client.get(f"/api/build/dry/{number}").json()["buildInfo"]


def test_missing_build_is_404(client: httpx.Client) -> None:
    response = promote(client, "nope", "9", targetRepo=PROD)
    assert response.status_code == 404
    assert response.json() == {"errors": [{"status": 404, "message":
        "Cannot find builds by the name 'nope' and the number '9' and buildRepo 'artifactory-build-info'."}]}  # fmt: skip


def test_missing_target_repo_is_404(client: httpx.Client) -> None:
    number = published_build(client, "no-target", {"nt/model.bin": b"nt"})
    response = promote(client, "no-target", number, targetRepo="does-not-exist")
    assert response.status_code == 404
    assert response.json()["errors"][0]["message"] == "Cannot find target repository by the key 'does-not-exist'."


def test_artifacts_not_in_source_repo_abort_with_400(client: httpx.Client) -> None:
    number = published_build(client, "elsewhere", {"elsewhere/model.bin": b"elsewhere"})
    response = promote(client, "elsewhere", number, sourceRepo=STAGING, targetRepo=PROD)
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == (
        f"Unable to find artifacts of build 'elsewhere' #{number} from artifactory-build-info repo: aborting promotion."
    )


def test_without_fail_fast_missing_artifacts_are_reported(client: httpx.Client) -> None:
    number = published_build(client, "lenient", {"lenient/model.bin": b"lenient"})
    response = promote(client, "lenient", number, sourceRepo=STAGING, targetRepo=PROD,
                       failFast=False, status="released")  # fmt: skip
    assert response.status_code == 200
    assert response.json()["messages"] == [
        {"level": "ERROR", "message": f"Unable to find artifact 'model.bin' of build 'lenient' #{number}"}
    ]
    assert client.get(f"/api/build/lenient/{number}").json()["buildInfo"]["statuses"][0]["status"] == "released"


def test_rerunning_a_copy_promotion_succeeds(client: httpx.Client) -> None:
    number = published_build(client, "rerun", {"rerun/model.bin": b"same bytes"})
    body = {"status": "staged", "sourceRepo": DEV, "targetRepo": STAGING, "copy": True}
    assert promote(client, "rerun", number, **body).status_code == 200
    assert promote(client, "rerun", number, **body).status_code == 200
    statuses = client.get(f"/api/build/rerun/{number}").json()["buildInfo"]["statuses"]
    assert [s["status"] for s in statuses] == ["staged", "staged"]


def test_rerunning_a_move_without_source_repo_reports_same_path(client: httpx.Client) -> None:
    number = published_build(client, "again", {"again/model.bin": b"again"})
    assert promote(client, "again", number, targetRepo=PROD, status="released").status_code == 200
    response = promote(client, "again", number, targetRepo=PROD, status="released")
    assert response.status_code == 400
    assert response.json()["messages"] == [
        {"level": "ERROR", "message": f"Skipping move {PROD}:again/model.bin: Destination and source are the same"},
        {"level": "INFO", "message": "Skipping promotion status update: item promotion was completed with errors and warnings."},
    ]  # fmt: skip


def test_target_include_pattern_conflict(client: httpx.Client) -> None:
    config = {"rclass": "local", "packageType": "generic", "includesPattern": "approved/**"}
    assert client.put("/api/repositories/strict-local", json=config).status_code == 200
    number = published_build(client, "strict", {"strict/model.bin": b"strict"})
    response = promote(client, "strict", number, targetRepo="strict-local", copy=True)
    assert response.status_code == 400
    assert response.json()["messages"][0] == {"level": "ERROR", "message":
        "The repository 'strict-local' rejected the resolution of artifact in path 'strict/model.bin' "
        "due to a conflict with its include/exclude patterns."}  # fmt: skip


def test_status_only_and_no_status(client: httpx.Client) -> None:
    number = published_build(client, "status-only", {"so/model.bin": b"so"})
    response = promote(client, "status-only", number, status="approved", properties={"ok": ["1"]})
    assert response.json()["messages"] == [
        {"level": "INFO", "message": "Skipping build item relocation: no target repository selected."}
    ]
    assert client.get(f"/api/storage/{DEV}/so/model.bin?properties=ok").json()["properties"] == {"ok": ["1"]}
    response = promote(client, "status-only", number, targetRepo=STAGING, copy=True)
    assert response.json()["messages"] == [
        {"level": "INFO", "message": "Skipping promotion status update: no status received."}
    ]


def test_bad_body_is_400(client: httpx.Client) -> None:
    number = published_build(client, "bad-body", {"bb/model.bin": b"bb"})
    response = promote(client, "bad-body", number, copy="yes")
    assert response.json() == {"errors": [{"status": 400, "message": "Promotion field 'copy' must be true or false"}]}


def test_read_only_token_cannot_promote(sandbox: SandboxHandle, client: httpx.Client) -> None:
    token = client.post(f"{sandbox.url}/access/api/v1/tokens",
                        json={"scope": "applied-permissions/groups:readers"}).json()["access_token"]  # fmt: skip
    response = httpx.post(f"{sandbox.artifactory_url}/api/build/promote/x/1", json={},
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 403
