"""`ml-artifactory` typed at a terminal, outside GitHub Actions: the README's own sandbox example,
run as a person runs it (no GITHUB_* variables, flags only), and what that person reads."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from artifactory_sandbox.testing import SandboxHandle
from tests.e2e.conftest import ROOT, ActionHarness
from tests.e2e.test_pipeline import MODEL
from tests.fakes.sandbox_client import SandboxClient

README = (ROOT / "README.md").read_text(encoding="utf-8")
STAGING = "ml-models-staging-local"
WORKFLOW_COMMAND = re.compile(r"^::", re.MULTILINE)


def readme_command() -> list[str]:
    """The `ml-artifactory run ...` command of README's sandbox section, as a shell would split it."""
    section = README.split("## Test your own pipeline against the sandbox", 1)[1]
    match = re.search(r"^\$ \.venv/bin/ml-artifactory run (.*?)\n(?!    )", section, re.MULTILINE | re.DOTALL)
    assert match, "README's sandbox section has no `ml-artifactory run` example"
    return ["run", *shlex.split(match.group(1).replace("\\\n", " "))]


def terminal(cwd: Path, home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI with the environment of a shell: no GITHUB_*, no runner files."""
    base = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, "-m", "ml_artifactory_action.cli", *args],
        cwd=cwd,
        env=base | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def lay_out(folder: Path) -> None:
    (folder / "model").mkdir(parents=True)
    for name, content in MODEL.items():
        (folder / "model" / name).write_bytes(content)
    (folder / "metrics.json").write_text(json.dumps({"accuracy": 0.95}))


def test_the_readme_example_runs_and_prints_for_people(action: ActionHarness, sandbox: SandboxHandle) -> None:
    lay_out(action.workspace)
    env = {"JF_URL": sandbox.url, "JF_ACCESS_TOKEN": sandbox.admin_token}

    proc = terminal(action.workspace, action.home, *readme_command(), env=env)

    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    version = re.search(r"^--model-version not given: using (\d{8}\.\d{6})$", proc.stdout, re.MULTILINE)
    assert version, proc.stdout
    assert "--model-name not given: using model" in proc.stdout.splitlines()
    stored = sorted(f"model/{version.group(1)}/{name}" for name in [*MODEL, "model.cdx.json"])  # and the AI-BOM
    assert SandboxClient(sandbox).files(STAGING) == stored
    assert WORKFLOW_COMMAND.search(log) is None  # no ::add-mask::, ::group::, ::error:: at a terminal
    assert sandbox.admin_token not in log
    assert "== upload" in proc.stdout.splitlines()


def test_every_missing_input_is_named_at_once_as_a_flag(tmp_path: Path) -> None:
    proc = terminal(tmp_path, tmp_path, "run", "--stages", "upload,build-publish")

    assert proc.returncode == 1
    assert proc.stdout.splitlines()[:2] == [
        "Error: Missing inputs",
        "2 inputs are missing: --url is not given and JF_URL is not set; --model-path is not given: nothing to "
        "upload. Give --url, --model-path (`ml-artifactory run --help` describes each).",
    ]
    assert "with:" not in proc.stdout


def test_errors_are_plain_text_with_their_percent_signs_and_no_secret(tmp_path: Path) -> None:
    token = "local-token-0123456789-secret"
    args = ["upload", "--model-path", "100%/", "--model-name", "m", "--model-version", "1"]
    args += ["--url", "http://127.0.0.1:9", "--access-token", token]

    proc = terminal(tmp_path, tmp_path, *args)

    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[lines.index("Error: Model files not usable") + 1] == (
        f"model-path '100%/': no such file or folder in the workspace ({tmp_path.resolve()}). "
        "Check model-path: one file, folder or glob per line, relative to the workspace."
    )
    assert "%25" not in proc.stdout
    assert WORKFLOW_COMMAND.search(proc.stdout) is None
    assert token not in proc.stdout + proc.stderr


def test_an_absolute_model_path_outside_the_current_folder_is_uploaded(
    action: ActionHarness, sandbox: SandboxHandle, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "runs" / "fraud"
    lay_out(elsewhere)
    args = ["upload", "--model-path", str(elsewhere / "model"), "--model-version", "3"]

    proc = terminal(
        action.workspace, action.home, *args, env={"JF_URL": sandbox.url, "JF_ACCESS_TOKEN": sandbox.admin_token}
    )

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SandboxClient(sandbox).files(STAGING) == sorted(f"model/3/{name}" for name in MODEL)


def test_in_actions_a_model_path_outside_the_workspace_must_move_inside(action: ActionHarness, tmp_path: Path) -> None:
    elsewhere = tmp_path / "runs" / "fraud"
    lay_out(elsewhere)

    result = action.run({"stages": "upload", "model-path": str(elsewhere / "model")})

    assert result.returncode == 1
    assert result.errors == [
        (
            "Model files not usable",
            f"model-path '{elsewhere / 'model'}' is outside the workspace: in GitHub Actions, model-path must be "
            f"inside GITHUB_WORKSPACE ({action.workspace.resolve()}). Write or copy the model into the workspace "
            "and give its path relative to it.",
        )
    ]
