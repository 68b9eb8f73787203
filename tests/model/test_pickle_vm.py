"""`getattr(<global>, "<constant>")`, how a classmethod pickles, is judged as the global it fetches.

A tz-aware pandas frame holds `zoneinfo.ZoneInfo`, which pickles as
`builtins.getattr(zoneinfo.ZoneInfo, "_unpickle")(key, from_cache)`. The walk reads that getattr
as an import of `zoneinfo.ZoneInfo._unpickle`, which the rebuild tier allows; getattr over
anything else (a computed name, a call's result, a dunder, a module reached through a global)
stays refused.
"""

from __future__ import annotations

import io
import os
import pickle
import zoneinfo
from pathlib import Path

import pytest
from tests.model.samples import MARK, PROTO2, REDUCE, STOP, TUPLE, call, glob, text

from ml_artifactory_action.model.byte_reader import ByteReader
from ml_artifactory_action.model.pickle_walk import walk_stream
from ml_artifactory_action.model.safety import scan_path

GETATTR = glob("builtins", "getattr")


class _Loader(pickle.Unpickler):
    """The real unpickler, loading from bytes (the module's names are its own)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))


def _scan(tmp_path: Path, data: bytes, allowed: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    path = tmp_path / "m.pkl"
    path.write_bytes(data)
    return [(f.global_name, f.severity) for f in scan_path(path, allowed).findings]


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_a_zoneinfo_pickled_by_the_standard_library_passes(tmp_path: Path, protocol: int) -> None:
    data = pickle.dumps(zoneinfo.ZoneInfo("Europe/Paris"), protocol)
    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert _Loader(data).load() == zoneinfo.ZoneInfo("Europe/Paris")
    assert [ref.dotted for ref in walk.globals] == ["zoneinfo.ZoneInfo", "zoneinfo.ZoneInfo._unpickle"]
    assert _scan(tmp_path, data) == []


@pytest.mark.parametrize(
    ("target", "name", "expected"),
    [
        (glob("zoneinfo", "ZoneInfo"), "__reduce__", "zoneinfo.ZoneInfo.__reduce__"),
        (glob("builtins", "object"), "__subclasses__", "builtins.object.__subclasses__"),
        (
            call(GETATTR, glob("zoneinfo", "ZoneInfo"), text("_unpickle")),
            "__globals__",
            "zoneinfo.ZoneInfo._unpickle.__globals__",
        ),
        (glob("os", "path"), "join", "os.path.join"),
        (glob("zoneinfo._tzpath", "os"), "getpid", "zoneinfo._tzpath.os.getpid"),
    ],
)
def test_getattr_reaching_code_or_reflection_stays_dangerous(
    tmp_path: Path, target: bytes, name: str, expected: str
) -> None:
    data = PROTO2 + call(GETATTR, target, text(name)) + STOP

    found = _scan(tmp_path, data, frozenset({"mypkg.*"}))

    assert (expected, "dangerous") in found


def test_getattr_over_a_global_reaches_the_os_when_loaded() -> None:
    """Why the name after a global matters: the real unpickler hands out os.getpid this way."""
    data = PROTO2 + call(call(GETATTR, glob("zoneinfo._tzpath", "os"), text("getpid"))) + STOP

    assert _Loader(data).load() == os.getpid()


def test_getattr_of_a_name_not_listed_is_suspicious_until_allowed(tmp_path: Path) -> None:
    data = PROTO2 + call(GETATTR, glob("collections", "OrderedDict"), text("fromkeys")) + STOP

    assert _scan(tmp_path, data) == [("collections.OrderedDict.fromkeys", "suspicious")]
    assert _scan(tmp_path, data, frozenset({"collections.OrderedDict.fromkeys"})) == []
    assert _scan(tmp_path, data, frozenset({"collections.*"})) != []  # a wildcard never reaches attributes


@pytest.mark.parametrize(
    "data",
    [
        # the name is computed by a call, not a constant
        PROTO2 + call(GETATTR, glob("zoneinfo", "ZoneInfo"), call(glob("builtins", "str"), text("_unpickle"))) + STOP,
        # the target is a call's result, not a global
        PROTO2 + call(GETATTR, call(glob("builtins", "__import__"), text("os")), text("system")) + STOP,
        # one getattr resolved, the same getattr then fetched from the memo and kept as a value
        PROTO2
        + GETATTR
        + b"q\x01"
        + MARK
        + glob("zoneinfo", "ZoneInfo")
        + text("_unpickle")
        + TUPLE
        + REDUCE
        + b"h\x01\x86.",
        # getattr called with three arguments (a default)
        PROTO2 + call(GETATTR, glob("zoneinfo", "ZoneInfo"), text("_unpickle"), text("x")) + STOP,
    ],
    ids=["computed-name", "call-result", "kept-as-value", "three-arguments"],
)
def test_getattr_that_cannot_be_resolved_is_dangerous(tmp_path: Path, data: bytes) -> None:
    assert ("builtins.getattr", "dangerous") in _scan(tmp_path, data)
