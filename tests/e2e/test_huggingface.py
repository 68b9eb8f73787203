"""Hugging Face repositories through every stage, run as the runner runs the action.

upload publishes one revision through the Hugging Face protocol (model-name `org/name`, the
revision from the commit), build-publish, scan and promote carry it from a dev to a prod
`huggingfaceml` repository, resolve downloads it, and the real `huggingface_hub` (when its venv is
there, as in `make test`) gets exactly the uploaded files with `snapshot_download` from prod.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from tests.e2e.conftest import ActionHarness, ActionResult

DEV, PROD = "hf-dev-local", "hf-prod-local"
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"  # GITHUB_SHA of the harness
HF = "/artifactory/api/huggingfaceml"
BOM = "fraud.cdx.json"  # the AI-BOM the upload writes into the revision (named for acme/fraud)
MODEL = {
    "model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + bytes(range(256)) * 64,
    "config.json": b'{"model_type": "fraud"}',
    "tokenizer/vocab.txt": b"a\nb\nc\n",
}


def hub_venv() -> str:
    """The virtualenv with the real huggingface_hub (`HUGGINGFACE_HUB_VENV`, built by make test)."""
    venv = os.environ.get("HUGGINGFACE_HUB_VENV")
    if not venv:
        pytest.skip("HUGGINGFACE_HUB_VENV is not set: it names the virtualenv with huggingface-hub")
    return venv


def _repos(sandbox: SandboxHandle) -> None:
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=30) as admin:
        for key in (DEV, PROD):
            body = {"rclass": "local", "packageType": "huggingfaceml", "xrayIndex": True}
            assert admin.put(f"/artifactory/api/repositories/{key}", json=body).status_code == 200


def _workspace(action: ActionHarness) -> dict[str, str]:
    for name, data in MODEL.items():
        (action.workspace / "model" / name).parent.mkdir(parents=True, exist_ok=True)
        (action.workspace / "model" / name).write_bytes(data)
    return {name: hashlib.sha256(data).hexdigest() for name, data in MODEL.items()}


def _run(action: ActionHarness, stages: str, **inputs: str) -> ActionResult:
    # The Hugging Face protocol's tests: the README.md model card (model-card: auto) is tested in test_demo_hf.py
    # and tests/e2e/test_model_card.py, so these see only the model's own files and the AI-BOM.
    given = {"stages": stages, "model-path": "model", "repo": DEV, "target-repo": PROD, "model-name": "acme/fraud"}
    given["model-card"] = "none"
    return action.run(given | {"download-dir": "serving"} | inputs)


def _get(sandbox: SandboxHandle, path: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    return httpx.get(f"{sandbox.url}{path}", headers=headers, timeout=30)


def test_a_model_goes_from_dev_to_prod_hugging_face_repositories(action: ActionHarness, sandbox: SandboxHandle) -> None:
    _repos(sandbox)
    digests = _workspace(action)

    (action.workspace / "metrics.json").write_text(json.dumps({"eval": {"accuracy": 0.95}}))
    gate = {"metrics-file": "metrics.json", "thresholds": "eval.accuracy >= 0.9", "compare-to-production": "true"}

    result = _run(action, "gate,upload,build-publish,scan,promote,resolve", **gate)

    assert result.returncode == 0, result.log
    assert result.errors == []
    artifacts = result.json_output("artifacts")
    stored = {a["path"].split("/", 4)[4]: a["sha256"] for a in artifacts}
    assert stored == digests | {BOM: stored[BOM]}
    assert all(a["path"].startswith(f"models/acme/fraud/{SHA}_") for a in artifacts)
    assert result.outputs["promoted"] == "true"
    assert result.outputs["gate-passed"] == "true"
    served = {name: hashlib.sha256((action.workspace / "serving" / name).read_bytes()).hexdigest() for name in MODEL}
    assert served == digests
    # Promoted into prod, the revision answers the Hugging Face API there, with build properties on its files.
    info = _get(sandbox, f"{HF}/{PROD}/api/models/acme/fraud/revision/{SHA}").json()
    assert (info["sha"], sorted(s["rfilename"] for s in info["siblings"])) == (SHA, sorted([*MODEL, BOM]))
    weights = _get(sandbox, f"{HF}/{PROD}/acme/fraud/resolve/{SHA}/model.safetensors")
    assert weights.content == MODEL["model.safetensors"]
    path = artifacts[0]["path"]
    props = _get(sandbox, f"/artifactory/api/storage/{PROD}/{path}?properties").json()["properties"]
    assert props["build.name"] == ["fraud-model"]
    assert props["model.name"] == ["acme/fraud"]
    assert props["metric.eval.accuracy"] == ["0.95"]
    # The next run's gate compares with the model now in production (read from prod's build history).
    (action.workspace / "metrics.json").write_text(json.dumps({"eval": {"accuracy": 0.92}}))  # above 0.9
    worse = _run(action, "gate", **gate, **{"build-number": "8", "max-regression": "0.01"})
    assert worse.returncode == 1
    assert worse.outputs["gate-passed"] == "false"
    assert "0.95" in worse.errors[0][1]  # judged against the production build's metric


def test_a_second_upload_sends_only_what_changed(action: ActionHarness, sandbox: SandboxHandle) -> None:
    _repos(sandbox)
    _workspace(action)
    assert _run(action, "upload").returncode == 0
    (action.workspace / "model" / "config.json").write_bytes(b'{"model_type": "fraud", "v": 2}')

    again = _run(action, "upload", **{"model-version": "v2"})

    assert again.returncode == 0, again.log
    assert "Deduplicated model.safetensors" in again.log
    assert again.outputs["deduplicated-files"] == "1"
    [bom] = [a for a in again.json_output("artifacts") if a["path"].endswith(BOM)]  # names v2: new content
    assert again.outputs["uploaded-bytes"] == str(
        len(b'{"model_type": "fraud", "v": 2}') + len(MODEL["tokenizer/vocab.txt"]) + bom["size"]
    )
    assert all(a["path"].startswith("models/acme/fraud/v2_") for a in again.json_output("artifacts"))
    rerun = _run(action, "upload", **{"model-version": "v2"})  # the same files again: no new commit
    assert rerun.returncode == 0, rerun.log
    assert "already holds exactly these files: nothing to commit" in rerun.log
    assert rerun.json_output("artifacts") == again.json_output("artifacts")
    assert rerun.outputs["uploaded-bytes"] == "0"


def test_upload_through_a_virtual_repository_lands_in_its_deployment_repository(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    _repos(sandbox)
    digests = _workspace(action)
    _create(sandbox, "hf-virtual", {"rclass": "virtual", "repositories": [DEV], "defaultDeploymentRepo": DEV})
    _create(sandbox, "hf-virtual-bare", {"rclass": "virtual", "repositories": [DEV]})

    result = _run(action, "upload", repo="hf-virtual")
    bare = _run(action, "upload", repo="hf-virtual-bare")

    assert result.returncode == 0, result.log
    artifacts = [a for a in result.json_output("artifacts") if not a["path"].endswith(BOM)]
    assert {(a["repo"], a["sha256"]) for a in artifacts} == {(DEV, d) for d in digests.values()}
    assert bare.returncode == 1
    assert "without a default deployment repository" in bare.errors[0][1]


def test_dry_run_bad_model_names_and_unsafe_files_change_nothing(action: ActionHarness, sandbox: SandboxHandle) -> None:
    _repos(sandbox)
    _workspace(action)

    dry = _run(action, "upload", **{"dry-run": "true"})
    bad = _run(action, "upload", **{"model-name": "fraud"})
    (action.workspace / "model" / "head.pkl").write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")  # never loaded
    unsafe = _run(action, "upload")

    assert dry.returncode == 0, dry.log
    assert "model.safetensors (16.0 KiB): would be uploaded" in dry.log
    assert "Dry run: would add the AI-BOM fraud.cdx.json (CycloneDX 1.6, valid, 3 files) to the revision's files." in (
        dry.log
    )
    assert bad.returncode == 1
    assert len(bad.errors) == 1
    assert "model-name" in bad.errors[0][0]
    assert "organization/name" in bad.errors[0][1]
    assert unsafe.returncode == 1
    assert "head.pkl" in unsafe.errors[0][1]
    assert "nothing was uploaded" in unsafe.errors[0][1]
    listing = _get(sandbox, f"/artifactory/api/storage/{DEV}?list&deep=1").json()
    assert listing.get("files", []) == []


def test_snapshot_download_from_prod_gets_exactly_the_uploaded_files(
    action: ActionHarness, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    venv = hub_venv()
    _repos(sandbox)
    digests = _workspace(action)
    assert _run(action, "upload,build-publish,promote").returncode == 0
    # A named revision: its commit id is generated, and still known in prod after the promotion.
    named = _run(action, "upload,build-publish,promote", **{"model-version": "v2", "build-number": "8"})
    assert named.returncode == 0, named.log

    driver = (
        "import hashlib, json, pathlib, sys\n"
        "from huggingface_hub import HfApi, snapshot_download\n"
        "seen = {'sha': HfApi().model_info('acme/fraud', revision=sys.argv[1]).sha}\n"
        "root = pathlib.Path(snapshot_download('acme/fraud', revision=sys.argv[1], cache_dir=sys.argv[2]))\n"
        "seen['files'] = {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()"
        " for p in root.rglob('*') if p.is_file()}\n"
        "print(json.dumps(seen))\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "HF_ENDPOINT": f"{sandbox.url}{HF}/{PROD}",
        "HF_TOKEN": sandbox.admin_token,
        "HF_HUB_DISABLE_XET": "1",
    }
    seen = {}
    for revision in (SHA, "v2"):
        done = subprocess.run(
            [f"{venv}/bin/python", "-c", driver, revision, str(tmp_path / "hf-cache")],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        seen[revision] = json.loads(done.stdout)
    bom = hashlib.sha256(_get(sandbox, f"{HF}/{PROD}/acme/fraud/resolve/{SHA}/{BOM}").content).hexdigest()
    assert seen[SHA] == {"sha": SHA, "files": digests | {BOM: bom}}
    assert seen["v2"]["files"].keys() == {*digests, BOM}
    assert len(seen["v2"]["sha"]) == 40
    assert seen["v2"]["sha"] != SHA


def test_configure_points_later_steps_at_a_cached_proxy_of_the_hub(
    action: ActionHarness, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    """Seed 003: the base model is pulled through Artifactory (HF_ENDPOINT from configure) and cached,
    so a job still gets it while the hub is down."""
    venv = hub_venv()
    base = {"config.json": b'{"base": true}', "model.safetensors": b"\x00base weights" * 100}
    with run_sandbox(tmp_path / "hub-data") as hub:  # stands in for huggingface.co
        _hub_model(hub, base)
        _repos(sandbox)
        remote = {"rclass": "remote", "url": f"{hub.url}{HF}/hub", "password": hub.admin_token}
        _create(sandbox, "hf-remote", remote)
        _create(sandbox, "hf-virtual", {"rclass": "virtual", "repositories": [DEV, "hf-remote"]})
        result = action.run({"stages": "configure", "hf-repo": "hf-virtual"})
        assert result.returncode == 0, result.log
        first = _pull(venv, result.env_file, tmp_path / "cache-1")
        hub_requests = len(hub.ctx.requests.entries())
    second = _pull(venv, result.env_file, tmp_path / "cache-2")  # the hub is down now

    digests = {name: hashlib.sha256(data).hexdigest() for name, data in base.items()}
    assert first == second == digests
    assert hub_requests > 0
    assert result.env_file["HF_ENDPOINT"] == f"{sandbox.url}{HF}/hf-virtual"


def _create(sandbox: SandboxHandle, key: str, config: dict[str, object]) -> None:
    body = {"packageType": "huggingfaceml"} | config
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    response = httpx.put(f"{sandbox.url}/artifactory/api/repositories/{key}", json=body, headers=headers)
    assert response.status_code == 200, response.text


def _hub_model(hub: SandboxHandle, files: dict[str, bytes]) -> None:
    """base/tiny on the stand-in hub, committed through its Hugging Face API (regular files inline)."""
    _create(hub, "hub", {"rclass": "local"})
    lines = [{"key": "header", "value": {"summary": "base"}}]
    for name, data in files.items():
        content = base64.b64encode(data).decode()
        lines.append({"key": "file", "value": {"path": name, "content": content, "encoding": "base64"}})
    response = httpx.post(
        f"{hub.url}{HF}/hub/api/models/base/tiny/commit/main",
        content="".join(json.dumps(line) + "\n" for line in lines),
        headers={"Authorization": f"Bearer {hub.admin_token}", "Content-Type": "application/x-ndjson"},
    )
    assert response.status_code == 200, response.text


def _pull(venv: str, exported: dict[str, str], cache: Path) -> dict[str, str]:
    """snapshot_download('base/tiny') in a later step: only what configure exported, plus a cache."""
    driver = (
        "import hashlib, json, pathlib, sys\n"
        "from huggingface_hub import snapshot_download\n"
        "root = pathlib.Path(snapshot_download('base/tiny', cache_dir=sys.argv[1]))\n"
        "print(json.dumps({p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}))\n"
    )
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(cache)} | exported
    done = subprocess.run(
        [f"{venv}/bin/python", "-c", driver, str(cache)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_flaky_lfs_put_is_retried_and_a_refused_commit_leaves_no_revision(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    _repos(sandbox)
    digests = _workspace(action)
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    faults = [
        {"path": "/api/lfs-upload/", "method": "PUT", "status": 503, "count": 1},
        {"path": "/commit/", "method": "POST", "status": 400, "message": "Commit refused for the test"},
    ]
    for fault in faults:
        httpx.post(f"{sandbox.url}/_sandbox/faults", json=fault, headers=headers).raise_for_status()

    failed = _run(action, "upload")
    listing = _get(sandbox, f"/artifactory/api/storage/{DEV}?list&deep=1").json()
    httpx.delete(f"{sandbox.url}/_sandbox/faults", headers=headers).raise_for_status()
    retried = _run(action, "upload")

    assert "Retrying PUT" in failed.log  # the 503 on the signed URL was retried, then the commit refused
    assert failed.returncode == 1
    [(title, message)] = failed.errors
    assert title == "Artifactory request failed"
    assert "committing the revision" in message
    assert "Commit refused for the test" in message
    assert listing.get("files", []) == []
    assert retried.returncode == 0, retried.log
    assert "Deduplicated model.safetensors" in retried.log  # its bytes arrived in the failed run
    artifacts = [a for a in retried.json_output("artifacts") if not a["path"].endswith(BOM)]
    assert sorted(a["sha256"] for a in artifacts) == sorted(digests.values())
