"""Xray over HTTP: indexing delay, v2 CI scan, legacy v1, status and summary, policy threshold.

The malicious-model verdict comes from a fake at the engine seam (`SCANNER_STATE_KEY` in the
sandbox state); test_xray_models.py runs the real engine end to end.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from artifactory_sandbox.xray_models import ModelFinding, ModelScanError, ModelVerdict
from artifactory_sandbox.xray_scan import SCANNER_STATE_KEY

REPO = "ml-models-dev-local"
STARTED = "2025-04-06T09:00:00.000+0000"
INDEX_DELAY = 0.4
NOT_FOUND_INFO = "Build {} number {} wasn't found in Artifactory"


def fake_scanner(blob: Path, name: str) -> ModelVerdict:
    """Malicious iff the stored content starts with b"EVIL"."""
    assert name.endswith((".pkl", ".json"))
    if blob.read_bytes().startswith(b"EVIL"):
        return ModelVerdict(name, True, (ModelFinding("os.system", "on the denylist"),))
    return ModelVerdict(name, True)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path_factory.mktemp("xray"), xray_index_delay=INDEX_DELAY) as handle:
        handle.ctx.state[SCANNER_STATE_KEY] = fake_scanner
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.admin_token}"}) as http:
        yield http


def publish(client: httpx.Client, name: str, files: dict[str, bytes], deps: list[str]) -> None:
    artifacts = []
    for path, data in files.items():
        assert client.put(f"/artifactory/{REPO}/{name}/{path}", content=data).status_code == 201
        artifacts.append({"name": path, "path": f"{name}/{path}", "sha256": hashlib.sha256(data).hexdigest(),
                          "sha1": hashlib.sha1(data).hexdigest()})  # noqa: S324  Artifactory's checksum  # fmt: skip
    module = {"id": name, "type": "generic", "artifacts": artifacts,
              "dependencies": [{"id": dep, "type": "pypi"} for dep in deps]}  # fmt: skip
    info = {"name": name, "number": "1", "started": STARTED, "modules": [module]}
    assert client.put("/artifactory/api/build", json=info).status_code == 204


def wait_indexed() -> None:
    time.sleep(INDEX_DELAY + 0.1)


def scan_result(client: httpx.Client, name: str, vulns: bool = True) -> httpx.Response:
    query = "?include_vulnerabilities=true" if vulns else ""
    return client.post(f"/xray/api/v2/ci/build/scanResult{query}", json={"build_name": name, "build_number": "1"})


def test_ping_and_version(client: httpx.Client) -> None:
    assert client.get("/xray/api/v1/system/ping").json() == {"status": "pong"}
    assert client.get("/xray/api/v1/system/version").json() == {"xray_version": "3.107.8", "xray_revision": "5735964"}


def test_v2_flow_before_and_after_indexing(client: httpx.Client) -> None:
    publish(client, "flow", {"model.pkl": b"EVIL pickle"}, ["torch:2.5.1", "numpy:2.1.0"])
    early = client.post("/xray/api/v2/ci/build", json={"build_name": "flow", "build_number": "1"})
    assert (early.status_code, early.json()) == (404, {"info": NOT_FOUND_INFO.format("flow", 1)})
    polled = client.get("/xray/api/v2/ci/build/flow/1?include_vulnerabilities=true")
    assert polled.status_code == 202
    wait_indexed()
    started = client.post("/xray/api/v2/ci/build", json={"build_name": "flow", "build_number": "1"})
    assert started.status_code == 200
    assert started.json() == {"info": "Scan of build name 'flow', build number '1' is in progress"}
    result = client.get("/xray/api/v2/ci/build/flow/1?include_vulnerabilities=true")
    assert result.status_code == 200
    body = result.json()
    assert (body["build_name"], body["build_number"], body["status"], body["fail_build"]) == (
        "flow",
        "1",
        "completed",
        True,
    )
    assert body["more_details_url"].endswith("/xray/ui/builds/flow/1/1/xrayData?buildRepo=artifactory-build-info")
    by_id = {v["issue_id"]: v for v in body["violations"]}
    assert set(by_id) == {
        "GHSA-53q9-r3pm-6pq6",
        "CVE-2026-24747",
        f"SANDBOX-MALICIOUS-MODEL-{hashlib.sha256(b'EVIL pickle').hexdigest()[:12]}",
    }
    torch = by_id["GHSA-53q9-r3pm-6pq6"]
    assert torch["severity"] == "Critical"
    assert torch["type"] == "security"
    assert torch["fail_build"] is True
    assert torch["cves"] == [{"cve": "CVE-2025-32434", "cvss_v3_score": "9.8"}]
    assert torch["components"] == {"pypi://torch:2.5.1": {"fixed_versions": ["[2.6.0]"], "impact_paths": [
        [{"component_id": "build://flow:1"}, {"component_id": "pypi://torch:2.5.1"}]]}}  # fmt: skip
    pickle_violation = next(v for k, v in by_id.items() if k.startswith("SANDBOX-MALICIOUS-MODEL"))
    assert pickle_violation["severity"] == "Critical"
    assert pickle_violation["summary"] == "Malicious model file model.pkl: loading it calls os.system"
    vulnerability = next(v for v in body["vulnerabilities"] if v["issue_id"] == "GHSA-53q9-r3pm-6pq6")
    component = vulnerability["components"]["pypi://torch:2.5.1"]
    assert (component["package_name"], component["package_version"], component["infected_versions"]) == (
        "torch",
        "2.5.1",
        ["(,2.6.0)"],
    )


def test_clean_build_passes(client: httpx.Client) -> None:
    publish(client, "clean", {"model.pkl": b"plain tensors"}, ["torch:2.10.0", "Pillow:10.2.0", "unpinned"])
    wait_indexed()
    body = scan_result(client, "clean", vulns=False).json()
    assert (body["fail_build"], body["violations"]) == (False, [])
    assert "vulnerabilities" not in body


def test_issues_below_the_fail_severity_are_not_violations(tmp_path: Path) -> None:
    with run_sandbox(tmp_path, xray_index_delay=0, fail_severity="critical") as sandbox:
        sandbox.ctx.state[SCANNER_STATE_KEY] = fake_scanner
        with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.admin_token}"}) as http:
            publish(http, "lenient", {"model.pkl": b"ok"}, ["pillow:10.1.0", "joblib:1.1.0"])
            body = scan_result(http, "lenient").json()
    assert [v["issue_id"] for v in body["violations"]] == ["GHSA-6hrg-qmvc-2xh8"]  # joblib, Critical
    assert {v["issue_id"] for v in body["vulnerabilities"]} == {"GHSA-6hrg-qmvc-2xh8", "GHSA-3f63-hfp8-52jq"}


def test_advisories_file_replaces_the_shipped_list(tmp_path: Path) -> None:
    advisories = tmp_path / "advisories.json"
    advisories.write_text(json.dumps({"advisories": [{"id": "INTERNAL-1", "package": "acme-ml", "affected": ">=1.0,<1.4",
        "fixed_versions": ["1.4"], "severity": "high", "summary": "internal advisory"}]}))  # fmt: skip
    with run_sandbox(tmp_path / "d", xray_index_delay=0, advisories_path=advisories) as sandbox:
        sandbox.ctx.state[SCANNER_STATE_KEY] = fake_scanner
        with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.admin_token}"}) as http:
            publish(http, "internal", {}, ["acme_ml:1.2", "torch:2.5.1"])
            body = scan_result(http, "internal").json()
    assert [(v["issue_id"], v["severity"]) for v in body["violations"]] == [("INTERNAL-1", "High")]
    assert body["vulnerabilities"][0]["components"]["pypi://acme-ml:1.2"]["infected_versions"] == ["[1.0,1.4)"]


def test_legacy_v1_scan_build(client: httpx.Client, sandbox: SandboxHandle) -> None:
    publish(client, "legacy", {"model.pkl": b"EVIL again"}, ["mlflow:2.2.0"])
    started = time.monotonic()
    response = client.post("/artifactory/api/xray/scanBuild", json={"buildName": "legacy", "buildNumber": "1",
                                                                     "context": "jfrog-cli-go"})  # fmt: skip
    assert time.monotonic() - started >= INDEX_DELAY * 0.5  # it waited for indexing
    body = response.json()
    assert body["summary"] == {"message": "Build legacy number 1 was scanned by Xray and 3 Alerts were generated",
                               "total_alerts": 3, "fail_build": True,
                               "more_details_url": body["summary"]["more_details_url"]}  # fmt: skip
    issues = body["alerts"][0]["issues"]
    assert body["alerts"][0]["top_severity"] == "Critical"
    assert {i["cve"] for i in issues} == {"CVE-2023-1177", "CVE-2023-6977", ""}
    assert issues[0]["impacted_artifacts"][0]["display_name"] == "legacy:1"
    direct = client.post("/xray/api/v1/scanBuild", json={"buildName": "legacy", "buildNumber": "1"})
    assert direct.json()["summary"]["total_alerts"] == 3


def test_status_and_summary(client: httpx.Client) -> None:
    publish(client, "status", {"model.pkl": b"fine"}, ["transformers:4.30.0"])
    pending = client.post("/xray/api/v1/build/status", json={"name": "status", "number": "1"}).json()
    assert pending["overall"]["status"] == "IN_PROGRESS"
    assert client.post("/xray/api/v1/scan/status/build", json={"name": "status", "version": "1"}).json() == {
        "status": "in progress"
    }
    wait_indexed()
    assert (
        client.post("/xray/api/v1/build/status", json={"name": "status", "number": "1"}).json()["overall"]["status"]
        == "DONE"
    )
    summary = client.get("/xray/api/v1/summary/build?build_name=status&build_number=1").json()
    assert summary["build"]["component_id"] == "build://status:1"
    assert {i["issue_id"] for i in summary["issues"]} == {
        "CVE-2023-6730",
        "CVE-2024-3568",
        "GHSA-69w3-r845-3855",
        "GHSA-29pf-2h5f-8g72",
    }


def test_unknown_build_and_bad_requests(client: httpx.Client) -> None:
    missing = client.get("/xray/api/v2/ci/build/ghost/9")
    assert (missing.status_code, missing.json()) == (404, {"info": NOT_FOUND_INFO.format("ghost", 9)})
    bad = client.post("/xray/api/v2/ci/build", json={"build_name": "x"})
    assert (bad.status_code, bad.json()) == (400, {"error": "build_name and build_number are mandatory"})


def test_scanner_failure_is_a_failed_scan(tmp_path: Path) -> None:
    def broken(blob: Path, name: str) -> ModelVerdict:
        raise ModelScanError(f"cannot read {name} to its end: gone")

    with run_sandbox(tmp_path, xray_index_delay=0) as sandbox:
        sandbox.ctx.state[SCANNER_STATE_KEY] = broken
        with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.admin_token}"}) as http:
            publish(http, "broken", {"model.pkl": b"x"}, [])
            body: dict[str, Any] = scan_result(http, "broken").json()
    assert body["status"] == "failed"
    assert body["info"] == "Xray build scan failed: cannot read model.pkl to its end: gone"
