"""The AI-BOM and the signature in Hugging Face and JFrog ML repositories, through the entrypoint.

There a revision holds only what its commit put there and a version only what its manifest lists,
so the upload writes the BOM among the model's files, before signing: model.sig covers it. A job
gates and uploads (sign: key), a job (the same for Hugging Face, a later one for JFrog ML) publishes
the build and promotes; resolve verifies the signature. Then
someone who may deploy and publish builds changes one byte of a stored file in production and
re-publishes the build-info with the new checksums: only the signature tells, and resolve refuses
with nothing handed over. For Hugging Face the real `huggingface_hub` downloads the promoted
revision and model_signing's own CLI verifies the folder it got, the BOM included.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from artifactory_sandbox.testing import SandboxHandle
from ml_artifactory_action.provenance.signing import public_key_fingerprint
from tests.e2e.conftest import ActionHarness, ActionResult
from tests.e2e.test_bom import CARD_INPUTS
from tests.e2e.test_huggingface import hub_venv
from tests.e2e.test_pipeline import REQ_HASH, safetensors
from tests.fakes.sandbox_client import SandboxClient
from tests.fakes.signing_keys import KeyPair, key_pair
from tests.provenance.model_signing_cli import model_signing_verify

DEV, PROD = "dev-local", "prod-local"
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"  # GITHUB_SHA of the harness: the Hugging Face revision
MODEL = {
    "model.safetensors": safetensors([0.5, -1.25, 2.0, 0.0] * 64),
    "config/config.json": b'{"features": 4}',
}


def _repositories(sandbox: SandboxHandle, package_type: str) -> SandboxClient:
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=30) as admin:
        for key in (DEV, PROD):
            body = {"rclass": "local", "packageType": package_type}
            assert admin.put(f"/artifactory/api/repositories/{key}", json=body).status_code == 200
    return SandboxClient(sandbox)


def _publish(action: ActionHarness, key: KeyPair, model_name: str, **inputs: str) -> ActionResult:
    for name, content in MODEL.items():
        (action.workspace / "model" / name).parent.mkdir(parents=True, exist_ok=True)
        (action.workspace / "model" / name).write_bytes(content)
    (action.workspace / "metrics.json").write_text('{"eval": {"accuracy": 0.94}}')
    (action.workspace / "requirements.txt").write_text(f"numpy==2.1.0 --hash=sha256:{REQ_HASH}\n")
    given = {"stages": "gate,upload,build-publish,promote", "model-path": "model", "repo": DEV, "target-repo": PROD,
             "model-name": model_name, "metrics-file": "metrics.json", "sign": "key", "signing-key": key.private_pem,
             "create-deployment": "false", "github-token": ""}  # fmt: skip
    result = action.run(given | CARD_INPUTS | inputs, env={"GITHUB_TOKEN": None})
    assert result.returncode == 0, result.log
    return result


def _checked(key: KeyPair) -> dict[str, str]:
    return {"verify-signature": "true", "verify-public-key": key.public_pem}


def _resolve(action: ActionHarness, key: KeyPair, folder: str, **inputs: str) -> ActionResult:
    given = {"stages": "resolve", "repo": DEV, "target-repo": PROD, "download-dir": folder}
    return action.run(given | _checked(key) | inputs)


def _stored(client: SandboxClient, folder: str) -> dict[str, str]:
    """The files below `folder` in production, with the sha256 the server reports."""
    rows = client.aql({"repo": PROD, "type": "file", "path": {"$match": f"{folder}*"}})
    return {f"{r['path']}/{r['name']}".removeprefix(folder + "/"): r["sha256"] for r in rows}


def _check_bom(text: bytes, stored: dict[str, str], model_name: str, model_version: str) -> dict[str, Any]:
    """Valid CycloneDX 1.6 listing every file of the folder (but itself and model.sig, made after it) by the sha256
    the server holds for it."""
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text.decode()) is None
    bom = json.loads(text)
    model = bom["metadata"]["component"]
    assert (model["type"], model["name"], model["version"]) == ("machine-learning-model", model_name, model_version)
    listed = {f["name"]: [(h["alg"], h["content"]) for h in f["hashes"]] for f in model["components"]}
    made_after = {"model.sig", "model-manifest.json", f"{model_name.rpartition('/')[2]}.cdx.json"}
    assert listed == {path: [("SHA-256", sha256)] for path, sha256 in stored.items() if path not in made_after}
    metrics = {m["type"]: m["value"] for m in model["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]}
    assert metrics == {"eval.accuracy": "0.94"}  # the gate of this job
    assert model["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert bom["components"][0]["purl"] == "pkg:pypi/numpy@2.1.0"
    return model  # type: ignore[no-any-return]


def _tamper(client: SandboxClient, folder: str, name: str) -> None:
    """One byte of a production file changed, and the build-info re-published to record it (what someone with
    deploy and build rights can do): build-info and the server's checksums agree, only model.sig does not."""
    original = client.download(PROD, f"{folder}/{name}")
    changed = original[:-1] + bytes([original[-1] ^ 1])
    client.deploy(PROD, f"{folder}/{name}", changed, **{"build.name": "fraud-model", "build.number": "7"})
    info = client.build("fraud-model", "7")
    assert info is not None
    for artifact in info["modules"][0]["artifacts"]:
        if artifact["path"] == f"{folder}/{name}":
            artifact.update({alg: hashlib.new(alg, changed).hexdigest() for alg in ("sha1", "sha256", "md5")})
    info["started"] = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    client._send("PUT", "/artifactory/api/build", json=info).raise_for_status()


