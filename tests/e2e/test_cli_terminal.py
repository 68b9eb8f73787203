"""`ml-artifactory` typed at a terminal, outside GitHub Actions: the README's own sandbox example,
run as a person runs it (no GITHUB_* variables, flags only), and what that person reads."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
STAGING = "ml-models-staging-local"
WORKFLOW_COMMAND = re.compile(r"^::", re.MULTILINE)


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
