"""Artifactory properties: parsing the user's `k=v;k2=v2` text and encoding matrix parameters.

Parsing follows the JFrog CLI (`ParseProperties`): pairs separated by `;` (or new lines here),
key and value split at the first `=`, several values split on `,`; a backslash escapes `;` or `,`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote_plus

Properties = tuple[tuple[str, tuple[str, ...]], ...]

# Artifactory refuses keys with other characters, or not starting with a letter ("Name must start
# with a letter and cannot contain whitespace or special characters"); keep keys to a safe set.
_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.:\-]*$")
_PAIR_SPLIT = re.compile(r"(?<!\\)[;\n]")
_VALUE_SPLIT = re.compile(r"(?<!\\),")


def parse_properties(text: str) -> Properties:
    """Parse `k=v1,v2;k2=v3` (or one pair per line); raise ValueError naming the bad pair."""
    merged: dict[str, list[str]] = {}
    for pair in (p.strip() for p in _PAIR_SPLIT.split(text)):
        if pair:
            key, values = _parse_pair(pair)
            merged.setdefault(key, [])
            merged[key].extend(v for v in values if v not in merged[key])
    return tuple((k, tuple(v)) for k, v in merged.items())


def _parse_pair(pair: str) -> tuple[str, list[str]]:
    key, sep, raw = pair.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise ValueError(f"cannot read property {pair!r}; write 'key=value' pairs separated by ';'")
    if not _KEY.match(key):
        raise ValueError(
            f"property key {key!r} may only contain letters, digits and the characters _ . : -, and must start with a letter"
        )
    values = [_unescape(v.strip()) for v in _VALUE_SPLIT.split(raw)]
    if any(not v for v in values):
        raise ValueError(f"property {pair!r} has an empty value")
    return key, values


def _unescape(value: str) -> str:
    return value.replace("\\;", ";").replace("\\,", ",")


def merge(*groups: Iterable[tuple[str, Sequence[str]]]) -> Properties:
    """Merge property groups; a later group's key replaces an earlier one's values."""
    out: dict[str, tuple[str, ...]] = {}
    for group in groups:
        for key, values in group:
            out[key] = tuple(values)
    return tuple(out.items())


def from_mapping(mapping: Mapping[str, str]) -> Properties:
    return tuple((k, (v,)) for k, v in mapping.items() if v != "")


def matrix_params(props: Properties) -> str:
    """Encode as `;k=v;k=v2` matrix parameters, keys sorted, as the JFrog CLI sends deploy props.

    jfrog-client-go `ToEncodedString(false)`: one `key=value` per value, both `url.QueryEscape`d, so
    a comma inside a value goes as a plain `%2C`. Artifactory stores each matrix value URL-decoded
    and otherwise as sent (it neither splits it on commas nor drops backslashes), so the `\\,`
    escape of the joined `properties=` form would be stored literally here.
    """
    return "".join(f";{quote_plus(key)}={quote_plus(value)}" for key, values in sorted(props) for value in values)
