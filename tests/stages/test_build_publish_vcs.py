"""The vcs section of build-info: from the run, the push event, or the checkout."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ml_artifactory_action.buildinfo.vcs import git_head_message, vcs_for
from ml_artifactory_action.settings import GitHubContext

RUNNER_UID = 1001  # the runner's user on GitHub's hosted runners
RUN = GitHubContext(repository="acme/fraud-model", sha="a" * 40, ref_name="main")


def test_the_push_events_message_is_used_before_the_checkout() -> None:
    event = RUN.model_copy(update={"event": {"head_commit": {"message": "Retrain on May data"}}})
    vcs = vcs_for(event, read_message=lambda _w: "from git")
    assert vcs is not None
    assert vcs.as_build_info() == {
        "url": "https://github.com/acme/fraud-model.git",
        "revision": "a" * 40,
        "branch": "main",
        "message": "Retrain on May data",
    }


def test_a_pull_requests_branch_is_its_head_branch() -> None:
    vcs = vcs_for(RUN.model_copy(update={"head_ref": "feature/x", "ref_name": "12/merge"}), read_message=lambda _w: "")
    assert vcs is not None
    assert vcs.branch == "feature/x"
    assert "message" not in vcs.as_build_info()


def test_the_checkouts_last_commit_message_and_no_vcs_outside_a_repository(tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "Add the fraud model")
    assert git_head_message(tmp_path) == "Add the fraud model"
    assert git_head_message(tmp_path / "missing") == ""
    assert git_head_message(None) == ""
    assert vcs_for(GitHubContext()) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give the checkout to another user")
def test_a_checkout_owned_by_another_user_is_read_as_root(tmp_path: Path) -> None:
    """A Docker action is root on the runner user's checkout, which plain git refuses ("dubious ownership")."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    commit = ["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "Retrain"]
    subprocess.run(["git", "-C", str(tmp_path), *commit], check=True)
    for path in (tmp_path, *tmp_path.rglob("*")):
        os.chown(path, RUNNER_UID, RUNNER_UID, follow_symlinks=False)
    plain = subprocess.run(["git", "-C", str(tmp_path), "log", "-1"], capture_output=True, text=True, check=False)

    assert "dubious ownership" in plain.stderr
    assert git_head_message(tmp_path) == "Retrain"
