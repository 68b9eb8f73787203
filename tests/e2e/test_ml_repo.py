"""The pipeline into JFrog ML (`machinelearning`) repositories, run as the runner runs the action.

upload publishes a frogml model version (files + model-manifest.json under models/<name>/<version>/),
build-publish, scan, promote (dev to prod ML repository) and resolve work on it as on generic files,
and JFrog's frogml SDK, unchanged, loads the version the action published and promoted.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle
from tests.e2e.conftest import FAKE_GITHUB_TOKEN, ActionHarness, ActionResult
from tests.e2e.test_pipeline import EXPLOIT, safetensors
from tests.fakes.github_api import FakeGitHub, run_fake_github
from tests.fakes.sandbox_client import SandboxClient

DEV, PROD = "ml-dev-local", "ml-prod-local"
NAME, VERSION = "fraud-detector", "1.4.0"
FOLDER = f"models/{NAME}/{VERSION}"
BOM = f"{NAME}.cdx.json"  # the AI-BOM the upload writes into the version
MODEL = {"model.safetensors": safetensors([0.5, -1.25, 2.0, 0.0]), "config/config.json": b'{"features": 4}'}
FROGML_DRIVER = Path(__file__).parents[1] / "sandbox" / "frogml_driver.py"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with run_fake_github(FAKE_GITHUB_TOKEN) as fake:
        yield fake


@pytest.fixture
def ml_repos(sandbox: SandboxHandle) -> SandboxHandle:
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.admin_token}"}) as admin:
        for key in (DEV, PROD):
            config = {"rclass": "local", "packageType": "machinelearning"}
            assert admin.put(f"/artifactory/api/repositories/{key}", json=config).status_code == 200
        assert admin.delete("/_sandbox/requests").status_code == 204  # the log shows the action's requests only
    return sandbox


def write_model(action: ActionHarness, files: dict[str, bytes] = MODEL) -> None:
    for name, content in files.items():
        path = action.workspace / "model" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def run(action: ActionHarness, github: FakeGitHub, stages: str, **inputs: str) -> ActionResult:
    given = {"stages": stages, "model-path": "model", "repo": DEV, "target-repo": PROD, "model-name": NAME,
             "model-version": VERSION, "download-dir": "serving"}  # fmt: skip
    return action.run(given | inputs, env={"GITHUB_API_URL": github.url})


def manifest(sandbox: SandboxHandle, repo: str) -> dict[str, Any]:
    url = f"{sandbox.url}/artifactory/api/machinelearning/{repo}/model/entity-manifest/{NAME}/{VERSION}"
    answer = httpx.get(url, headers={"Authorization": f"Bearer {sandbox.admin_token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def frogml_load(sandbox: SandboxHandle, repo: str, target: Path) -> dict[str, str]:
    """frogml.files.load_model from the frogml venv (`FROGML_VENV`, built by make test)."""
    venv = os.environ.get("FROGML_VENV")
    if not venv:
        pytest.skip("FROGML_VENV is not set: it names the virtualenv with frogml (make test builds it)")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(target.parent), "JF_URL": sandbox.url,
           "JF_ACCESS_TOKEN": sandbox.admin_token}  # fmt: skip
    done = subprocess.run([f"{venv}/bin/python", str(FROGML_DRIVER), "load", repo, NAME, VERSION, str(target)],
                          env=env, capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.rsplit("RESULT ", 1)[1])["loaded"]  # type: ignore[no-any-return]


def digests(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}


def test_every_stage_carries_a_model_version_from_a_dev_to_a_prod_ml_repository(
    action: ActionHarness, ml_repos: SandboxHandle, github: FakeGitHub, tmp_path: Path
) -> None:
    write_model(action)
    client = SandboxClient(ml_repos)
    (action.workspace / "metrics.json").write_text('{"eval": {"accuracy": 0.94}}')
    gate = {"metrics-file": "metrics.json", "thresholds": "eval.accuracy >= 0.9", "compare-to-production": "true"}

    result = run(action, github, "gate,upload,build-publish,scan,promote,resolve", **gate)

    assert result.returncode == 0, result.log
    assert result.errors == []
    stored = [f"{FOLDER}/{n}" for n in ("config/config.json", BOM, "model-manifest.json", "model.safetensors")]
    assert client.files(DEV) == client.files(PROD) == stored
    assert sorted(a["path"] for a in result.json_output("artifacts")) == stored
    assert result.outputs["model-url"] == f"{ml_repos.url}/artifactory/{DEV}/{FOLDER}"
    published = manifest(ml_repos, PROD)
    listed = {a["artifact_path"]: a["checksums"]["sha2"] for a in published["model_artifacts"]}
    assert listed == digests(MODEL) | {BOM: hashlib.sha256(client.download(PROD, f"{FOLDER}/{BOM}")).hexdigest()}
    assert published["model_format"]["framework"] == "files"
    assert all(
        a["download_url"].startswith(f"{ml_repos.url}/artifactory/{PROD}/{FOLDER}/")
        for a in published["model_artifacts"]
    )
    assert client.properties(DEV, f"{FOLDER}/model.safetensors")["model.version"] == [VERSION]
    assert client.properties(PROD, f"{FOLDER}/model.safetensors")["env"] == ["production"]
    assert client.properties(PROD, f"{FOLDER}/model-manifest.json")["metric.eval.accuracy"] == ["0.94"]
    info = client.build("fraud-model", "7")
    assert info is not None
    assert sorted(a["path"] for a in info["modules"][0]["artifacts"]) == stored
    assert [s["status"] for s in info["statuses"]] == ["Production"]
    assert (result.outputs["scan-result"], result.outputs["promoted"]) == ("pass", "true")
    serving = action.workspace / "serving"
    assert {n: (serving / n).read_bytes() for n in MODEL} == MODEL
    # Nothing was read back from the transaction's folder (the upload's own look at each target path
    # before it is written, /api/storage, is not a read of the model).
    downloads = [r for r in client.requests() if r["method"] == "GET" and not r["path"].startswith("/artifactory/api/")]
    assert not [r for r in downloads if "/tmp/" in r["path"]]

    assert frogml_load(ml_repos, PROD, tmp_path / "frogml" / "loaded") == listed
    # The next candidate is gated against the version in production, found through its build.
    (action.workspace / "metrics.json").write_text('{"eval": {"accuracy": 0.91}}')
    worse = run(action, github, "gate,upload", **gate, **{"model-version": "1.5.0", "build-number": "8"})
    assert worse.returncode == 1
    [(title, message)] = worse.errors
    assert title == "Quality gate failed"
    assert "production" in message
    assert client.files(DEV) == stored


def test_a_rerun_finds_the_version_published_and_other_files_under_it_are_refused(
    action: ActionHarness, ml_repos: SandboxHandle, github: FakeGitHub
) -> None:
    write_model(action)
    assert run(action, github, "upload").returncode == 0
    client = SandboxClient(ml_repos)
    before = client.files(DEV)

    again = run(action, github, "upload")

    assert again.returncode == 0, again.log
    assert again.outputs["uploaded-bytes"] == "0"
    assert f"Model {NAME} version {VERSION} is already in {DEV} with these files: nothing to upload" in again.stdout
    write_model(action, {"model.safetensors": safetensors([9.0, 9.0, 9.0, 9.0])})

    changed = run(action, github, "upload")

    assert changed.returncode == 1
    [(title, message)] = changed.errors
    assert title == "Invalid input 'model-version'"
    assert message == (
        f"Input 'model-version': model {NAME} version {VERSION} is already in {DEV} with other files "
        "(differing: model.safetensors). JFrog ML model versions cannot be replaced: set model-version to a new version."
    )
    assert client.files(DEV) == before
    write_model(action)

    next_version = run(action, github, "upload", **{"model-version": "1.4.1"})

    assert next_version.returncode == 0, next_version.log
    assert next_version.outputs["deduplicated-files"] == "2"  # the server had both files' content
    sent = [
        r
        for r in client.requests()
        if r["method"] == "PUT" and "/1.4.1/" in r["path"] and "/api/" not in r["path"] and BOM not in r["path"]
    ]
    assert sorted((r["status"], r["bytes_received"]) for r in sent) == [(201, 0), (201, 0)]


def test_a_dry_run_bad_names_and_an_unsafe_model_change_nothing(
    action: ActionHarness, ml_repos: SandboxHandle, github: FakeGitHub
) -> None:
    write_model(action)
    client = SandboxClient(ml_repos)

    dry = run(action, github, "upload,build-publish", **{"dry-run": "true"})
    bad = run(action, github, "upload", **{"model-version": "1.4 beta"})
    write_model(action, {"model.pkl": EXPLOIT})
    unsafe = run(action, github, "upload", **{"model-version": "1.5.0"})

    assert dry.returncode == 0, dry.log
    assert f"Dry run: model {NAME} version {VERSION} would be published to {DEV} with its manifest" in dry.stdout
    assert f"Dry run: would add the AI-BOM {BOM} (CycloneDX 1.6, valid, 2 files) to the model version's files." in (
        dry.stdout
    )
    assert f"Dry run: the AI-BOM the upload would store at {DEV}/{FOLDER}/{BOM} would be listed in the build" in (
        dry.stdout
    )
    assert bad.returncode == 1
    assert bad.errors[0][0] == "Invalid input 'model-version'"
    assert "'1.4 beta' cannot name a JFrog ML model version" in bad.errors[0][1]
    assert unsafe.returncode == 1
    assert unsafe.errors[0][0] == "Unsafe model file refused"
    assert client.files(DEV) == []
    assert [
        r["path"] for r in client.requests() if r["method"] in ("PUT", "POST", "DELETE") and "aql" not in r["path"]
    ] == []


def test_a_refused_manifest_leaves_no_upload_behind_and_the_next_run_publishes(
    action: ActionHarness, ml_repos: SandboxHandle, github: FakeGitHub
) -> None:
    write_model(action)
    fault = {"path": "/entity-manifest/", "method": "PUT", "status": 400, "message": "Manifest refused for the test"}
    httpx.post(
        f"{ml_repos.url}/_sandbox/faults", json=fault, headers={"Authorization": f"Bearer {ml_repos.admin_token}"}
    )
    client = SandboxClient(ml_repos)

    failed = run(action, github, "upload")

    assert failed.returncode == 1
    [(title, message)] = failed.errors
    assert title == "Artifactory request failed"
    assert "publishing the manifest of model fraud-detector version 1.4.0" in message
    assert "Manifest refused for the test" in message
    assert client.files(DEV) == []
    assert client.aql({"repo": DEV, "type": "any", "path": {"$match": f"models/{NAME}/tmp/{VERSION}*"}}) == []
    retried = run(action, github, "upload")
    assert retried.returncode == 0, retried.log
    assert client.files(DEV) == [
        f"{FOLDER}/config/config.json",
        f"{FOLDER}/{BOM}",
        f"{FOLDER}/model-manifest.json",
        f"{FOLDER}/model.safetensors",
    ]


def test_a_virtual_ml_repository_publishes_into_its_default_deployment_repository(
    action: ActionHarness, ml_repos: SandboxHandle, github: FakeGitHub
) -> None:
    write_model(action)
    with httpx.Client(base_url=ml_repos.url, headers={"Authorization": f"Bearer {ml_repos.admin_token}"}) as admin:
        for key, default in (("ml-virtual", DEV), ("ml-virtual-bare", "")):
            config = {"rclass": "virtual", "packageType": "machinelearning", "repositories": [DEV]}
            config |= {"defaultDeploymentRepo": default} if default else {}
            assert admin.put(f"/artifactory/api/repositories/{key}", json=config).status_code == 200
    client = SandboxClient(ml_repos)

    bare = run(action, github, "upload", repo="ml-virtual-bare")
    published = run(action, github, "upload", repo="ml-virtual")

    assert bare.returncode == 1
    assert bare.errors[0][0] == "Invalid input 'repo'"
    assert "'ml-virtual-bare' is a virtual repository without a default deployment repository" in bare.errors[0][1]
    assert published.returncode == 0, published.log
    assert client.files(DEV) == [
        f"{FOLDER}/config/config.json",
        f"{FOLDER}/{BOM}",
        f"{FOLDER}/model-manifest.json",
        f"{FOLDER}/model.safetensors",
    ]
    assert {a["repo"] for a in published.json_output("artifacts")} == {DEV}
