"""Xray's artifact-level API in the sandbox, checked against what JFrog documents.

- Scan Artifact: "Usage: POST /api/v1/scanArtifact", body `{"componentID": ...}`, answer
  `{"info": "Scan of artifact is in progress"}`.
- Artifact Scan Status (jfrog.com/help/r/xray-rest-apis/artifact-scan-status): "Usage: POST
  /api/v1/artifact/status", "repo ... mandatory", "path ... mandatory", "400 Bad request -
  Mandatory fields are missing"; response `{"overall": {"status": "DONE", "time": ...},
  "details": {"sca": ..., "contextual_analysis": ..., "exposures": ..., "violations": ...}}`.
- Artifact Summary v2 (docs.jfrog.com/security/reference/artifact-summary_artifacts-v2-openapi):
  "Either paths or checksums must be provided. If both are provided, checksums are ignored.";
  "The path must start with the artifactory_id (default for Xray 3.x)"; "Array of SHA-256 or SHA-1
  checksums"; issues carry "the components array containing component_id, version, pkg_type, and
  fixed_versions".
- Get Violations (jfrog.com/help/r/xray-rest-apis/get-violations): "Usage: POST /api/v1/violations",
  body `filters` ("name_contains", "violation_type ... Valid values: Security, License,
  Operational_Risk", "watch_name", "min_severity ... equal or higher", "created_from", ...) and
  `pagination`; the answer `{"total_violations": N, "violations": [...]}`, `offset` a 1-based page.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox

REPO = "ml-models-dev-local"
INDEX_DELAY = 0.3


class Call:
    def __init__(self, *call: Any) -> None:
        self.call = call

    def __reduce__(self) -> tuple[Any, ...]:
        return self.call[0], self.call[1:]


MALICIOUS = pickle.dumps({"hook": Call(os.system, "echo pwned")}, protocol=4)
PLAIN = pickle.dumps({"weights": [0.5, 1.5]}, protocol=4)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path_factory.mktemp("xray-artifacts"), xray_index_delay=INDEX_DELAY) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.admin_token}"}) as http:
        for index in range(3):
            deploy(http, f"evil/{index}/model.pkl", MALICIOUS + bytes([index]))
        deploy(http, "plain/model.pkl", PLAIN)
        deploy(http, "plain/config.json", b"{}")
        time.sleep(INDEX_DELAY + 0.1)
        yield http


def deploy(http: httpx.Client, path: str, data: bytes) -> None:
    assert http.put(f"/artifactory/{REPO}/{path}", content=data).status_code == 201


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_status_is_pending_until_indexed_then_done(client: httpx.Client) -> None:
    deploy(client, "fresh/model.pkl", PLAIN + b"fresh")
    pending = client.post("/xray/api/v1/artifact/status", json={"repo": REPO, "path": "fresh/model.pkl"})
    assert pending.status_code == 200
    assert pending.json()["overall"]["status"] == "PENDING"
    time.sleep(INDEX_DELAY + 0.1)
    body = client.post("/xray/api/v1/artifact/status", json={"repo": REPO, "path": "fresh/model.pkl"}).json()
    assert set(body) == {"overall", "details"}
    assert body["overall"]["status"] == "DONE"
    assert set(body["details"]) == {"sca", "contextual_analysis", "exposures", "violations"}
    assert body["details"]["sca"]["status"] == "DONE"


def test_status_needs_repo_and_path_and_an_existing_file(client: httpx.Client) -> None:
    missing = client.post("/xray/api/v1/artifact/status", json={"repo": REPO})
    assert (missing.status_code, missing.json()) == (
        400,
        {"error": "Bad request - Mandatory fields are missing: repo, path"},
    )
    unknown = client.post("/xray/api/v1/artifact/status", json={"repo": REPO, "path": "no/such.pkl"})
    assert unknown.status_code == 404


def test_scan_artifact_by_component_id(client: httpx.Client) -> None:
    component = f"generic://sha256:{sha256(PLAIN)}/model.pkl"
    answer = client.post("/xray/api/v1/scanArtifact", json={"componentID": component})
    assert (answer.status_code, answer.json()) == (200, {"info": "Scan of artifact is in progress"})
    unknown = client.post("/xray/api/v1/scanArtifact", json={"componentID": f"generic://sha256:{'0' * 64}/x.pkl"})
    assert unknown.status_code == 404
    assert client.post("/xray/api/v1/scanArtifact", json={}).status_code == 400


def test_summary_by_paths(client: httpx.Client) -> None:
    paths = [f"default/{REPO}/evil/0/model.pkl", f"default/{REPO}/plain/model.pkl", f"default/{REPO}/nothing.pkl"]
    body = client.post("/xray/api/v2/summary/artifact", json={"paths": paths}).json()
    evil, plain = body["artifacts"]
    digest = sha256(MALICIOUS + b"\x00")
    assert evil["general"] == {"name": "model.pkl", "path": paths[0], "pkg_type": "Generic", "sha256": digest,
                               "component_id": f"generic://sha256:{digest}/model.pkl"}  # fmt: skip
    [issue] = evil["issues"]
    assert (issue["severity"], issue["issue_type"]) == ("Critical", "security")
    assert issue["summary"] == "Malicious model file model.pkl: loading it calls posix.system"
    assert issue["components"] == [{"component_id": f"generic://sha256:{digest}/model.pkl", "version": "",
                                    "pkg_type": "generic", "fixed_versions": []}]  # fmt: skip
    assert plain["issues"] == []
    assert body["errors"] == [{"identifier": paths[2], "error": "Artifact doesn't exist or not indexed/cached in Xray"}]


def test_summary_by_checksums_sha256_or_sha1_and_paths_win(client: httpx.Client) -> None:
    sha1 = hashlib.sha1(PLAIN).hexdigest()  # noqa: S324  Xray's checksum
    body = client.post("/xray/api/v2/summary/artifact", json={"checksums": [sha256(MALICIOUS + b"\x01"), sha1]}).json()
    assert [a["general"]["path"] for a in body["artifacts"]] == [
        f"default/{REPO}/evil/1/model.pkl",
        f"default/{REPO}/plain/model.pkl",
    ]
    both = client.post("/xray/api/v2/summary/artifact",
                       json={"paths": [f"default/{REPO}/plain/config.json"], "checksums": [sha1]}).json()  # fmt: skip
    assert [a["general"]["name"] for a in both["artifacts"]] == ["config.json"]
    assert client.post("/xray/api/v2/summary/artifact", json={}).status_code == 400


def violations(client: httpx.Client, filters: dict[str, Any], **page: Any) -> dict[str, Any]:
    response = client.post("/xray/api/v1/violations", json={"filters": filters, "pagination": page})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_violations_list_and_filters(client: httpx.Client) -> None:
    body = violations(client, {"min_severity": "High"})
    assert body["total_violations"] == 3
    first = body["violations"][0]
    assert set(first) == {"description", "severity", "type", "infected_components", "created", "watch_name",
                          "issue_id", "violation_details_url", "impacted_artifacts"}  # fmt: skip
    assert (first["severity"], first["type"], first["watch_name"]) == ("Critical", "Security", "sandbox-watch")
    one = {"resources": {"artifacts": [{"repo": REPO, "path": "evil/2/model.pkl"}]}}
    [only] = violations(client, one)["violations"]
    assert only["impacted_artifacts"] == [f"default/{REPO}/evil/2/model.pkl"]
    assert (
        violations(client, {"resources": {"artifacts": [{"repo": REPO, "path": "plain/model.pkl"}]}})[
            "total_violations"
        ]
        == 0
    )
    assert violations(client, {"violation_type": "License"})["total_violations"] == 0
    assert violations(client, {"name_contains": "posix.system"})["total_violations"] == 3
    assert violations(client, {"issue_id": only["issue_id"]})["violations"] == [only]
    assert violations(client, {"created_from": "2999-01-01T00:00:00Z"})["total_violations"] == 0


def test_violations_pages_start_at_one(client: httpx.Client) -> None:
    pages = [violations(client, {}, limit=2, offset=n, order_by="created") for n in (1, 2, 3)]
    assert [p["total_violations"] for p in pages] == [3, 3, 3]
    assert [len(p["violations"]) for p in pages] == [2, 1, 0]
    ids = [v["issue_id"] for p in pages for v in p["violations"]]
    assert len(set(ids)) == 3
    backwards = violations(client, {}, limit=3, offset=1, order_by="created", direction="desc")
    assert [v["issue_id"] for v in backwards["violations"]] == ids[::-1]
    bad = client.post("/xray/api/v1/violations", json={"pagination": {"offset": 0}})
    assert (bad.status_code, bad.json()) == (400, {"error": "pagination limit and offset start at 1"})


def test_a_file_that_cannot_be_scanned_is_failed(tmp_path: Any) -> None:
    import zlib  # noqa: PLC0415

    with run_sandbox(tmp_path, xray_index_delay=0) as sandbox:
        headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
        with httpx.Client(base_url=sandbox.url, headers=headers) as http:
            deploy(http, "broken/model.joblib", zlib.compress(MALICIOUS)[:-4])
            status = http.post("/xray/api/v1/artifact/status", json={"repo": REPO, "path": "broken/model.joblib"})
            summary = http.post(
                "/xray/api/v2/summary/artifact", json={"paths": [f"default/{REPO}/broken/model.joblib"]}
            )
    assert status.json()["overall"]["status"] == "FAILED"
    assert summary.json()["errors"][0]["error"].startswith(
        "Xray could not scan the artifact: cannot decompress model.joblib"
    )
