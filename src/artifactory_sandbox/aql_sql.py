"""Compile a parsed AQL `Query` into one parameterised SQLite SELECT over the contract schema.

User text only ever travels as a bound parameter; the SQL text is assembled from the fixed
column tables below. Semantics follow Artifactory: an object's criteria are ANDed over one joined
row (so `artifact.module.build.name` and `...number` refer to the same build), each `@property`
criterion is its own sub-query, negative property criteria mean "no such property value", `$match`
wildcards are `*` and `?` (case-sensitive), and `items` queries return files only unless a `type`
criterion is present.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from artifactory_sandbox.aql import AqlError, Comparison, Criterion, Logical, Query

DEPTH_SQL = "(CASE WHEN i.path = '.' THEN 1 ELSE length(i.path) - length(replace(i.path, '/', '')) + 2 END)"
ITEM_COLUMNS = {
    "repo": "i.repo", "path": "i.path", "name": "i.name", "type": "i.type", "size": "i.size",
    "created": "i.created", "created_by": "i.created_by", "modified": "i.modified",
    "modified_by": "i.modified_by", "updated": "i.updated", "depth": DEPTH_SQL,
    "actual_md5": "i.md5", "actual_sha1": "i.sha1", "original_md5": "i.original_md5",
    "original_sha1": "i.original_sha1", "sha256": "i.sha256",
}  # fmt: skip
DEFAULT_ITEM_FIELDS = (
    "repo", "path", "name", "type", "size", "created", "created_by", "modified", "modified_by",
    "updated",
)  # fmt: skip
PRINCIPAL_SQL = "json_extract(b.info, '$.artifactoryPrincipal')"
BUILD_COLUMNS = {
    "name": "b.name", "number": "b.number", "started": "b.started", "created": "b.created",
    "created_by": PRINCIPAL_SQL, "modified": "b.created", "modified_by": PRINCIPAL_SQL,
    "url": "json_extract(b.info, '$.url')",
}  # fmt: skip
DEFAULT_BUILD_FIELDS = tuple(BUILD_COLUMNS)
NUMERIC_FIELDS = frozenset({"size", "depth"})
DATE_FIELDS = frozenset({"created", "modified", "updated", "started"})
RELATIVE_OPS = {"$last": "$gt", "$before": "$lt"}  # "within the last N" / "more than N ago"
# Artifactory's period suffixes; months and years are taken as 30 and 365 days.
PERIOD_UNITS = {
    "millis": 0.001, "ms": 0.001, "seconds": 1, "s": 1, "minutes": 60, "mi": 60,
    "days": 86400, "d": 86400, "weeks": 604800, "w": 604800, "months": 2592000, "mo": 2592000,
    "years": 31536000, "y": 31536000,
}  # fmt: skip
PERIOD_RE = re.compile(r"(\d+)\s*([a-z]+)")
ITEM_TYPES = frozenset({"file", "folder", "any"})


def _relation(prefix: str, table: str, alias: str, id_col: str) -> dict[str, tuple[str, str]]:
    build = "ab" if alias == "ba" else "db"
    columns = {
        f"{prefix}.name": f"{alias}.{id_col}", f"{prefix}.type": f"{alias}.type",
        f"{prefix}.sha1": f"{alias}.sha1", f"{prefix}.md5": f"{alias}.md5",
        f"{prefix}.module.name": f"{alias}.module",
        f"{prefix}.module.build.name": f"{build}.name",
        f"{prefix}.module.build.number": f"{build}.number",
        f"{prefix}.module.build.started": f"{build}.started",
        f"{prefix}.module.build.created": f"{build}.created",
        f"{prefix}.module.build.url": f"json_extract({build}.info, '$.url')",
    }  # fmt: skip
    join = (
        f"LEFT JOIN {table} {alias} ON {alias}.sha1 = i.sha1 LEFT JOIN builds {build} ON {build}.id = {alias}.build_id"
    )
    return {name: (column, join) for name, column in columns.items()}


ITEM_RELATIONS = {
    **_relation("artifact", "build_artifacts", "ba", "name"),
    **_relation("dependency", "build_dependencies", "bd", "id_"),
    "property.key": ("pp.key", "LEFT JOIN properties pp ON pp.item_id = i.id"),
    "property.value": ("pp.value", "LEFT JOIN properties pp ON pp.item_id = i.id"),
}


@dataclass
class CompiledQuery:
    sql: str
    params: list[Any]
    fields: tuple[str, ...]  # main-domain result fields, in output order


@dataclass
class _Context:
    query: Query
    params: list[Any] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def syntax_error(self, key: str) -> AqlError:
        text = self.query.text
        found = text.find(f'"{key}"')
        near = text[found:].strip() if found >= 0 else text
        return AqlError(
            f"Failed to parse query: {text}, it looks like there is syntax error near the following sub-query: {near}"
        )


def compile_query(query: Query, result_fields: tuple[str, ...]) -> CompiledQuery:
    """SQL selecting the main-domain rows (id first, then `result_fields`) for `query`."""
    ctx = _Context(query)
    where = _criterion_sql(query.criteria, ctx)
    if query.domain == "items" and "type" not in query.fields_used():
        where = f"({where}) AND i.type = 'file'"
    columns = ITEM_COLUMNS if query.domain == "items" else BUILD_COLUMNS
    select = ", ".join(f'{columns[name]} AS "{name}"' for name in result_fields)
    source = "items i" if query.domain == "items" else "builds b"
    sql = (
        f"SELECT DISTINCT {source.split()[1]}.id AS id{', ' if select else ''}{select} "  # noqa: S608  values are bound
        f"FROM {source} {' '.join(dict.fromkeys(ctx.joins))} WHERE {where} "
        f"{_order_sql(query, result_fields, columns)} LIMIT ? OFFSET ?"
    )
    limit = -1 if query.limit is None else query.limit
    return CompiledQuery(sql, [*ctx.params, limit, query.offset], result_fields)


def _order_sql(query: Query, result_fields: tuple[str, ...], columns: dict[str, str]) -> str:
    alias = "i" if query.domain == "items" else "b"
    if query.sort is None:
        return f"ORDER BY {alias}.id"
    order, names = query.sort
    if len(set(names)) != len(names):
        raise AqlError("Duplicate fields, all the fields in the sort section should be unique.")
    if any(name not in result_fields for name in names):
        raise AqlError("Only the result fields are allowed to use in the sort section.")
    direction = "DESC" if order == "$desc" else "ASC"
    keys = ", ".join(f'"{name}" {direction}' for name in names)
    return f"ORDER BY {keys}, {alias}.id"


def _criterion_sql(criterion: Criterion, ctx: _Context) -> str:
    if isinstance(criterion, Logical):
        return _logical_sql(criterion, ctx)
    if criterion.field.startswith("@"):
        return _property_sql(criterion, ctx)
    return _field_sql(criterion, ctx)


def _logical_sql(logical: Logical, ctx: _Context) -> str:
    parts = [_criterion_sql(term, ctx) for term in logical.terms]
    if not parts:
        return "1 = 1"
    joiner = " OR " if logical.op == "$or" else " AND "
    return "(" + joiner.join(parts) + ")"


def _field_sql(cmp: Comparison, ctx: _Context) -> str:
    column = _column(cmp.field, ctx)
    if cmp.field == "type" and ctx.query.domain == "items":
        return _type_sql(cmp, ctx)
    if cmp.op in RELATIVE_OPS:
        return _relative_date_sql(column, cmp, ctx)
    value = _coerce(cmp, ctx)
    return compare_sql(column, cmp.op, value, ctx.bind)


def _column(name: str, ctx: _Context) -> str:
    if ctx.query.domain == "builds":
        if name in BUILD_COLUMNS:
            return BUILD_COLUMNS[name]
        raise ctx.syntax_error(name)
    if name in ITEM_COLUMNS:
        return ITEM_COLUMNS[name]
    if name in ITEM_RELATIONS:
        column, join = ITEM_RELATIONS[name]
        ctx.joins.append(join)
        return column
    raise ctx.syntax_error(name)


def _relative_date_sql(column: str, cmp: Comparison, ctx: _Context) -> str:
    """`{"created": {"$last": "7d"}}`: compare with now minus the period (ISO strings order)."""
    found = PERIOD_RE.fullmatch(str(cmp.value).strip().lower())
    if cmp.field not in DATE_FIELDS or found is None or found.group(2) not in PERIOD_UNITS:
        raise ctx.syntax_error(cmp.field)
    seconds = int(found.group(1)) * PERIOD_UNITS[found.group(2)]
    moment = datetime.now(UTC) - timedelta(seconds=seconds)
    bound = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return compare_sql(column, RELATIVE_OPS[cmp.op], bound, ctx.bind)


def _type_sql(cmp: Comparison, ctx: _Context) -> str:
    if cmp.value not in ITEM_TYPES or cmp.op not in ("$eq", "$ne"):
        raise ctx.syntax_error("type")
    if cmp.value == "any":
        return "1 = 1" if cmp.op == "$eq" else "1 = 0"
    return compare_sql("i.type", cmp.op, cmp.value, ctx.bind)


def _coerce(cmp: Comparison, ctx: _Context) -> Any:
    if cmp.value is None:
        return None
    if cmp.field in NUMERIC_FIELDS:
        try:
            return int(cmp.value)
        except (TypeError, ValueError):
            raise ctx.syntax_error(cmp.field) from None
    if isinstance(cmp.value, bool):
        return "true" if cmp.value else "false"
    return str(cmp.value)


def compare_sql(column: str, op: str, value: Any, bind: Any) -> str:
    """SQL for `column <op> value` with AQL semantics (negations include NULL columns)."""
    if value is None:
        return f"{column} IS NULL" if op == "$eq" else f"{column} IS NOT NULL"
    if op in ("$match", "$nmatch"):
        pattern = bind(glob_pattern(str(value)))
        if op == "$match":
            return f"{column} GLOB {pattern}"
        return f"({column} NOT GLOB {pattern} OR {column} IS NULL)"
    if op == "$ne":
        return f"({column} != {bind(value)} OR {column} IS NULL)"
    return f"{column} {_SQL_OPS[op]} {bind(value)}"


_SQL_OPS = {"$eq": "=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def glob_pattern(aql_pattern: str) -> str:
    """AQL wildcards (`*`, `?`) as a case-sensitive SQLite GLOB; `[` is literal in AQL."""
    return aql_pattern.replace("[", "[[]")


def _property_sql(cmp: Comparison, ctx: _Context) -> str:
    key = cmp.field[1:]
    if ctx.query.domain == "items":
        source, owner = "properties p", "p.item_id = i.id"
        key_col, value_col = "p.key", "p.value"
    else:
        source, owner = "json_each(b.info, '$.properties') p", "1 = 1"
        key_col, value_col = "p.key", "p.value"
    key_sql = "1 = 1" if key == "*" else f"{key_col} = {ctx.bind(key)}"
    negative = cmp.op in ("$ne", "$nmatch")
    if cmp.value is None:  # "@k": null → the item has no property k
        negative = cmp.op == "$eq"
        value_sql = "1 = 1"
    else:
        positive_op = {"$ne": "$eq", "$nmatch": "$match"}.get(cmp.op, cmp.op)
        value_sql = compare_sql(value_col, positive_op, _coerce(cmp, ctx), ctx.bind)
    exists = f"EXISTS (SELECT 1 FROM {source} WHERE {owner} AND {key_sql} AND {value_sql})"  # noqa: S608  values are bound
    return f"NOT {exists}" if negative else exists


def main_fields(query: Query, include: Iterable[str], is_main: Any) -> tuple[str, ...]:
    """The main-domain result fields: the included ones if any, else the domain's defaults."""
    chosen = tuple(dict.fromkeys(name for name in include if is_main(name)))
    if chosen:
        return chosen
    return DEFAULT_ITEM_FIELDS if query.domain == "items" else DEFAULT_BUILD_FIELDS
