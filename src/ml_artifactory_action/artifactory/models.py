"""Finding a model's files in Artifactory: by build, by exact path, or by properties (AQL).

Every upload carries `build.name` / `build.number` properties and promotion copies them with the
files, so "the files of build N in repo R" is an AQL query on those properties, which works the
same in the staging and the production repository.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.properties import Properties
from ml_artifactory_action.artifactory.search import Item, aql, items_query, or_queries

__all__ = ["Item", "build_items", "find_items", "items_at", "items_with_properties", "metric_key", "metric_properties"]

ITEM_FIELDS = ("repo", "path", "name", "size", "sha256", "actual_sha1", "actual_md5", "created", "property")
METRIC_PREFIX = "metric."
# Characters a property key may not hold; the upload writes `metric.<name>` with them as '_'.
_NOT_KEY_CHARS = re.compile(r"[^A-Za-z0-9_.:\-]")


def find_items(client: ArtifactoryClient, criteria: Mapping[str, Any], *, action: str) -> list[Item]:
    """Files matching an AQL criteria object, with their checksums and properties."""
    return [
        Item.from_aql(row) for row in aql(client, items_query({**criteria, "type": "file"}, ITEM_FIELDS), action=action)
    ]


def build_items(client: ArtifactoryClient, repo: str, build_name: str, build_number: str) -> list[Item]:
    """The files of one build in one repository, by their build properties."""
    criteria = {"repo": repo, "@build.name": build_name, "@build.number": build_number}
    items = find_items(client, criteria, action=f"Finding the files of build {build_name} #{build_number} in {repo}")
    return sorted(items, key=lambda item: item.repo_path)


def items_at(client: ArtifactoryClient, repo: str, paths: Sequence[str]) -> dict[str, Item]:
    """The files that exist at these exact paths of `repo`, by path."""
    found: dict[str, Item] = {}
    for query in or_queries([_path_criteria(p) for p in paths], {"repo": repo}, ITEM_FIELDS):
        for row in aql(client, query, action=f"Checking {len(paths)} files in {repo}"):
            item = Item.from_aql(row)
            found[item.repo_path] = item
    return found


def _path_criteria(repo_path: str) -> dict[str, str]:
    folder, _, name = repo_path.strip("/").rpartition("/")
    return {"path": folder or ".", "name": name}


def items_with_properties(client: ArtifactoryClient, repo: str, properties: Properties) -> list[Item]:
    """The files of `repo` that carry every given property value."""
    clauses = [{f"@{key}": value} for key, values in properties for value in values]
    items = find_items(client, {"repo": repo, "$and": clauses}, action=f"Finding files by properties in {repo}")
    return sorted(items, key=lambda item: item.repo_path)


def metric_properties(items: Iterable[Item]) -> dict[str, float]:
    """The `metric.<name>` properties the upload recorded, from the first file that has any."""
    for item in items:
        metrics = {
            key.removeprefix(METRIC_PREFIX): number
            for key, values in item.properties.items()
            if key.startswith(METRIC_PREFIX) and values and (number := _number(values[0])) is not None
        }
        if metrics:
            return metrics
    return {}


def metric_key(metric: str) -> str:
    """The name under which a metric is stored as a `metric.<name>` property."""
    return _NOT_KEY_CHARS.sub("_", metric)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
