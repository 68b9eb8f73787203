"""The sha1 and md5 that let Artifactory link a build's dependencies to the files it holds.

Artifactory links a build-info dependency to a stored file by its sha1 (build-info schema:
dependencies carry `sha1`, `md5`, `sha256`; a dependency without a matching sha1 shows unlinked).
Lock files and hashed requirements give only the sha256 of a distribution file, so each is looked
up in Artifactory by sha256 (one AQL query per few hundred, paged) and takes that file's sha1 and
md5. A dependency whose file Artifactory does not hold (installed straight from PyPI, not through
an Artifactory remote) has nothing to be linked to: it keeps its sha256 alone, and the count of
such dependencies is told. Computing sha1 from a local wheel cache would not change that, since
linking needs the file in Artifactory, so it is not done.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.search import Item, known_files
from ml_artifactory_action.model.dependencies import Dependency


def with_artifactory_checksums(client: ArtifactoryClient, dependencies: Sequence[Dependency]) -> list[Dependency]:
    """`dependencies` with the sha1 and md5 of the file Artifactory holds with each one's sha256."""
    wanted = {d.sha256.lower() for d in dependencies if d.sha256}
    if not wanted:
        return list(dependencies)
    found = {item.sha256.lower(): item for item in known_files(client, sha256s=sorted(wanted)) if item.sha1}
    return [_linked(dep, found.get(dep.sha256.lower())) for dep in dependencies]


def _linked(dependency: Dependency, item: Item | None) -> Dependency:
    return dataclasses.replace(dependency, sha1=item.sha1, md5=item.md5) if item is not None else dependency


def unlinked(dependencies: Sequence[Dependency]) -> list[Dependency]:
    """The dependencies Artifactory will show unlinked (no sha1 to link them by)."""
    return [d for d in dependencies if not d.sha1]
