"""Search endpoints: AQL, property search and checksum search (`/artifactory/api/search/...`).

AQL failures answer 400 with the message as a plain-text body, as Artifactory's AqlResource does
(not the JSON error envelope).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import aql
from .aql_results import execute
from .aql_sql import glob_pattern
from .http import HttpError, Request, Response, Route, json_response, text_response

if TYPE_CHECKING:
    from .app import Sandbox

AQL_MAX_CHARS = 6000  # Artifactory's default aql.search.query.max.length
PROP_RESULT_TYPE = "application/vnd.org.jfrog.artifactory.search.MetadataSearchResult+json"
CHECKSUM_RESULT_TYPE = "application/vnd.org.jfrog.artifactory.search.ChecksumSearchResult+json"
CHECKSUM_KINDS = ("sha1", "md5", "sha256")
PROP_RESERVED = frozenset({"repos"})


def run_aql(req: Request, ctx: Sandbox) -> Response:
    text = req.read_text()
    if not text.strip():
        return Response(400)
    if len(text) > AQL_MAX_CHARS:
        return text_response(f"AQL query exceeds the maximum length of {AQL_MAX_CHARS}", 400)
    principal = req.principal
    try:
        query = aql.parse(text)
        with ctx.db.read() as conn:
            answer = execute(conn, query, principal is not None and principal.is_admin, ctx.config.aql_limit)
    except aql.AqlError as err:
        return text_response(str(err), 400)
    return json_response(answer)


def storage_uri(base_url: str, repo: str, path: str, name: str) -> str:
    full = name if path == "." else f"{path}/{name}"
    return f"{base_url}/artifactory/api/storage/{repo}/{quote(full)}"


def prop_search(req: Request, ctx: Sandbox) -> Response:
    """Items having every given property (`k=v1,v2` means any of the values; `*` wildcards)."""
    criteria = {key: _values(values) for key, values in req.query.items() if key not in PROP_RESERVED}
    if not criteria:
        raise HttpError(400, "Please specify at least one property to search for")
    where, params = _prop_where(criteria)
    repos = _repos(req)
    if repos:
        where.append(f"i.repo IN ({','.join('?' * len(repos))})")
        params.extend(repos)
    sql = "SELECT i.repo, i.path, i.name FROM items i WHERE " + " AND ".join(where)  # noqa: S608  only fixed SQL and "?" marks
    with ctx.db.read() as conn:
        rows = conn.execute(sql + " ORDER BY i.id", params).fetchall()
    results = [{"uri": storage_uri(req.base_url, r["repo"], r["path"], r["name"])} for r in rows]
    return json_response({"results": results}, content_type=PROP_RESULT_TYPE)


def _values(raw: list[str]) -> list[str]:
    values = [value for item in raw for value in item.split(",")]
    return [value for value in values if value] or ["*"]


def _prop_where(criteria: dict[str, list[str]]) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for key, values in criteria.items():
        ors = " OR ".join("p.value GLOB ?" for _ in values)
        where.append(f"EXISTS (SELECT 1 FROM properties p WHERE p.item_id = i.id AND p.key = ? AND ({ors}))")  # noqa: S608  only "?" marks
        params.extend([key, *(glob_pattern(value) for value in values)])
    return where, params


def _repos(req: Request) -> list[str]:
    return [repo for value in req.query.get("repos", []) for repo in value.split(",") if repo]


def checksum_search(req: Request, ctx: Sandbox) -> Response:
    given = {kind: req.arg(kind) for kind in CHECKSUM_KINDS if req.arg(kind)}
    if len(given) != 1:
        raise HttpError(400, "Please specify exactly one of sha1, md5 or sha256")
    ((kind, value),) = given.items()
    column = {"sha1": "i.sha1", "md5": "i.md5", "sha256": "i.sha256"}[kind]
    sql = f"SELECT i.repo, i.path, i.name FROM items i WHERE {column} = ? AND i.type = 'file'"  # noqa: S608  column from a fixed map
    params: list[Any] = [str(value).lower()]
    repos = _repos(req)
    if repos:
        sql += f" AND i.repo IN ({','.join('?' * len(repos))})"
        params.extend(repos)
    with ctx.db.read() as conn:
        rows = conn.execute(sql + " ORDER BY i.id", params).fetchall()
    results = [{"uri": storage_uri(req.base_url, r["repo"], r["path"], r["name"])} for r in rows]
    return json_response({"results": results}, content_type=CHECKSUM_RESULT_TYPE)


ROUTES = [
    Route("POST", r"/artifactory/api/search/aql", run_aql),
    Route("GET", r"/artifactory/api/search/prop", prop_search),
    Route("GET", r"/artifactory/api/search/checksum", checksum_search),
]
