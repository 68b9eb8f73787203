"""Parse Artifactory Query Language text into a `Query` (criteria tree plus modifiers).

Grammar: `<domain>.find(<criteria>)[.include(...)][.sort(...)][.offset(n)][.limit(n)]`
(also `.distinct(...)` and `.transitive()`, accepted and ignored). Criteria are JSON objects whose
pairs are ANDed; duplicate keys are kept (the JFrog CLI sends several `"$and"`/`"$or"` keys in one
object). Parse failures raise `AqlError` with Artifactory's own wording.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

DOMAINS = ("items", "builds")
COMPARATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$match", "$nmatch", "$last", "$before"})
LOGICAL = frozenset({"$and", "$or", "$msp"})  # $msp (match same property) is ANDed here
SORT_ORDERS = frozenset({"$asc", "$desc"})

_DECODER = json.JSONDecoder(object_pairs_hook=list)
_DOMAIN_RE = re.compile(r"\s*([a-z_.]+)\.find\(\s*")
_MODIFIER_RE = re.compile(r"\s*\.\s*(include|sort|offset|limit|distinct|transitive)\s*\(\s*")

Pairs = list[tuple[str, Any]]


class AqlError(Exception):
    """A query Artifactory would refuse with 400 (the message is the plain-text body)."""


@dataclass(frozen=True)
class Comparison:
    """`field <op> value`; `field` is an AQL field name (`name`, `@prop`, `artifact.module...`)."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Logical:
    """`$and` / `$or` of sub-criteria (an object's pairs are an implicit `$and`)."""

    op: str
    terms: tuple[Criterion, ...]


Criterion = Comparison | Logical


@dataclass(frozen=True)
class Query:
    domain: str
    criteria: Logical
    include: tuple[str, ...] = ()
    sort: tuple[str, tuple[str, ...]] | None = None
    offset: int = 0
    limit: int | None = None
    text: str = field(default="", compare=False)

    def fields_used(self) -> set[str]:
        return _fields_in(self.criteria)


def _fields_in(criterion: Criterion) -> set[str]:
    if isinstance(criterion, Comparison):
        return {criterion.field}
    return set().union(*(_fields_in(term) for term in criterion.terms)) if criterion.terms else set()


