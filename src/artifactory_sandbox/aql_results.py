"""Run a parsed AQL query and shape Artifactory's JSON answer (`results` plus `range`).

Main-domain fields come from the compiled SELECT; included sub-domains (properties, build
linkage) are loaded for the page of rows afterwards, like Artifactory's nested result rows.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from artifactory_sandbox.aql import AqlError, Comparison, Criterion, Logical, Query
from artifactory_sandbox.aql_sql import (
    BUILD_COLUMNS,
    ITEM_COLUMNS,
    ITEM_RELATIONS,
    compile_query,
    main_fields,
)
from artifactory_sandbox.repos import read_order

# Artifactory's default for REST and AQL searches (`artifactory.search.userQueryLimit`, JFrog KB
# "Maximum number of search queries": "For REST Api/AQL search the default maximum value of
# results is 1000 entries."); a capped answer says so in `range.notification`.
DEFAULT_QUERY_LIMIT = 1000
TRIMMED_NOTICE = "AQL query reached the search hard limit, results are trimmed."
PROPERTY_INCLUDES = frozenset({"property", "property.*", "property.key", "property.value", "@*"})
ID_CHUNK = 500  # SQLite's bound-parameter limit is far above; keeps statements small
MINIMAL_ITEM_FIELDS = ("repo", "path", "name")
# "(?)" is widened to one mark per id of the page; nothing else is ever formatted into SQL.
ITEM_PROPERTIES_SQL = "SELECT item_id, key, value FROM properties WHERE item_id IN (?) ORDER BY item_id, key, value"
BUILD_PROPERTIES_SQL = (
    "SELECT b.id, p.key, p.value FROM builds b, json_each(b.info, '$.properties') p "
    "WHERE b.id IN (?) ORDER BY b.id, p.key"
)


@dataclass
class _Includes:
    """What `.include(...)` asked for besides main-domain fields."""

    properties: bool = False
    property_keys: list[str] = field(default_factory=list)
    relations: dict[str, list[str]] = field(default_factory=dict)  # "artifact" → field names


def execute(
    conn: sqlite3.Connection, query: Query, is_admin: bool, hard_limit: int = DEFAULT_QUERY_LIMIT
) -> dict[str, Any]:
    """The AQL response body for `query` (raises `AqlError` for a refused query).

    At most `hard_limit` rows are answered: a query without `.limit()`, or with a larger one, that
    finds more is cut there and `range` carries the notification and the limit.
    """
    includes, fields = _resolve_includes(query)
    if query.domain == "items" and not is_admin:
        _require_minimal_fields(fields)
    if query.domain == "items":
        query = dataclasses.replace(query, criteria=_through_virtuals(conn, query.criteria))
    capped = query.limit is None or query.limit > hard_limit
    bounded = dataclasses.replace(query, limit=hard_limit + 1) if capped else query
    compiled = compile_query(bounded, fields)
    rows = conn.execute(compiled.sql, compiled.params).fetchall()
    trimmed = len(rows) > hard_limit
    rows = rows[:hard_limit]
    results = [_main_row(row, fields, query.domain) for row in rows]
    _attach_includes(conn, query.domain, rows, results, includes)
    answer_range: dict[str, Any] = _range(query, len(results))
    if trimmed:
        answer_range |= {"limit": hard_limit, "notification": TRIMMED_NOTICE}
    return {"results": results, "range": answer_range}


def _through_virtuals(conn: sqlite3.Connection, criterion: Criterion) -> Logical:
    """`"repo": <virtual>` searches the virtual repository's members (JFrog "AQL supports virtual
    repositories": "the query will be applied to local repositories and remote repository caches
    included in the specified virtual repository")."""
    logical = criterion if isinstance(criterion, Logical) else Logical("$and", (criterion,))
    return Logical(logical.op, tuple(_expanded(conn, term) for term in logical.terms))


def _expanded(conn: sqlite3.Connection, term: Criterion) -> Criterion:
    if isinstance(term, Logical):
        return _through_virtuals(conn, term)
    if term.field != "repo" or term.op != "$eq" or not isinstance(term.value, str):
        return term
    row = conn.execute("SELECT rclass FROM repos WHERE key = ?", (term.value,)).fetchone()
    if row is None or row["rclass"] != "virtual":
        return term
    members = read_order(conn, term.value)
    return Logical("$or", tuple(Comparison("repo", "$eq", key) for key in members) or (term,))


def _resolve_includes(query: Query) -> tuple[_Includes, tuple[str, ...]]:
    includes = _Includes()
    main = ITEM_COLUMNS if query.domain == "items" else BUILD_COLUMNS
    names = [_main_name(name, query.domain) for name in query.include]
    expanded = [field for name in names for field in (list(main) if name == "*" else [name])]
    for name in expanded:
        if name not in main:
            _classify(name, includes, query)
    return includes, main_fields(query, expanded, lambda name: name in main)


def _main_name(name: str, domain: str) -> str:
    return name.removeprefix("build.") if domain == "builds" else name


def _classify(name: str, includes: _Includes, query: Query) -> None:
    if name in PROPERTY_INCLUDES:
        includes.properties = True
    elif name.startswith("@") and len(name) > 1:
        includes.property_keys.append(name[1:])
    elif query.domain == "items" and _relation_fields(name):
        relation = name.split(".", 1)[0]
        includes.relations.setdefault(relation, []).extend(_relation_fields(name))
    else:
        raise _include_error(query, name)


