"""The upload stage end to end: the entrypoint with INPUT_* variables (and the `ml-artifactory upload`
command) against a fresh sandbox, checked by what a user sees and what the server stores."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle
from tests.e2e.conftest import ActionHarness, ActionResult

REPO = "ml-models-staging-local"
FOLDER = "fraud-model/7"  # GITHUB_REPOSITORY acme/fraud-model, GITHUB_RUN_NUMBER 7 in the harness
WEIGHTS = os.urandom(3 << 20)
FILES = {"config.json": b'{"model_type": "bert"}', "model.safetensors": WEIGHTS, "tokenizer.json": b"{}"}


class Exploit:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


def stored_files(sandbox: SandboxHandle, repo: str = REPO) -> list[str]:
    response = httpx.get(
        f"{sandbox.url}/artifactory/api/storage/{repo}/?list&deep=1",
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
    )
    return sorted(f["uri"].lstrip("/") for f in response.json().get("files", []))


def bytes_received(sandbox: SandboxHandle) -> int:
    log = httpx.get(f"{sandbox.url}/_sandbox/requests", headers={"Authorization": f"Bearer {sandbox.admin_token}"})
    return sum(r["bytes_received"] for r in log.json() if r["method"] == "PUT")


def forget_requests(sandbox: SandboxHandle) -> None:
    httpx.delete(f"{sandbox.url}/_sandbox/requests", headers={"Authorization": f"Bearer {sandbox.admin_token}"})


@pytest.fixture
def model(action: ActionHarness) -> Path:
    folder = action.workspace / "model"
    folder.mkdir()
    for name, data in FILES.items():
        (folder / name).write_bytes(data)
    return folder


def upload(action: ActionHarness, **inputs: str) -> ActionResult:
    return action.run({"stages": "upload", "model-path": "model", **inputs})


def shown(result: ActionResult) -> str:
    """Everything a user can read: the log (but the mask commands), the summary, the outputs."""
    log = [line for line in result.stdout.splitlines() if not line.startswith("::add-mask::")]
    return "\n".join([*log, result.summary, json.dumps(result.outputs)])


def assert_one_error(result: ActionResult, title: str, message: str) -> None:
    """Exit 1, one error annotation with this title and message, and the failure in the summary."""
    assert result.returncode == 1, result.log
    assert len(result.errors) == 1, result.errors
    [(got_title, got_message)] = result.errors
    assert got_title == title
    assert message in got_message, got_message
    assert f"### :x: {title}" in result.summary
    assert "**How to fix:**" in result.summary
    assert "Traceback" not in result.log


def test_a_model_folder_is_uploaded_with_outputs_and_summary(
    action: ActionHarness, sandbox: SandboxHandle, model: Path
) -> None:
    result = upload(action)
    assert result.returncode == 0, result.log
    assert result.errors == []
    assert stored_files(sandbox) == [f"{FOLDER}/{name}" for name in sorted(FILES)]
    artifacts = result.json_output("artifacts")
    assert [(a["path"], a["size"], a["sha256"]) for a in artifacts] == [
        (f"{FOLDER}/{name}", len(data), hashlib.sha256(data).hexdigest()) for name, data in sorted(FILES.items())
    ]
    for artifact in artifacts:
        assert (
            httpx.get(artifact["download_url"], headers={"Authorization": f"Bearer {sandbox.admin_token}"}).content
            == (FILES[artifact["path"].rsplit("/", 1)[1]])
        )
    assert result.outputs["model-url"] == f"{sandbox.url}/artifactory/{REPO}/{FOLDER}"
    assert result.outputs["uploaded-bytes"] == str(sum(len(d) for d in FILES.values()))
    assert result.outputs["deduplicated-files"] == "0"
    assert f"### Model files uploaded to `{REPO}/{FOLDER}`" in result.summary
    assert "| [model.safetensors](" in result.summary
    assert f"`{hashlib.sha256(WEIGHTS).hexdigest()[:12]}` | sent |" in result.summary
    assert sandbox.admin_token not in shown(result)


def test_running_again_sends_no_bytes(action: ActionHarness, sandbox: SandboxHandle, model: Path) -> None:
    cache = str(action.root / "runner-temp" / "hashes")
    assert upload(action, **{"hash-cache-dir": cache}).returncode == 0
    forget_requests(sandbox)
    again = upload(action, **{"hash-cache-dir": cache})
    assert again.returncode == 0, again.log
    assert bytes_received(sandbox) == 0
    assert again.outputs["uploaded-bytes"] == "0"
    assert again.outputs["deduplicated-files"] == "3"
    assert "| deduplicated |" in again.summary


def test_the_upload_command_of_the_cli(action: ActionHarness, sandbox: SandboxHandle, model: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ml_artifactory_action.cli", "upload", "--model-path", "model/model.safetensors",
         "--model-name", "fraud", "--model-version", "1.2.0", "--url", sandbox.url, "--repo", REPO],
        cwd=action.workspace,
        env={"PATH": os.environ["PATH"], "HOME": str(action.home), "JF_ACCESS_TOKEN": sandbox.admin_token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert stored_files(sandbox) == ["fraud/1.2.0/model.safetensors"]
    assert f"Uploaded fraud/1.2.0/model.safetensors (3.0 MiB, sha256 {hashlib.sha256(WEIGHTS).hexdigest()[:12]})" in (
        proc.stdout
    )


def test_a_dry_run_changes_nothing(action: ActionHarness, sandbox: SandboxHandle, model: Path) -> None:
    result = upload(action, **{"dry-run": "true"})
    assert result.returncode == 0, result.log
    assert stored_files(sandbox) == []
    assert f"### Model files would be uploaded to `{REPO}/{FOLDER}`" in result.summary
    assert "| would send |" in result.summary


# One clear error, exit 1, nothing on the server ----------------------------------------------
def test_no_such_path(action: ActionHarness, sandbox: SandboxHandle) -> None:
    result = upload(action, **{"model-path": "models/missing.onnx"})
    assert_one_error(
        result,
        "Model files not usable",
        f"model-path 'models/missing.onnx': no such file or folder in the workspace ({action.workspace})",
    )
    assert stored_files(sandbox) == []


def test_an_empty_folder(action: ActionHarness, sandbox: SandboxHandle) -> None:
    (action.workspace / "model").mkdir()
    assert_one_error(
        upload(action), "Model files not usable", "model-path 'model' is an empty folder: there is nothing to upload"
    )
    assert stored_files(sandbox) == []


def test_an_unreadable_file(action: ActionHarness, sandbox: SandboxHandle, model: Path) -> None:
    (model / "weights.bin").symlink_to(model / "deleted-by-the-training-job.bin")
    result = upload(action)
    assert_one_error(
        result, "Model files not usable", f"{model / 'weights.bin'} cannot be read: it is a broken symlink"
    )
    assert stored_files(sandbox) == []


def test_bad_properties(action: ActionHarness, sandbox: SandboxHandle, model: Path) -> None:
    result = upload(action, properties="team=fraud;owner")
    assert_one_error(
        result,
        "Invalid input 'properties'",
        "Input 'properties': cannot read property 'owner'; write 'key=value' pairs separated by ';'",
    )
    assert stored_files(sandbox) == []


def test_a_target_escaping_the_repository(action: ActionHarness, sandbox: SandboxHandle, model: Path) -> None:
    result = upload(action, **{"target-path": "models/../../etc/"})
    assert_one_error(
        result, "Invalid input 'target-path'", "Input 'target-path': 'models/../../etc/' climbs out of the repository"
    )
    assert stored_files(sandbox) == []


def test_an_unknown_repository(action: ActionHarness, sandbox: SandboxHandle, model: Path) -> None:
    result = upload(action, repo="ml-models-nope-local")
    assert_one_error(
        result,
        "Invalid input 'repo'",
        f"Input 'repo': repository 'ml-models-nope-local' does not exist on {sandbox.url}",
    )


def test_a_wrong_token(action: ActionHarness, sandbox: SandboxHandle, model: Path) -> None:
    result = upload(action, **{"access-token": "not-the-admin-token-42"})
    assert_one_error(result, "Artifactory refused the credentials", "answered 401")
    assert "not-the-admin-token-42" not in shown(result)
    assert stored_files(sandbox) == []


def test_a_malicious_pickle(action: ActionHarness, sandbox: SandboxHandle, model: Path) -> None:
    (model / "preprocessor.pkl").write_bytes(pickle.dumps(Exploit()))
    result = upload(action)
    assert_one_error(
        result,
        "Unsafe model file refused",
        f"1 of 4 model files would run code when loaded, so nothing was uploaded: {model / 'preprocessor.pkl'}: ",
    )
    assert "system" in result.errors[0][1]
    assert stored_files(sandbox) == []


def test_a_server_failing_halfway_leaves_nothing_behind(
    action: ActionHarness, sandbox: SandboxHandle, model: Path
) -> None:
    httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
        # A refusal, not an outage: the subprocess would spend real seconds retrying a 5xx.
        json={"method": "PUT", "path": r"tokenizer\.json$", "status": 409, "message": "Conflict with a held item"},
    ).raise_for_status()
    result = upload(action, **{"max-workers": "1"})
    assert_one_error(result, "Artifactory request failed", f"{model / 'tokenizer.json'}: uploading it: PUT ")
    assert (
        "Removed 2 files (fraud-model/7/config.json, fraud-model/7/model.safetensors) this run had created; every "
        "other target path is as it was before the run."
    ) in result.errors[0][1]
    assert stored_files(sandbox) == []