def _refused(action: ActionHarness, key: KeyPair, name: str) -> None:
    refused = _resolve(action, key, "tampered", **{"resolve-build": "7"})  # the re-published run has no status
    assert refused.returncode == 1
    [(title, message)] = refused.errors
    assert title == "Model signature refused", message
    assert f"Hash mismatch for '{name}'" in message
    assert "Nothing was handed over." in message
    assert not (action.workspace / "tampered").exists()
    assert not list(action.workspace.glob(".tampered.verify-*"))


def test_a_hugging_face_revision_carries_its_signed_bom_to_production_and_a_changed_byte_is_refused(
    action: ActionHarness, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    venv = hub_venv()
    client = _repositories(sandbox, "huggingfaceml")
    key = key_pair()
    signer = f"key sha256:{public_key_fingerprint(key.public_pem)}"

    published = _publish(action, key, "acme/fraud", **_checked(key))

    # README.md (the model card), the two files and the BOM are signed; model.sig is not in the count
    assert "Added the AI-BOM fraud.cdx.json (CycloneDX 1.6, valid, 3 files) to the revision's files" in published.stdout
    assert "Signed 4 files (key) in" in published.stdout
    assert f"Signature checked: the 4 files of build fraud-model #7 in {DEV} are as signed by {signer}." in (
        published.stdout
    )  # promote compared model.sig, BOM included, with the sha256 Artifactory holds
    [bom_artifact] = [a for a in published.json_output("artifacts") if a["path"].endswith("/fraud.cdx.json")]
    folder = bom_artifact["path"].rpartition("/")[0]
    assert folder.startswith(f"models/acme/fraud/{SHA}_")
    url = f"{sandbox.url}/artifactory/{DEV}/{quote(folder)}/fraud.cdx.json"  # the folder is named <sha>_<time>
    assert published.outputs["bom-url"] == url
    assert f"AI-BOM (CycloneDX 1.6): [fraud.cdx.json]({url})" in published.summary
    stored = _stored(client, folder)
    assert sorted(stored) == ["README.md", "config/config.json", "fraud.cdx.json", "model.safetensors", "model.sig"]
    model = _check_bom(client.download(PROD, f"{folder}/fraud.cdx.json"), stored, "acme/fraud", "7")
    # the model's folder, which holds each revision as a folder (the same path in production)
    assert model["properties"] == [{"name": "ml-artifactory-action:artifactory-path", "value": "models/acme/fraud"}]
    info = client.build("fraud-model", "7")
    assert info is not None
    assert {a["path"]: a["sha256"] for a in info["modules"][0]["artifacts"]} == {
        f"{folder}/{path}": sha256 for path, sha256 in stored.items()
    }

    good = _resolve(action, key, "serving")

    assert good.returncode == 0, good.log
    assert f"Signature verified: 4 files of build fraud-model #7 signed by {signer}." in good.stdout
    snapshot = _snapshot_download(venv, sandbox, tmp_path)
    assert {p.relative_to(snapshot).as_posix() for p in snapshot.rglob("*") if not p.is_dir()} == set(stored)
    public = tmp_path / "key.pub"
    public.write_text(key.public_pem)
    # the snapshot's files are links into huggingface_hub's cache, and model_signing's CLI then counts model.sig
    # as a file of the model even with --ignore-paths: it verifies a copy with the files themselves
    folder_copy = shutil.copytree(snapshot, tmp_path / "snapshot-files")
    cli = model_signing_verify("key", folder_copy, "--public_key", str(public))
    assert (cli.returncode, cli.stdout.strip()) == (0, "Verification succeeded"), cli.stderr

    _tamper(client, folder, "model.safetensors")
    _refused(action, key, "model.safetensors")


def test_a_jfrog_ml_version_carries_its_signed_bom_to_production_and_a_changed_byte_is_refused(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    client = _repositories(sandbox, "machinelearning")
    key = key_pair()
    signer = f"key sha256:{public_key_fingerprint(key.public_pem)}"

    version = {"model-version": "1.4.0"}
    uploaded = _publish(action, key, "fraud-detector", stages="gate,upload", **version)
    # build-publish in a later job: nothing of the upload in memory, the BOM is found by its build properties
    published = action.run({"stages": "build-publish,promote", "repo": DEV, "target-repo": PROD, **CARD_INPUTS,
                            "model-name": "fraud-detector", "create-deployment": "false", "github-token": "",
                            **version, **_checked(key)})  # fmt: skip
    assert published.returncode == 0, published.log
    assert f"Signature checked: the 3 files of build fraud-model #7 in {DEV} are as signed by {signer}." in (
        published.stdout
    )

    folder = "models/fraud-detector/1.4.0"
    assert "Added the AI-BOM fraud-detector.cdx.json (CycloneDX 1.6, valid, 2 files) to the model version's files" in (
        uploaded.stdout
    )
    url = f"{sandbox.url}/artifactory/{DEV}/{folder}/fraud-detector.cdx.json"
    assert published.outputs["bom-url"] == url
    assert f"AI-BOM (CycloneDX 1.6): [fraud-detector.cdx.json]({url})" in published.summary
    stored = _stored(client, folder)
    assert sorted(stored) == [
        "config/config.json",
        "fraud-detector.cdx.json",
        "model-manifest.json",
        "model.safetensors",
        "model.sig",
    ]
    text = client.download(PROD, f"{folder}/fraud-detector.cdx.json")
    model = _check_bom(text, stored, "fraud-detector", "1.4.0")
    assert model["properties"] == [{"name": "ml-artifactory-action:artifactory-path", "value": folder}]
    manifest = json.loads(client.download(PROD, f"{folder}/model-manifest.json"))
    listed = {a["artifact_path"]: a["checksums"]["sha2"] for a in manifest["model_artifacts"]}
    assert listed["fraud-detector.cdx.json"] == hashlib.sha256(text).hexdigest(), "the version's manifest lists it"

    good = _resolve(action, key, "serving")

    assert good.returncode == 0, good.log
    assert f"Signature verified: 3 files of build fraud-model #7 signed by {signer}." in good.stdout
    served = action.workspace / "serving"
    assert (served / "fraud-detector.cdx.json").read_bytes() == text
    # A re-run without the gate signs anew and writes a BOM without metrics: the version keeps its first two.
    rerun = _publish(action, key, "fraud-detector", stages="upload", **version)
    assert (
        "Model fraud-detector version 1.4.0 is already in dev-local with these files: nothing to upload "
        "(fraud-detector.cdx.json and model.sig of this run not used: a version keeps its first)"
    ) in rerun.stdout
    assert client.download(DEV, f"{folder}/fraud-detector.cdx.json") == text

    _tamper(client, folder, "config/config.json")
    _refused(action, key, "config/config.json")


def _snapshot_download(venv: str, sandbox: SandboxHandle, tmp_path: Path) -> Path:
    """huggingface_hub's snapshot_download of the promoted revision from production; the snapshot's folder."""
    driver = (
        "import sys\nfrom huggingface_hub import snapshot_download\n"
        "print(snapshot_download('acme/fraud', revision=sys.argv[1], cache_dir=sys.argv[2]))\n"
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "HF_ENDPOINT": f"{sandbox.url}/artifactory/api/huggingfaceml/{PROD}",
        "HF_TOKEN": sandbox.admin_token,
        "HF_HUB_DISABLE_XET": "1",
    }
    done = subprocess.run(
        [f"{venv}/bin/python", "-c", driver, SHA, str(tmp_path / "hf-cache")],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip().splitlines()[-1])
