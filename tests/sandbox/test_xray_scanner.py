"""Xray with the action's real unsafe-model scanner (no fake): a pickle that imports os.system fails
the build; a plain pickle of numbers passes."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from artifactory_sandbox.pickle_verdict import scan_file, scan_stored
from artifactory_sandbox.testing import SandboxHandle, run_sandbox

REPO = "ml-models-dev-local"
STARTED = "2025-04-06T09:00:00.000+0000"
# GLOBAL 'os system', a string argument, TUPLE1, REDUCE, STOP: what `pickle.dumps` writes for an
# object whose __reduce__ returns (os.system, ("echo",)); written by hand so nothing is executed.
MALICIOUS = b"\x80\x04cos\nsystem\n\x8c\x04echo\x85R."
SAFE = pickle.dumps({"weights": [0.5, 1.5, 2.5], "bias": 0.1}, protocol=4)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path_factory.mktemp("xray-real"), xray_index_delay=0) as handle:
        yield handle


def publish(sandbox: SandboxHandle, name: str, data: bytes) -> None:
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    url = f"{sandbox.artifactory_url}/{REPO}/{name}/model.pkl"
    assert httpx.put(url, content=data, headers=headers).status_code == 201
    artifact = {"name": "model.pkl", "path": f"{name}/model.pkl", "sha256": hashlib.sha256(data).hexdigest()}
    info = {"name": name, "number": "1", "started": STARTED,
            "modules": [{"id": name, "type": "generic", "artifacts": [artifact]}]}  # fmt: skip
    assert httpx.put(f"{sandbox.artifactory_url}/api/build", json=info, headers=headers).status_code == 204


def scan(sandbox: SandboxHandle, name: str) -> dict[str, object]:
    response = httpx.post(f"{sandbox.url}/xray/api/v2/ci/build/scanResult",
                          json={"build_name": name, "build_number": "1"},
                          headers={"Authorization": f"Bearer {sandbox.admin_token}"})  # fmt: skip
    assert response.status_code == 200
    body: dict[str, object] = response.json()
    return body


def test_adapter_reads_the_real_verdict(tmp_path: Path) -> None:
    blob = tmp_path / "0123abcd"
    blob.write_bytes(MALICIOUS)
    verdict = scan_stored(blob, "model.pkl", scan_file)
    assert verdict.safe is False
    assert "os.system" in {finding.global_name for finding in verdict.findings}
    blob.write_bytes(SAFE)
    assert scan_stored(blob, "model.pkl", scan_file).safe is True


def test_malicious_pickle_fails_the_build(sandbox: SandboxHandle) -> None:
    publish(sandbox, "evil", MALICIOUS)
    body = scan(sandbox, "evil")
    assert body["fail_build"] is True
    violations = body["violations"]
    assert isinstance(violations, list)
    assert [v["severity"] for v in violations] == ["Critical"]
    assert "os.system" in violations[0]["summary"]


def test_plain_pickle_passes(sandbox: SandboxHandle) -> None:
    publish(sandbox, "plain", SAFE)
    body = scan(sandbox, "plain")
    assert (body["fail_build"], body["violations"]) == (False, [])
