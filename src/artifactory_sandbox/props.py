"""Property grammars: deploy-time matrix parameters and the storage API's `properties=` value.

Matrix (jfrog-api.md 3.2): `;k=v` segments of the raw path, each one value, percent-decoded with
`+` as space and kept as it is otherwise (no split on `,`, no backslash removed). Storage API (5.1): pairs split on unescaped `;` or `|`, key and
value at the first unescaped `=`, values on unescaped `,`; a backslash escapes the next character.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from .http import HttpError

Properties = dict[str, list[str]]

# Artifactory: "Name must start with a letter and cannot contain whitespace or special characters".
KEY_PATTERN = re.compile(r"[A-Za-z][^\s)(}{\]\[*+^$\\/~`!@#%&<>;=,±§]*")
INVALID_KEY = (
    "Property key: {key} is invalid due to Name must start with a letter and cannot contain "
    "whitespace or special characters"
)


def check_key(key: str, shown: str | None = None) -> str:
    if not KEY_PATTERN.fullmatch(key):
        raise HttpError(400, INVALID_KEY.format(key=key if shown is None else shown))
    return key


def add(props: Properties, key: str, values: list[str]) -> None:
    bucket = props.setdefault(key, [])
    bucket.extend(value for value in values if value not in bucket)


def matrix_params(raw_path: str) -> Properties:
    """Properties from `;k=v` segments after the path (empty when there are none).

    As Artifactory's `ArtifactoryRequestBase.processMatrixParams`: every segment is one value,
    URL-decoded and stored as decoded; a comma or a backslash in it is part of the value (several
    values of a key come as several `;k=v` segments, which is how the JFrog CLI sends them).
    """
    props: Properties = {}
    for param in raw_path.split(";")[1:]:
        if not param:
            continue
        raw_key, _, raw_value = param.partition("=")
        key = check_key(unquote_plus(raw_key), shown=raw_key)
        add(props, key, [unquote_plus(raw_value)])
    return props


def parse_properties(text: str) -> Properties:
    """The decoded `properties=` query value -> {key: [values]}."""
    props: Properties = {}
    for pair in split_unescaped(text, ";|", keep_escapes=True):
        if not pair.strip():
            continue
        key_part, value_part = _split_key(pair)
        add(props, check_key(unescape(key_part).strip()), split_unescaped(value_part, ","))
    return props


def parse_keys(text: str) -> list[str]:
    """`k1,k2` of `DELETE ...?properties=` -> keys."""
    return [key.strip() for key in split_unescaped(text, ",") if key.strip()]


def _split_key(pair: str) -> tuple[str, str]:
    parts = split_unescaped(pair, "=", keep_escapes=True, maxsplit=1)
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0], "")


# What a backslash escapes in property text: the separators (`,` between values, `;` or `|`
# between pairs, `=`) and itself. The JFrog CLI sends `\\,` inside values of `properties=`.
ESCAPABLE = frozenset(",;|=\\")


def split_unescaped(text: str, separators: str, keep_escapes: bool = False, maxsplit: int = -1) -> list[str]:
    """Split on any of `separators` not preceded by a backslash.

    Escapes are removed from the parts unless `keep_escapes` (for a later second split).
    """
    parts: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for ch in chars:
        if ch == "\\":
            escaped = next(chars, "")
            # Only the separators and the backslash itself are escapes; `C:\\models` keeps its backslash.
            kept = keep_escapes or (escaped not in separators and escaped not in ESCAPABLE)
            current.append(ch + escaped if kept else escaped)
        elif ch in separators and maxsplit != len(parts):
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    return "".join(split_unescaped(text, ""))