def parse(text: str) -> Query:
    """The query in `text`; `AqlError` with Artifactory's syntax-error message if it is not AQL."""
    parser = _Parser(text)
    return parser.query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.mods: dict[str, Any] = {}

    def fail(self, pos: int | None = None) -> AqlError:
        where = self.text[self.pos if pos is None else pos :].strip() or self.text.strip()
        return AqlError(
            f"Failed to parse query: {self.text}, it looks like there is syntax error near "
            f"the following sub-query: {where}"
        )

    def query(self) -> Query:
        domain = self._domain()
        criteria = self._criteria()
        self._expect(")")
        while self.text[self.pos :].strip():
            self._modifier()
        return Query(domain, criteria, text=self.text, **self.mods)

    def _domain(self) -> str:
        match = _DOMAIN_RE.match(self.text, self.pos)
        if match is None:
            raise self.fail()
        if match.group(1) not in DOMAINS:
            raise AqlError(f"The sandbox implements the AQL domains {', '.join(DOMAINS)} only, not '{match.group(1)}'")
        self.pos = match.end()
        return match.group(1)

    def _criteria(self) -> Logical:
        if self.text.startswith(")", self.pos):
            return Logical("$and", ())
        value = self._json()
        if not isinstance(value, list):
            raise self.fail()
        return _object_criteria(value, self)

    def _json(self) -> Any:
        try:
            value, end = _DECODER.raw_decode(self.text, self.pos)
        except json.JSONDecodeError as err:
            raise self.fail(err.pos) from err
        self.pos = end
        return value

    def _expect(self, token: str) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        if not self.text.startswith(token, self.pos):
            raise self.fail()
        self.pos += len(token)

    def _modifier(self) -> None:
        match = _MODIFIER_RE.match(self.text, self.pos)
        if match is None:
            raise self.fail()
        start, self.pos = self.pos, match.end()
        name = match.group(1)
        if name in self.mods:
            raise self.fail(start)
        handler = getattr(self, f"_mod_{name}")
        handler(start)
        self._expect(")")

    def _mod_include(self, start: int) -> None:
        names: list[str] = []
        while not self.text.startswith(")", self.pos):
            value = self._json()
            if not isinstance(value, str):
                raise self.fail(start)
            names.append(value)
            self._skip_comma()
        self.mods["include"] = tuple(names)

    def _skip_comma(self) -> None:
        rest = self.text[self.pos :]
        stripped = rest.lstrip()
        self.pos += len(rest) - len(stripped)
        if stripped.startswith(","):
            self.pos += 1
            self.pos += len(self.text[self.pos :]) - len(self.text[self.pos :].lstrip())

    def _mod_sort(self, start: int) -> None:
        value = self._json()
        if not isinstance(value, list) or len(value) != 1:
            raise self.fail(start)
        order, fields = value[0] if isinstance(value[0], tuple) else ("", None)
        if order not in SORT_ORDERS or not _is_str_list(fields) or not fields:
            raise self.fail(start)
        self.mods["sort"] = (order, tuple(fields))

    def _mod_offset(self, start: int) -> None:
        self.mods["offset"] = self._count(start)

    def _mod_limit(self, start: int) -> None:
        self.mods["limit"] = self._count(start)

    def _count(self, start: int) -> int:
        value = self._json()
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(start)
        return value

    def _mod_distinct(self, start: int) -> None:
        if not isinstance(self._json(), bool):  # results are always unique here
            raise self.fail(start)

    def _mod_transitive(self, start: int) -> None:
        """Only meaningful for remote repositories, which the sandbox does not proxy."""


def _is_object(value: Any) -> bool:
    """A decoded JSON object (a list of key/value tuples, see `_DECODER`)."""
    return isinstance(value, list) and all(isinstance(item, tuple) for item in value)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _object_criteria(pairs: Pairs, parser: _Parser) -> Logical:
    return Logical("$and", tuple(_pair_criterion(key, value, parser) for key, value in pairs))


def _pair_criterion(key: str, value: Any, parser: _Parser) -> Criterion:
    if key in LOGICAL:
        return _logical(key, value, parser)
    if key.startswith("$"):
        raise parser.fail(_key_pos(parser, key))
    if _is_object(value):  # {"$op": value, ...}
        return _comparisons(key, value, parser)
    return _comparison(key, "$eq", value, parser)


def _logical(key: str, value: Any, parser: _Parser) -> Logical:
    if _is_object(value) and value:  # `"$and": {...}` is accepted like `"$and": [{...}]`
        value = [value]
    if not isinstance(value, list) or not all(_is_object(item) for item in value):
        raise parser.fail(_key_pos(parser, key))
    op = "$or" if key == "$or" else "$and"
    items: list[Pairs] = value
    return Logical(op, tuple(_object_criteria(item, parser) for item in items))


def _comparisons(key: str, pairs: Pairs, parser: _Parser) -> Criterion:
    if not pairs or any(op not in COMPARATORS for op, _ in pairs):
        raise parser.fail(_key_pos(parser, key))
    terms = tuple(_comparison(key, op, value, parser) for op, value in pairs)
    return terms[0] if len(terms) == 1 else Logical("$and", terms)


def _comparison(key: str, op: str, value: Any, parser: _Parser) -> Comparison:
    if isinstance(value, list | dict):
        raise parser.fail(_key_pos(parser, key))
    if value is None and op not in ("$eq", "$ne"):
        raise AqlError(
            "Illegal syntax the 'null' values are allowed to use only with equals and not equals operators.\n"
        )
    return Comparison(key, op, value)


def _key_pos(parser: _Parser, key: str) -> int:
    found = parser.text.find(json.dumps(key))
    return found if found >= 0 else parser.pos
