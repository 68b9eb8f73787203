"""Build info API over HTTP: publish, read, list, runs, delete, odd names, AQL linkage."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox

REPO = "ml-models-dev-local"
STARTED = "2025-04-06T09:00:00.000+0000"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path_factory.mktemp("builds")) as handle:
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    with httpx.Client(base_url=sandbox.artifactory_url, headers=headers) as http:
        yield http


def deploy(client: httpx.Client, path: str, data: bytes, props: str = "") -> dict[str, str]:
    response = client.put(f"/{REPO}/{path}{props}", content=data)
    assert response.status_code == 201, response.text
    return {"sha1": hashlib.sha1(data).hexdigest(), "md5": hashlib.md5(data).hexdigest(),  # noqa: S324  checksums Artifactory uses
            "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip


def build_info(name: str, number: str, artifacts: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    module = {"type": "generic", "id": name, "artifacts": artifacts}
    return {"name": name, "number": number, "started": STARTED,
            "agent": {"name": "ml-artifactory-action", "version": "0.1.0"},
            "modules": [module], **extra}  # fmt: skip


def publish(client: httpx.Client, info: dict[str, Any], project: str = "") -> httpx.Response:
    suffix = f"?project={project}" if project else ""
    return client.put(f"/api/build{suffix}", json=info,
                      headers={"Content-Type": "application/vnd.org.jfrog.artifactory+json"})  # fmt: skip


def aql(client: httpx.Client, text: str) -> httpx.Response:
    return client.post("/api/search/aql", content=text, headers={"Content-Type": "text/plain"})


def test_publish_then_read_back(client: httpx.Client, sandbox: SandboxHandle) -> None:
    sums = deploy(client, "fraud/1/model.pkl", b"weights-1")
    artifact = {"name": "model.pkl", "type": "pkl", "path": "fraud/1/model.pkl", **sums}
    assert publish(client, build_info("fraud", "1", [artifact], url="https://ci/1")).status_code == 204
    response = client.get("/api/build/fraud/1")
    assert response.status_code == 200
    body = response.json()
    assert body["uri"] == f"{sandbox.artifactory_url}/api/build/fraud/1"
    info = body["buildInfo"]
    assert (info["name"], info["number"], info["started"]) == ("fraud", "1", STARTED)
    assert info["modules"][0]["artifacts"] == [artifact]
    assert info["artifactoryPrincipal"] == "admin"
    assert "statuses" not in info


def test_members_published_as_null_read_back_absent(client: httpx.Client) -> None:
    """Artifactory stores build-info through its typed bean: a `null` member is not kept, so
    `GET /api/build/{name}/{number}` leaves it out rather than answering `null`."""
    artifact = {"name": "m.bin", "type": None, "path": "nulls/m.bin", "sha1": "0" * 40, "md5": None}
    info = {"name": "nulls", "number": "1", "started": STARTED, "agent": None, "buildAgent": None,
            "durationMillis": None, "url": None, "properties": {"buildInfo.env.X": None},
            "modules": [{"type": "generic", "id": "nulls", "artifacts": [artifact], "dependencies": None}]}  # fmt: skip
    assert publish(client, info).status_code == 204
    stored = client.get("/api/build/nulls/1").json()["buildInfo"]
    assert set(stored) == {"name", "number", "started", "properties", "modules", "artifactoryPrincipal"}
    assert stored["properties"] == {}
    assert stored["modules"] == [{"type": "generic", "id": "nulls",
                                  "artifacts": [{"name": "m.bin", "path": "nulls/m.bin", "sha1": "0" * 40}]}]  # fmt: skip
    bare = {"name": "nulls", "number": "2", "started": STARTED, "modules": None}
    assert publish(client, bare).status_code == 204
    assert "modules" not in client.get("/api/build/nulls/2").json()["buildInfo"]


def test_build_info_json_lands_in_the_build_info_repo(client: httpx.Client) -> None:
    publish(client, build_info("latest-check", "3", []))
    found = aql(client, 'items.find({"type":"file","repo":"artifactory-build-info",'
                        '"path":{"$match":"latest-check"}}).sort({"$desc":["created"]}).limit(1)')  # fmt: skip
    assert [row["name"] for row in found.json()["results"]] == ["3-1743930000000.json"]


def test_aql_finds_build_artifacts_by_checksum(client: httpx.Client) -> None:
    sums = deploy(client, "churn/7/model.onnx", b"churn-weights")
    deploy(client, "copies/model.onnx", b"churn-weights")  # same content elsewhere: also linked
    deploy(client, "churn/7/unrelated.txt", b"not in the build")
    publish(client, build_info("churn", "7", [{"name": "model.onnx", "path": "churn/7/model.onnx", **sums}]))
    query = (
        'items.find({"$or":[{"$and":[{"artifact.module.build.name":"churn",'
        '"artifact.module.build.number":"7"}]}]}).include("repo","path","name","actual_sha1")'
    )
    rows = aql(client, query).json()["results"]
    assert sorted(row["path"] + "/" + row["name"] for row in rows) == ["churn/7/model.onnx", "copies/model.onnx"]
    assert {row["actual_sha1"] for row in rows} == {sums["sha1"]}


def test_list_and_runs(client: httpx.Client, sandbox: SandboxHandle) -> None:
    publish(client, build_info("runs", "1", []))
    publish(client, build_info("runs", "2", []))
    runs = client.get("/api/build/runs").json()
    assert runs["uri"] == f"{sandbox.artifactory_url}/api/build/runs"
    assert runs["buildsNumbers"] == [{"uri": "/2", "started": STARTED}, {"uri": "/1", "started": STARTED}]
    listing = client.get("/api/build").json()
    assert {"uri": "/runs", "lastStarted": STARTED} in listing["builds"]


def test_republishing_the_same_number_replaces_the_run(client: httpx.Client) -> None:
    publish(client, build_info("again", "1", [], url="https://ci/a"))
    later = build_info("again", "1", [], url="https://ci/b")
    later["started"] = "2025-04-06T10:00:00.000+0000"
    assert publish(client, later).status_code == 204
    assert client.get("/api/build/again/1").json()["buildInfo"]["url"] == "https://ci/b"
    assert len(client.get("/api/build/again").json()["buildsNumbers"]) == 1


def test_same_run_with_different_content_conflicts(client: httpx.Client) -> None:
    publish(client, build_info("conflict", "1", [], url="https://ci/a"))
    response = publish(client, build_info("conflict", "1", [], url="https://ci/changed"))
    assert response.status_code == 409
    assert response.json()["errors"][0]["message"] == f"Build conflict:1-{STARTED} already exists."
    assert publish(client, build_info("conflict", "1", [], url="https://ci/a")).status_code == 204


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"number": "1", "started": STARTED}, "Build name is missing or empty"),
        ({"name": "x", "started": STARTED}, "Build number is missing or empty"),
        ({"name": "x", "number": "1"}, "Build started is missing or empty"),
        ({"name": "x", "number": "1", "started": "yesterday"}, 'Unparseable date: "yesterday"'),
        (
            {"name": "x", "number": "1", "started": STARTED, "modules": {}},
            "Build info 'modules' must be a list of objects",
        ),
    ],
)
def test_invalid_build_info_is_400(client: httpx.Client, body: dict[str, Any], message: str) -> None:
    response = publish(client, body)
    assert response.status_code == 400
    assert response.json() == {"errors": [{"status": 400, "message": message}]}


def test_missing_builds_are_404_with_artifactorys_messages(client: httpx.Client) -> None:
    one = client.get("/api/build/nope/1")
    assert one.status_code == 404
    assert one.json()["errors"][0]["message"] == "No build was found for build name: nope, build number: 1 "
    runs = client.get("/api/build/nope")
    assert runs.json()["errors"][0]["message"] == "No build was found for build name: nope"


@pytest.mark.parametrize("name", ["my build", "team/fraud detector", "modèle-été", "a;b:c"])
def test_odd_names_round_trip(client: httpx.Client, name: str) -> None:
    assert publish(client, build_info(name, "1.0/rc 1", [])).status_code == 204
    encoded = f"/api/build/{quote(name, safe='')}/{quote('1.0/rc 1', safe='')}"
    body = client.get(encoded).json()
    assert (body["buildInfo"]["name"], body["buildInfo"]["number"]) == (name, "1.0/rc 1")
    assert body["uri"].endswith(encoded)


def test_projects_keep_their_own_builds(client: httpx.Client) -> None:
    assert publish(client, build_info("proj-build", "1", []), project="mlp").status_code == 204
    assert client.get("/api/build/proj-build/1").status_code == 404
    assert client.get("/api/build/proj-build/1?project=mlp").status_code == 200
    found = aql(client, 'items.find({"repo":"mlp-build-info"})').json()["results"]
    assert [row["path"] for row in found] == ["proj-build"]


def test_delete_numbers_and_artifacts(client: httpx.Client) -> None:
    props = ";build.name=gone;build.number=1"
    sums = deploy(client, "gone/1/model.bin", b"to be deleted", props)
    kept = deploy(client, "gone/keep.bin", b"kept: no build props")
    artifacts = [{"name": "model.bin", **sums}, {"name": "keep.bin", **kept}]
    publish(client, build_info("gone", "1", artifacts))
    publish(client, build_info("gone", "2", []))
    response = client.delete("/api/build/gone?buildNumbers=1&artifacts=1")
    assert (response.status_code, response.text) == (
        200,
        "The following builds has been deleted successfully: 'gone#1'.",
    )
    assert client.get("/api/build/gone/1").status_code == 404
    assert client.get("/api/build/gone/2").status_code == 200
    assert client.get(f"/{REPO}/gone/1/model.bin").status_code == 404
    assert client.get(f"/{REPO}/gone/keep.bin").status_code == 200


def test_delete_all_and_bulk_delete(client: httpx.Client) -> None:
    publish(client, build_info("bulk", "1", []))
    publish(client, build_info("bulk", "2", []))
    response = client.post("/api/build/delete", json={"buildName": "bulk", "buildNumbers": ["1"]})
    assert response.status_code == 200
    response = client.delete("/api/build/bulk?deleteAll=1")
    assert (response.status_code, response.text) == (200, "All 'bulk' builds have been deleted successfully.")
    assert client.get("/api/build/bulk").status_code == 404
    missing = client.post("/api/build/delete", json={"buildName": "bulk"})
    assert missing.json() == {"errors": [{"status": 400, "message": "Missing build numbers"}]}
