"""Answers for the AQL and build endpoints behind the production history (gate, promote, resolve)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from tests.fakes.jfrog import FakeJFrog, jfrog_error, jfrog_json

AQL = "/artifactory/api/search/aql"


def aql_criteria(request: httpx.Request) -> dict[str, Any]:
    text = request.content.decode()
    criteria: dict[str, Any] = json.loads(text[len("items.find(") : text.index(").include(")])
    return criteria


def item_row(repo: str, path: str, build: str, number: str, **props: str) -> dict[str, Any]:
    folder, _, name = path.rpartition("/")
    properties = {"build.name": build, "build.number": number, **props}
    return {
        "repo": repo,
        "path": folder or ".",
        "name": name,
        "size": 3,
        "sha256": f"{number:0>64}"[-64:],
        "actual_sha1": f"{number:0>40}"[-40:],
        "actual_md5": f"{number:0>32}"[-32:],
        "created": f"2024-05-0{min(int(number), 9)}T10:00:00.000Z",
        "properties": [{"key": k, "value": v} for k, v in properties.items()],
    }


class Repos:
    """Files by repository; AQL on build properties and exact paths is answered from them."""

    def __init__(self, rows: Sequence[dict[str, Any]] = ()) -> None:
        self.rows = list(rows)

    def answer(self, request: httpx.Request) -> httpx.Response:
        criteria = aql_criteria(request)
        return jfrog_json({"results": [row for row in self.rows if _matches(row, criteria)]})


def _matches(row: Mapping[str, Any], criteria: Mapping[str, Any]) -> bool:
    props = {(p["key"], p["value"]) for p in row["properties"]}
    for key, value in criteria.items():
        if key == "type":
            continue
        if key == "$or":
            if not any(_matches(row, c) for c in value):
                return False
        elif key == "$and":
            if not all(_matches(row, c) for c in value):
                return False
        elif key.startswith("@"):
            if (key[1:], value) not in props:
                return False
        elif row.get(key) != value:
            return False
    return True


def status(when_day: int, status: str = "Production", repo: str = "ml-models-prod-local") -> dict[str, str]:
    return {
        "status": status,
        "repository": repo,
        "timestamp": f"2024-05-{when_day:02d}T10:00:00.000+0000",
        "ciUser": "octocat",
    }


def serve_builds(fake: FakeJFrog, name: str, builds: Mapping[str, Mapping[str, Any]]) -> None:
    """GET api/build/{name}/{number} for each build; other numbers are 404."""
    for number, info in builds.items():
        fake.on(
            "GET",
            f"/artifactory/api/build/{name}/{number}",
            jfrog_json({"buildInfo": {"name": name, "number": number, **info}}),
        )
    fake.on(
        "GET",
        f"/artifactory/api/build/{name}/[^/]+",
        jfrog_error(404, f"No build was found for build name: {name}"),
    )
    fake.on("GET", "/artifactory/api/repositories/[^/]+", local_repository)


def local_repository(request: httpx.Request) -> httpx.Response:
    """Every repository asked about is a local one (a test wanting a virtual one answers first)."""
    key = request.url.path.rsplit("/", 1)[1]
    return jfrog_json({"key": key, "rclass": "local", "packageType": "generic"})
