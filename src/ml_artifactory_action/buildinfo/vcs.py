"""The `vcs` section of build-info: repository URL, commit, branch and commit message."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ml_artifactory_action.settings import GitHubContext

GIT_TIMEOUT_SECONDS = 10
MAX_MESSAGE_CHARS = 2000
# Where git is when PATH does not say (the image's Debian package puts it in /usr/bin).
FALLBACK_PATH = "/usr/bin:/bin"


@dataclass(frozen=True)
class Vcs:
    url: str
    revision: str
    branch: str
    message: str

    def as_build_info(self) -> dict[str, str]:
        fields = {"url": self.url, "revision": self.revision, "branch": self.branch, "message": self.message}
        return {key: value for key, value in fields.items() if value}


def git_head_message(workspace: Path | None) -> str:
    """`git log -1 --format=%B` in the workspace, or '' when git or the checkout is not there.

    A Docker action runs as root on a checkout the runner's user owns, which git refuses as
    "dubious ownership" unless the folder is a `safe.directory`; `-c` is one of the scopes git
    reads that setting from, and it trusts this one folder for this one command only.
    """
    git = shutil.which("git") or shutil.which("git", path=FALLBACK_PATH)
    if workspace is None or git is None:
        return ""
    try:
        done = subprocess.run(  # noqa: S603  fixed arguments; the workspace path is not interpreted by a shell
            [git, "-c", f"safe.directory={workspace}", "-C", str(workspace), "log", "-1", "--format=%B"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def vcs_for(github: GitHubContext, read_message: Callable[[Path | None], str] = git_head_message) -> Vcs | None:
    """The run's VCS details; the message from the push event, else from the checkout."""
    if not (github.repository or github.sha):
        return None
    message = github.commit_message or read_message(github.workspace)
    return Vcs(
        url=f"{github.repository_url}.git" if github.repository else "",
        revision=github.sha,
        branch=github.head_ref or github.ref_name,
        message=message[:MAX_MESSAGE_CHARS],
    )
