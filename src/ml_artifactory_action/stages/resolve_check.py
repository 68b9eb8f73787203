"""What resolve hands over is what the build recorded, checked before a byte is downloaded.

Files are found by their `build.*` properties, which anyone with deploy rights can drop (a file
overwritten after promotion loses them) or copy. So the build's own build-info decides: every
artifact it lists must be in the repository at its path, with the sha256 it recorded (sha1 when it
recorded no sha256); a file the build does not list is not handed over either. Build-info records
no sizes; the download checks each file's bytes against the checksum, which covers its size.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ml_artifactory_action.artifactory.builds import get_build
from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.models import Item, items_at
from ml_artifactory_action.errors import ResolveError

MISMATCH_FIX = (
    "Someone changed the files after promotion. Promote the build again (promote with this build-number) "
    "or roll back; keep deploy permission on target-repo to the pipeline."
)


@dataclass(frozen=True)
class Recorded:
    """One artifact as the build-info lists it."""

    path: str
    name: str
    sha256: str
    sha1: str

    @classmethod
    def from_build_info(cls, entry: Mapping[str, Any]) -> Recorded:
        text = {key: str(entry.get(key) or "") for key in ("path", "name", "sha256", "sha1")}
        return cls(
            text["path"].strip("/"), text["name"] or text["path"].rpartition("/")[2], text["sha256"], text["sha1"]
        )

    def matches(self, item: Item) -> bool:
        return item.sha256 == self.sha256 if self.sha256 else bool(self.sha1) and item.sha1 == self.sha1

    def recorded(self) -> str:
        return f"sha256 {self.sha256}" if self.sha256 else f"sha1 {self.sha1}"


def recorded_artifacts(info: Mapping[str, Any]) -> list[Recorded]:
    modules = info.get("modules") or []
    return [Recorded.from_build_info(a) for m in modules if isinstance(m, dict) for a in m.get("artifacts") or []]


def verified_items(
    client: ArtifactoryClient, repo: str, items: Sequence[Item], build: tuple[str, str], project: str
) -> list[Item]:
    """The files of build (name, number) in `repo`, each as the build-info recorded it; else raise."""
    name, number = build
    info = get_build(client, name, number, project)
    if info is None:
        raise ResolveError(
            f"Build {name} #{number} has no build-info on the server, so its files cannot be checked against "
            "what the build recorded; nothing was downloaded.",
            fix="Publish the build (build-publish) before resolving it; check build-name and project.",
        )
    recorded = recorded_artifacts(info)
    if not recorded:
        raise ResolveError(
            f"The build-info of {name} #{number} lists no files; nothing was downloaded.",
            fix="Publish the build with its files (upload, then build-publish).",
        )
    chosen, problems = _match(client, repo, items, recorded)
    if problems:
        raise ResolveError(
            f"{repo} does not hold build {name} #{number} as it was recorded, so nothing was downloaded: "
            + "; ".join(problems),
            fix=MISMATCH_FIX,
            title="Production model differs from its build",
        )
    return sorted(chosen, key=lambda item: item.repo_path)


def _match(
    client: ArtifactoryClient, repo: str, items: Sequence[Item], recorded: Sequence[Recorded]
) -> tuple[list[Item], list[str]]:
    by_path = {item.repo_path: item for item in items}
    unlisted = [r.path for r in recorded if r.path and r.path not in by_path]
    at_path = items_at(client, repo, unlisted) if unlisted else {}
    chosen: dict[str, Item] = {}
    checked: set[str] = set()
    problems = []
    for entry in recorded:
        item = by_path.get(entry.path) or at_path.get(entry.path) or _by_name(items, entry)
        if item is not None:
            checked.add(item.repo_path)
        problem = _problem(entry, item)
        if problem:
            problems.append(problem)
        elif item is not None:
            chosen[item.repo_path] = item
    problems += [
        f"{path} carries the build's properties but the build does not list it"
        for path in sorted(set(by_path) - checked)
    ]
    return list(chosen.values()), problems


def _by_name(items: Iterable[Item], entry: Recorded) -> Item | None:
    """Build-info without paths (older clients): the one file of that name, if only one."""
    if entry.path:
        return None
    named = [item for item in items if item.name == entry.name]
    return named[0] if len(named) == 1 else None


def _problem(entry: Recorded, item: Item | None) -> str:
    where = entry.path or entry.name
    if item is None:
        return f"{where} is missing"
    if not (entry.sha256 or entry.sha1):
        return f"{where}: the build-info records no sha256 or sha1 to check it against"
    if not entry.matches(item):
        found = f"sha256 {item.sha256}" if entry.sha256 else f"sha1 {item.sha1}"
        return f"{item.repo_path} holds {found}, the build recorded {entry.recorded()}"
    return ""
