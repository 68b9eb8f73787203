"""The vcs section of build-info: from the run, the push event, or the checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ml_artifactory_action.buildinfo.vcs import git_head_message, vcs_for
from ml_artifactory_action.settings import GitHubContext

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
