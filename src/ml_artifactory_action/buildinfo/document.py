"""The build-info document in JFrog's schema (as the JFrog CLI / build-info-go writes it).

One `generic` module per model (`<model-name>:<model-version>`) holds every uploaded file with its
three checksums, and the Python dependencies of `dependencies-file`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from ml_artifactory_action import __version__
from ml_artifactory_action.artifactory.builds import jfrog_time
from ml_artifactory_action.buildinfo.vcs import Vcs
from ml_artifactory_action.model.dependencies import Dependency

AGENT = {"name": "ml-artifactory-action", "version": __version__}
BUILD_AGENT = {"name": "GENERIC", "version": __version__}
MODULE_TYPE = "generic"
DEPENDENCY_TYPE = "pypi"
DEPENDENCY_SCOPE = "runtime"


@dataclass(frozen=True)
class BuildArtifact:
    """A file of the build as stored in Artifactory."""

    repo: str
    path: str  # inside the repository, no leading slash
    sha1: str
    sha256: str
    md5: str
    size: int = 0

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def type(self) -> str:
        return PurePosixPath(self.path).suffix.lstrip(".").lower()

    def as_build_info(self) -> dict[str, str]:
        entry = {"name": self.name, "type": self.type, "path": self.path, "originalDeploymentRepo": self.repo}
        entry |= {"sha1": self.sha1, "sha256": self.sha256, "md5": self.md5}
        return {key: value for key, value in entry.items() if value}


@dataclass(frozen=True)
class BuildInfoInput:
    name: str
    number: str
    module_id: str
    started: dt.datetime
    run_url: str
    artifacts: Sequence[BuildArtifact]
    dependencies: Sequence[Dependency]
    vcs: Vcs | None
    env: Mapping[str, str]
    principal: str = ""


def dependency_entry(dep: Dependency) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": dep.id, "type": DEPENDENCY_TYPE, "scopes": [DEPENDENCY_SCOPE]}
    entry |= {key: value for key, value in (("sha1", dep.sha1), ("sha256", dep.sha256), ("md5", dep.md5)) if value}
    return entry


def build_info_document(data: BuildInfoInput, *, now: dt.datetime, in_ci: bool) -> dict[str, Any]:
    module: dict[str, Any] = {
        "type": MODULE_TYPE,
        "id": data.module_id,
        "artifacts": [a.as_build_info() for a in data.artifacts],
    }
    if data.dependencies:
        module["dependencies"] = [dependency_entry(d) for d in data.dependencies]
    document: dict[str, Any] = {
        "version": "1.0.1",
        "name": data.name,
        "number": data.number,
        "type": "GENERIC",
        "agent": AGENT,
        "buildAgent": BUILD_AGENT,
        "started": jfrog_time(data.started),
        "modules": [module],
    }
    duration = int((now - data.started).total_seconds() * 1000)
    if in_ci and duration > 0:
        document["durationMillis"] = duration
    if data.principal:
        document["principal"] = data.principal
    if data.run_url:
        document["url"] = data.run_url
    if data.vcs is not None:
        document["vcs"] = [data.vcs.as_build_info()]
    if data.env:
        document["properties"] = dict(data.env)
    return document
