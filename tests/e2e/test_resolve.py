"""resolve against the sandbox: the production model, a given build, or files by properties."""

from __future__ import annotations

import json
import os
import stat

import pytest

from artifactory_sandbox.testing import SandboxHandle
from tests.e2e.conftest import ActionHarness
from tests.fakes.sandbox_client import SandboxClient

STAGE = "ml-models-staging-local"
RUNNER_UID = 1001  # the runner's user on GitHub's hosted runners
FILES = {
    "model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + b"\x00" * 64,
    "tokenizer/vocab.txt": b"a\nb\n",
}


def published_and_promoted(action: ActionHarness, sandbox: SandboxHandle) -> None:
    client = SandboxClient(sandbox)
    for name, content in FILES.items():
        client.deploy(STAGE, f"fraud-model/7/{name}", content, **{"build.name": "fraud-model", "build.number": "7"})
    # No github-token: this test is about the files, not the GitHub deployment.
    result = action.run({"stages": "build-publish,promote", "github-token": ""}, env={"GITHUB_TOKEN": None})
    assert result.returncode == 0, result.log


def test_resolve_downloads_the_production_model_verified_and_only_once(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    published_and_promoted(action, sandbox)

    first = action.run({"stages": "resolve", "download-dir": "serving/model"})
    again = action.run({"stages": "resolve", "download-dir": "serving/model"})

    assert first.returncode == again.returncode == 0
    assert first.outputs == {"download-path": "serving/model", "resolved-build": "7"}
    for name, content in FILES.items():
        assert (action.workspace / "serving" / "model" / name).read_bytes() == content
    # the model's two files and its AI-BOM (build-publish lists it in the build)
    assert "Downloaded 3 of 3 files" in first.stdout
    assert "Downloaded 0 of 3 files" in again.stdout
    assert (
        json.loads((action.workspace / "serving" / "model" / "fraud-model.cdx.json").read_bytes())["bomFormat"]
        == "CycloneDX"
    )
    assert "| tokenizer/vocab.txt | 4 B |" in first.summary
    assert "already in place" in again.summary


def test_resolve_by_properties_by_build_and_as_a_dry_run(action: ActionHarness, sandbox: SandboxHandle) -> None:
    published_and_promoted(action, sandbox)

    by_props = action.run({"stages": "resolve", "resolve-properties": "env=production", "download-dir": "p"})
    by_build = action.run({"stages": "resolve", "resolve-build": "7", "download-dir": "b"})
    dry = action.run({"stages": "resolve", "dry-run": "true", "download-dir": "d"})
    missing = action.run({"stages": "resolve", "resolve-build": "8"})

    assert by_props.returncode == by_build.returncode == dry.returncode == 0
    assert (action.workspace / "p" / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    assert (action.workspace / "b" / "tokenizer" / "vocab.txt").read_bytes() == FILES["tokenizer/vocab.txt"]
    assert not (action.workspace / "d").exists()
    assert "Would download 3 of 3 files" in dry.stdout
    assert missing.errors == [
        (
            "Model not found",
            "Build fraud-model #8 has no files in ml-models-prod-local. Promote the build to target-repo first, or check resolve-build and build-name.",
        )
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give the workspace to another user, as the runner has it")
def test_files_left_for_later_steps_are_the_workspace_owners_with_ordinary_modes(action: ActionHarness) -> None:
    """The Docker action is root; the job's next step (`python serve.py`) runs as the runner's user."""
    for name, content in FILES.items():
        (action.workspace / "model" / name).parent.mkdir(parents=True, exist_ok=True)
        (action.workspace / "model" / name).write_bytes(content)
    for path in (action.workspace, *action.workspace.rglob("*"), action.home):
        os.chown(path, RUNNER_UID, RUNNER_UID)
    umask = os.umask(0o022)
    os.umask(umask)

    result = action.run(
        {"stages": "upload,build-publish,promote,resolve", "model-path": "model", "download-dir": "serving/model"},
        env={"GITHUB_TOKEN": None},
    )

    assert result.returncode == 0, result.log
    cache = action.home / ".cache" / "ml-artifactory-action"
    written = [
        (action.workspace / "serving", 0o777),
        (action.workspace / "serving" / "model" / "tokenizer", 0o777),
        (action.workspace / "serving" / "model" / "model.safetensors", 0o666),
        (action.workspace / "serving" / "model" / "tokenizer" / "vocab.txt", 0o666),
        (action.home / ".cache", 0o777),
        (cache, 0o777),
        (cache / "hash-cache.json", 0o666),
    ]
    for path, mode in written:
        st = path.stat()
        assert (path, st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (path, RUNNER_UID, RUNNER_UID, mode & ~umask)


def test_a_production_file_overwritten_after_promotion_is_refused_and_nothing_handed_over(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    published_and_promoted(action, sandbox)
    SandboxClient(sandbox).deploy(
        "ml-models-prod-local", "fraud-model/7/model.safetensors", b"not the promoted weights"
    )

    result = action.run({"stages": "resolve", "download-dir": "serving/model"})

    assert result.returncode == 1
    [(title, message)] = result.errors
    assert title == "Production model differs from its build"
    assert "fraud-model/7/model.safetensors holds sha256 " in message
    assert "so nothing was downloaded" in message
    assert not (action.workspace / "serving").exists()
