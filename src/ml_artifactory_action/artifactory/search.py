"""Artifactory Query Language: one function to run a query, and the queries the stages need.

AQL is posted as plain text to `api/search/aql`; the answer is `{"results": [...], "range": {...}}`.
Non-admin users must include `repo`, `path` and `name`, so every items query here includes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.errors import ArtifactoryError

AQL_PATH = "api/search/aql"
# What the upload needs to know about an item, to skip sending bytes it already has.
ITEM_FIELDS = ("repo", "path", "name", "type", "size", "sha256", "actual_sha1", "actual_md5")
# Artifactory refuses longer queries by default (`aql.search.query.max.length`, 6000 characters);
# many files are asked about in several queries, each kept under this.
MAX_QUERY_CHARS = 5000
# Rows asked per page: within Artifactory's default search limit (1000), so a page is cut only
# by a server configured lower, and then the next page starts after what it did answer.
PAGE_ROWS = 1000
STABLE_ORDER = '.sort({"$asc":["repo","path","name"]})'
PROPERTY_INCLUDE = '"property"'
# What paging adds to a query at most (a 10-digit offset), kept inside MAX_QUERY_CHARS too.
PAGE_SUFFIX_CHARS = len(f"{STABLE_ORDER}.offset({10**10}).limit({PAGE_ROWS})")


def aql(client: ArtifactoryClient, query: str, *, action: str = "searching Artifactory (AQL)") -> list[dict[str, Any]]:
    """Run one AQL query to its end: the `results` of every page of the answer.

    Artifactory cuts an answer at its search limit (`artifactory.search.userQueryLimit`, 1000 rows
    by default) and says so only in `range.notification`. A query without properties is asked page
    by page (sorted by repo, path and name, `.offset().limit()`), each page starting after the rows
    already read. One that includes properties cannot be paged (Artifactory applies sort and limit
    to its property rows; the JFrog CLI drops `property` from such queries for that reason), so a
    trimmed answer to it is refused rather than acted on.
    """
    if PROPERTY_INCLUDE in query:
        rows, trimmed = _answer(client, query, action)
        if trimmed:
            raise _trimmed(action, len(rows))
        return rows
    rows = []
    while True:
        page, trimmed = _answer(client, f"{query}{STABLE_ORDER}.offset({len(rows)}).limit({PAGE_ROWS})", action)
        rows += page
        if not trimmed and len(page) < PAGE_ROWS:
            return rows
        if not page:
            raise _trimmed(action, len(rows))


def _answer(client: ArtifactoryClient, query: str, action: str) -> tuple[list[dict[str, Any]], bool]:
    """The rows of one answer, and whether the server says it cut them (`range.notification`)."""
    response = client.request(
        "POST", AQL_PATH, body=query.encode(), headers={"Content-Type": "text/plain"}, action=action
    )
    try:
        body = response.json()
        results, answer_range = body["results"], body.get("range") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ArtifactoryError(
            f"{action}: the answer of {AQL_PATH} is not an AQL result: {response.text[:200]!r}",
            fix="Check that url points at a JFrog Platform (Artifactory under /artifactory).",
        ) from None
    if not isinstance(results, list):
        raise ArtifactoryError(f"{action}: `results` of {AQL_PATH} is not a list", fix="Check url.")
    trimmed = isinstance(answer_range, dict) and bool(answer_range.get("notification"))
    return [item for item in results if isinstance(item, dict)], trimmed


def _trimmed(action: str, count: int) -> ArtifactoryError:
    return ArtifactoryError(
        f"{action}: Artifactory cut its answer at {count} results (its search limit), "
        "so the list is incomplete and nothing was done with it",
        fix="Raise the server's AQL result limit (artifactory.search.userQueryLimit in artifactory.system.properties), "
        "or keep fewer files of this model in the repository.",
    )


def items_query(criteria: dict[str, Any], fields: Sequence[str] = ITEM_FIELDS) -> str:
    """`items.find(<criteria>).include(<fields>)` with the criteria as JSON."""
    include = ",".join(json.dumps(f) for f in fields)
    return f"items.find({json.dumps(criteria, separators=(',', ':'))}).include({include})"


@dataclass(frozen=True)
class Item:
    """A file in Artifactory as AQL describes it."""

    repo: str
    path: str  # folder, "." at the repository root
    name: str
    size: int = 0
    sha256: str = ""
    sha1: str = ""
    md5: str = ""
    created: str = ""
    properties: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def repo_path(self) -> str:
        """Path of the file inside its repository (`model/3/model.pkl`)."""
        return self.name if self.path in (".", "") else f"{self.path}/{self.name}"

    def prop(self, key: str) -> str:
        values = self.properties.get(key, ())
        return values[0] if values else ""

    @classmethod
    def from_aql(cls, row: Mapping[str, Any]) -> Item:
        properties: dict[str, tuple[str, ...]] = {}
        for prop in row.get("properties", []):
            key, value = str(prop.get("key", "")), str(prop.get("value", ""))
            properties[key] = (*properties.get(key, ()), value)
        return cls(
            repo=str(row.get("repo", "")),
            path=str(row.get("path", ".")),
            name=str(row.get("name", "")),
            size=int(row.get("size") or 0),
            sha256=str(row.get("sha256") or ""),
            sha1=str(row.get("actual_sha1") or ""),
            md5=str(row.get("actual_md5") or ""),
            created=str(row.get("created") or ""),
            properties=properties,
        )


def known_files(
    client: ArtifactoryClient,
    *,
    sizes: Iterable[int] = (),
    sha256s: Iterable[str] = (),
    repo: str = "",
    paths: Iterable[str] = (),
) -> list[Item]:
    """In one query (or more, each under MAX_QUERY_CHARS): the readable files with one of `sizes`
    or `sha256s`, and whatever is at `repo`/`paths`.

    Sizes tell which local files the server may already hold (a size nobody has means the content
    is new); checksums tell which it does hold; paths tell what the target holds before we deploy.
    """
    terms: list[dict[str, Any]] = [{"size": size} for size in sorted(set(sizes))]
    terms += [{"sha256": sha256} for sha256 in sorted(set(sha256s))]
    terms += [_at(repo, path) for path in sorted(set(paths))]
    found: list[Item] = []
    for query in or_queries(terms):
        answer = aql(client, query, action="asking Artifactory which files it already holds")
        found += [Item.from_aql(item) for item in answer]
    return found


def or_queries(
    terms: list[dict[str, Any]], base: Mapping[str, Any] | None = None, fields: Sequence[str] = ITEM_FIELDS
) -> Iterator[str]:
    """`items.find({<base>,"type":"file","$or":[...]})` queries over all terms, each under MAX_QUERY_CHARS."""

    def query(batch: list[dict[str, Any]]) -> str:
        return items_query({**(base or {}), "type": "file", "$or": batch}, fields)

    empty = len(query([])) + PAGE_SUFFIX_CHARS
    batch: list[dict[str, Any]] = []
    length = empty
    for term in terms:
        size = len(json.dumps(term, separators=(",", ":"))) + 1  # and its comma
        if batch and length + size > MAX_QUERY_CHARS:
            yield query(batch)
            batch, length = [], empty
        batch.append(term)
        length += size
    if batch:
        yield query(batch)


def _at(repo: str, path: str) -> dict[str, Any]:
    folder, _, name = path.strip("/").rpartition("/")
    return {"repo": repo, "path": folder or ".", "name": name}
