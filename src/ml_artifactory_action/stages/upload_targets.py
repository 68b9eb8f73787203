"""What the target paths hold: a model version is written once, a concurrent run is caught, and a
failed upload says exactly what it left on the server.

A target path that holds other content stops the upload before a byte is sent, unless `overwrite`.
Artifactory has no conditional PUT, so a run writing the same paths at the same time is caught by
looking twice: each path again just before its file is deployed, and all of them once more after
every file is. One window stays open: a run whose PUT lands between our last look and our own PUT
is overwritten by us, and it is that run's look afterwards that finds it lost. After a failure, only
the files this run created and that still hold its content are deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.search import known_files
from ml_artifactory_action.errors import TargetTakenError
from ml_artifactory_action.runner import Runner

if TYPE_CHECKING:
    from ml_artifactory_action.stages.uploader import FilePlan

TAKEN_FIX = (
    "A model version is written once: give a new model-version (or target-path), or set overwrite: true "
    "to replace these files."
)
RACE_FIX = "Another run is uploading the same model version: give each run its own model-version and build-number."


def check_targets(
    plans: list[FilePlan], *, overwrite: bool, hash_file: Callable[[FilePlan], str], runner: Runner
) -> None:
    """Before a byte is sent: target paths holding other content stop the upload, unless overwrite."""
    for plan in plans:
        if plan.at_target is not None and plan.sha256 is None and plan.at_target.size == plan.file.size:
            plan.sha256 = hash_file(plan)  # same size: only the content tells
    taken = [p.path for p in plans if p.replaces_other_content]
    if not taken:
        return
    if overwrite:
        runner.info(f"overwrite is set: replacing {len(taken)} files that hold other content: {', '.join(taken)}")
        return
    raise TargetTakenError(
        f"{len(taken)} of {len(plans)} target paths already hold other content, so nothing was uploaded: "
        f"{', '.join(taken)}",
        fix=TAKEN_FIX,
    )


def holding(client: ArtifactoryClient, repo: str, paths: Iterable[str]) -> dict[str, str]:
    """{path: sha256} of what the target paths hold now (one query)."""
    wanted = sorted(set(paths))
    found = known_files(client, repo=repo, paths=wanted) if wanted else []
    return {item.repo_path: item.sha256 for item in found if item.repo == repo and item.repo_path in wanted}


def taken_meanwhile(repo: str, path: str, now: str | None) -> TargetTakenError:
    return TargetTakenError(
        f"{repo}/{path} was written by another run while this one uploaded (it now holds sha256 {now}); "
        "this run did not replace it",
        fix=RACE_FIX,
    )


def confirm_stored(client: ArtifactoryClient, repo: str, ours: dict[str, str]) -> None:
    """After deploying: every path still holds this run's content (no run wrote over it since)."""
    now = holding(client, repo, ours)
    lost = sorted(path for path, sha256 in ours.items() if now.get(path) != sha256)
    if lost:
        raise TargetTakenError(
            f"{', '.join(lost)} {'was' if len(lost) == 1 else 'were'} replaced by another run after this one "
            "uploaded them",
            fix=RACE_FIX,
        )


@dataclass
class Cleanup:
    """What became of each target path after a failed upload, and what to delete."""

    created: list[str] = field(default_factory=list)  # this run created it and it is still ours
    removed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # held this content before the run
    replaced: list[str] = field(default_factory=list)  # overwrite: this run's content replaced another
    others: list[str] = field(default_factory=list)  # content this run did not record

    def sort(self, path: str, before: str | None, ours: str | None, now: str | None) -> None:
        """File one path by what it held before, what this run stored there, and what it holds now."""
        if now is None or (now == before and ours != now):
            return  # as before the run (or still empty)
        if ours is None or now != ours:
            self.others.append(path)
        elif before is None:
            self.created.append(path)
        elif before == ours:
            self.kept.append(path)
        else:
            self.replaced.append(path)

    def describe(self) -> str:
        parts = []
        if self.removed:
            parts.append(f"Removed {_files(self.removed)} this run had created")
        if self.failed:
            parts.append(f"Could not remove {', '.join(self.failed)}, created by this run: delete by hand")
        if self.kept:
            parts.append(f"{_files(self.kept)} already held this content and {_verb(self.kept, 'keeps', 'keep')} it")
        if self.replaced:
            parts.append(
                f"{_files(self.replaced)} replaced by this run (overwrite) {_verb(self.replaced, 'keeps', 'keep')} "
                "its content: what was there before is not restored"
            )
        if self.others:
            parts.append(
                f"{_files(self.others)} {_verb(self.others, 'holds', 'hold')} content this run did not store "
                f"(another run's, or an upload cut short) and {_verb(self.others, 'was', 'were')} left alone"
            )
        if not parts:
            return "The target paths are as they were before the run"
        if self.kept or self.replaced:
            parts.append("the files this run deployed carry its properties")
        return "; ".join(parts) + "; every other target path is as it was before the run"


def _files(paths: list[str]) -> str:
    return f"{len(paths)} files ({', '.join(sorted(paths))})" if len(paths) > 1 else paths[0]


def _verb(paths: list[str], one: str, many: str) -> str:
    return one if len(paths) == 1 else many