def _relation_fields(name: str) -> list[str]:
    if name in ITEM_RELATIONS and not name.startswith("property"):
        return [name]
    prefix = name.removesuffix(".*")
    if prefix in ("artifact", "dependency", "artifact.module", "dependency.module",
                  "artifact.module.build", "dependency.module.build"):  # fmt: skip
        return [key for key in ITEM_RELATIONS if key.startswith(prefix + ".")]
    return []


def _include_error(query: Query, name: str) -> AqlError:
    found = query.text.find(f'"{name}"')
    near = query.text[found:].strip() if found >= 0 else query.text
    return AqlError(
        f"Failed to parse query: {query.text}, it looks like there is syntax error near the following sub-query: {near}"
    )


def _require_minimal_fields(fields: Sequence[str]) -> None:
    if any(name not in fields for name in MINIMAL_ITEM_FIELDS):
        raise AqlError("For permissions reasons AQL demands the following fields: repo, path and name.")


def _main_row(row: sqlite3.Row, fields: Sequence[str], domain: str) -> dict[str, Any]:
    if domain == "builds":
        return {f"build.{name}": row[name] for name in fields if row[name] is not None}
    return {name: row[name] for name in fields if row[name] is not None}


def _range(query: Query, count: int) -> dict[str, int]:
    """Artifactory's `range`: end_pos and total count the rows returned; limit only if given."""
    answer = {"start_pos": query.offset, "end_pos": count, "total": count}
    if query.limit is not None:
        answer["limit"] = query.limit
    return answer


def _attach_includes(
    conn: sqlite3.Connection,
    domain: str,
    rows: Sequence[sqlite3.Row],
    results: list[dict[str, Any]],
    includes: _Includes,
) -> None:
    ids = [row["id"] for row in rows]
    if includes.properties or includes.property_keys:
        props = _load_properties(conn, domain, ids, includes)
        key = "properties" if domain == "items" else "build.properties"
        for row_id, result in zip(ids, results, strict=True):
            if props.get(row_id):
                result[key] = props[row_id]
    for relation, names in includes.relations.items():
        _attach_relation(conn, relation, names, ids, results)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield ids[start : start + ID_CHUNK]


def _load_properties(
    conn: sqlite3.Connection, domain: str, ids: Sequence[int], includes: _Includes
) -> dict[int, list[dict[str, str]]]:
    found: dict[int, list[dict[str, str]]] = defaultdict(list)
    wanted = None if includes.properties else set(includes.property_keys)
    for chunk in _chunks(ids):
        for owner, key, value in _property_rows(conn, domain, chunk):
            if wanted is None or key in wanted:
                found[owner].append(_property_entry(domain, key, value))
    return found


def _property_rows(conn: sqlite3.Connection, domain: str, chunk: Sequence[int]) -> list[sqlite3.Row]:
    sql = ITEM_PROPERTIES_SQL if domain == "items" else BUILD_PROPERTIES_SQL
    marks = ",".join("?" * len(chunk))
    return conn.execute(sql.replace("(?)", f"({marks})"), list(chunk)).fetchall()


def _property_entry(domain: str, key: str, value: Any) -> dict[str, str]:
    if domain == "items":
        return {"key": key, "value": str(value)}
    return {"build.property.key": key, "build.property.value": str(value)}


def _attach_relation(
    conn: sqlite3.Connection,
    relation: str,
    names: list[str],
    ids: Sequence[int],
    results: list[dict[str, Any]],
) -> None:
    table = "build_artifacts" if relation == "artifact" else "build_dependencies"
    id_col = "name" if relation == "artifact" else "id_"
    linked: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for chunk in _chunks(ids):
        marks = ",".join("?" * len(chunk))
        sql = (
            f"SELECT i.id AS item_id, r.{id_col} AS rname, r.type, r.sha1, r.md5, r.module, "  # noqa: S608  fixed names; ids are bound
            f"b.name AS bname, b.number, b.started, b.created, json_extract(b.info, '$.url') AS url "
            f"FROM items i JOIN {table} r ON r.sha1 = i.sha1 JOIN builds b ON b.id = r.build_id "
            f"WHERE i.id IN ({marks}) ORDER BY i.id, b.id"
        )
        for row in conn.execute(sql, list(chunk)):
            linked[row["item_id"]].append(_relation_entry(relation, names, row))
    plural = "artifacts" if relation == "artifact" else "dependencies"
    for row_id, result in zip(ids, results, strict=True):
        if linked.get(row_id):
            result[plural] = linked[row_id]


def _relation_entry(relation: str, names: list[str], row: sqlite3.Row) -> dict[str, Any]:
    values = {
        "name": row["rname"], "type": row["type"], "sha1": row["sha1"], "md5": row["md5"],
        "module.name": row["module"], "module.build.name": row["bname"],
        "module.build.number": row["number"], "module.build.started": row["started"],
        "module.build.created": row["created"], "module.build.url": row["url"],
    }  # fmt: skip
    wanted = {name.split(".", 1)[1] for name in names}
    build = {
        f"build.{k[13:]}": v
        for k, v in values.items()
        if k.startswith("module.build.") and k in wanted and v is not None
    }
    module = {k: v for k, v in values.items() if k == "module.name" and k in wanted and v}
    entry = {f"{relation}.{k}": v for k, v in values.items() if "." not in k and k in wanted and v}
    if build:
        module["builds"] = [build]
    if module:
        entry["modules"] = [module]
    return entry
