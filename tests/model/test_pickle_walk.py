"""The walk sees every import `pickle.load` makes, with its bulk runs and memory caps in play.

The truth is the real unpickler: it loads each generated pickle with a `find_class` that records
the name and returns a harmless stand-in. The walk must name every one of those imports, or
report a hidden one (`?`), which the scan refuses; caps are lowered so they are reached.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
from collections import OrderedDict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.model.samples import Reduce

from ml_artifactory_action.model import pickle_vm
from ml_artifactory_action.model.byte_reader import ByteReader
from ml_artifactory_action.model.pickle_args import DATA
from ml_artifactory_action.model.pickle_walk import walk_stream
from ml_artifactory_action.model.safety import scan_path

_CALLABLES = [os.system, os.mkdir, os.getcwd, OrderedDict, print]


class RecordingUnpickler(pickle.Unpickler):
    """Records what the real unpickler imports; what it imports is replaced by a harmless callable."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.imported: set[str] = set()

    def find_class(self, module: str, name: str) -> object:
        self.imported.add(f"{module}.{name}")
        return lambda *args: ("called", args)


def _imports(data: bytes) -> set[str]:
    recorder = RecordingUnpickler(data)
    recorder.load()
    return recorder.imported


literals = st.one_of(
    st.floats(allow_nan=False),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.none(),
    st.booleans(),
    st.text(max_size=8),
    st.binary(max_size=8),
)
calls = st.builds(Reduce, st.sampled_from(_CALLABLES), st.text(max_size=4))
runs = st.builds(
    lambda value, count: [value] * count, st.sampled_from([1.5, 7, 300, 70000, None, True]), st.integers(0, 60)
)
# Spans the walk models in bulk: short strings (module and class names among them, which the pickler
# memoizes once and fetches again for an import), small tuples of numbers.
name_runs = st.lists(
    st.sampled_from(["posix", "system", "collections", "OrderedDict", "x", "\u00e9t\u00e9"]), max_size=40
)
tuple_runs = st.lists(st.tuples(st.integers(0, 70_000), st.floats(allow_nan=False)), max_size=30)
values = st.recursive(
    st.one_of(literals, calls, runs, name_runs, tuple_runs),
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=4), inner, max_size=4),
    ),
    max_leaves=40,
)


@settings(max_examples=80, deadline=None)
@given(values, st.integers(min_value=0, max_value=5))
def test_every_import_the_unpickler_makes_is_seen(value: object, protocol: int) -> None:
    data = pickle.dumps(value, protocol)

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert walk.complete, walk.error
    assert _imports(data) <= {ref.dotted for ref in walk.globals}


@settings(max_examples=80, deadline=None)
@given(values, st.integers(min_value=0, max_value=5))
def test_past_the_memory_caps_an_import_is_seen_reported_hidden_or_the_walk_refused(
    value: object, protocol: int
) -> None:
    data = pickle.dumps(value, protocol)

    with pytest.MonkeyPatch.context() as caps:
        caps.setattr(pickle_vm, "MAX_MEMO", 5)
        caps.setattr(pickle_vm, "KEEP_ON_STACK", 3)
        caps.setattr(pickle_vm, "MAX_ITEMS", 2)
        caps.setattr(pickle_vm, "MAX_KEPT", 600)
        walk = walk_stream(ByteReader(io.BytesIO(data)))
    seen = {ref.dotted for ref in walk.globals}

    missed = _imports(data) - seen
    hidden = any("?" in (ref.module, ref.name) for ref in walk.globals)
    assert not missed or hidden or walk.limit, missed  # a limit reached is refused as unreadable


def test_a_long_run_of_literals_does_not_hide_the_import_after_it() -> None:
    data = pickle.dumps([*([0.5] * 100_000), *range(100_000), Reduce(os.system, "id")], 4)

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert walk.complete
    assert [ref.dotted for ref in walk.globals] == ["posix.system"]
    assert walk.ops > 200_000  # the runs were counted against the opcode cap, op for op


def test_the_stack_model_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pickle_vm, "MAX_STACK", 1000)
    data = b"(" + b"N" * 2000 + b"l."  # protocol 0: a list of 2,000 Nones built on the stack

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert walk.limit is not None
    assert "its stack holds more than 1,000 values (the scanner's MAX_STACK limit;" in walk.limit


@pytest.mark.parametrize(
    "one",
    [b"G" + bytes(8), b"J" + bytes(4), b"K\x07", b"M\x01\x02", b"N", b"\x88", b"\x89", b"\x8c\x01a"],
    ids=["BINFLOAT", "BININT", "BININT1", "BININT2", "NONE", "NEWTRUE", "NEWFALSE", "SHORT_BINUNICODE"],
)
def test_runs_of_literals_leave_the_stack_exactly_as_deep(one: bytes) -> None:
    count = 50_001  # many read windows and buffer refills; the last one is odd
    data = b"\x80\x02" + one * count + b"."

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert walk.complete
    assert walk.ops == count + 2
    assert len(walk.vm.stack) == count - 1  # STOP popped one


def test_past_the_kept_budget_the_model_goes_lean_and_still_sees_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pickle_vm, "MAX_KEPT", 100_000)
    value = [[(i, str(i) * 300) for i in range(2_000)], Reduce(os.system, "id")]

    walk = walk_stream(ByteReader(io.BytesIO(pickle.dumps(value, 4))))

    assert walk.complete
    assert walk.vm.lean
    assert [ref.dotted for ref in walk.globals] == ["posix.system"]
    long_strings = [kept for kept in walk.vm.memo.values() if isinstance(kept, str) and len(kept) > pickle_vm.SHORT]
    assert 0 < sum(map(len, long_strings)) <= 100_000  # kept while the budget lasted, not after


def test_distinct_imports_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pickle_vm, "MAX_GLOBALS", 50)
    data = b"\x80\x02" + b"".join(f"cmod{i}\nname\n0".encode() for i in range(60)) + b"N."

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert walk.limit is not None
    assert "it imports more than 50 distinct names, or 16 MiB of them (the scanner's MAX_GLOBALS limit;" in walk.limit


def test_memoized_strings_done_in_bulk_push_and_memoize_each_one() -> None:
    words = [f"w{i}" for i in range(30_001)]
    data = b"\x80\x04" + b"".join(b"\x8c" + bytes([len(w)]) + w.encode() + b"\x94" for w in words) + b"h\x07."

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert walk.complete
    assert walk.ops == 2 * len(words) + 3
    assert walk.vm.memo_len == len(words)
    assert walk.vm.result == "w7"  # BINGET 7 found the eighth string in the memo
    assert len(walk.vm.stack) == len(words)


def test_memoized_tuples_done_in_bulk_count_each_opcode_once() -> None:
    pairs = [(i, float(i)) for i in range(3_000)]  # K/M, G, TUPLE2, MEMOIZE
    data = pickle.dumps(pairs, 4)

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert walk.complete
    assert walk.ops == len(list(pickletools.genops(data)))
    assert walk.vm.memo_len == len(pairs) + 1


def test_a_chain_of_tuples_done_in_bulk_keeps_the_stack_exact() -> None:
    data = b"\x80\x02N" + b"K\x01K\x02\x87" + b"K\x03\x86" * 1_000 + b"."  # (((None, 1, 2), 3), 3)...

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert walk.complete
    assert walk.vm.stack == []
    assert walk.ops == 1 + 1 + 3 + 2 * 1_000 + 1
    assert walk.vm.result is DATA  # a tuple of data around data: its content is never read


def test_a_chain_of_tuples_is_never_taken_for_a_name() -> None:
    """The real unpickler stops at a STACK_GLOBAL over a tuple: the walk stops there too."""
    data = b"\x80\x04\x8c\x02os" + b"K\x01\x86" * 100 + b"\x8c\x06system\x93."
    with pytest.raises(pickle.UnpicklingError, match="STACK_GLOBAL requires str"):
        _imports(data)

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert not walk.complete
    assert walk.error == "STACK_GLOBAL on a value that is not a string"


@pytest.mark.parametrize("store", [b"\x94", b"q"], ids=["MEMOIZE", "BINPUT"])
def test_names_memoized_in_a_bulk_span_are_found_by_a_later_import(store: bytes) -> None:
    words = [f"w{i}" for i in range(40)] + ["posix", "system"]
    keys = range(len(words))
    units = [
        b"\x8c" + bytes([len(w)]) + w.encode() + (store + bytes([k]) if store == b"q" else store)
        for w, k in zip(words, keys, strict=True)
    ]
    data = b"\x80\x04" + b"".join(units) + b"h\x28h\x29\x93."  # BINGET 40, 41: posix.system

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert _imports(data) == {"posix.system"}
    assert walk.complete
    assert [ref.dotted for ref in walk.globals] == ["posix.system"]
    assert walk.ops == 1 + 2 * len(words) + 4
    assert len(walk.vm.stack) == len(words)


def test_a_string_that_is_no_utf8_leaves_the_span_to_the_lenient_loop() -> None:
    data = b"\x80\x04" + b"\x8c\x03abc\x94" * 20 + b"\x8c\x02\xff\xfe\x94" + b"\x8c\x03abc\x94" * 20 + b"."

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert walk.complete
    assert walk.ops == 1 + 2 * 41 + 1
    assert walk.vm.memo_len == 41
    assert walk.vm.result == "abc"


# Bytes of no known format (no protocol header) and bytes of another format read as pickle.load
# would: the walk ends where the real unpickler stops, so nothing it never reaches is judged.
_STOPS_THE_UNPICKLER = {
    "memo keys never stored": b"h\x05h\x06\x93" + b"\x00" * 64,
    "calls on an empty stack": b"RR\x93" + b"\x00" * 64,
}


@pytest.mark.parametrize("data", _STOPS_THE_UNPICKLER.values(), ids=_STOPS_THE_UNPICKLER.keys())
def test_bytes_without_a_header_end_where_the_unpickler_stops(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(pickle.UnpicklingError):
        _imports(data)
    path = tmp_path / "blob.dat"
    path.write_bytes(data)

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert walk.globals == []
    assert "pickle.load stops here" in str(walk.error)
    assert scan_path(path).safe  # read on, these were a hidden import ('?.?'), refused


@pytest.mark.parametrize("data", _STOPS_THE_UNPICKLER.values(), ids=_STOPS_THE_UNPICKLER.keys())
def test_a_pickle_with_a_header_is_still_modelled_past_where_the_unpickler_stops(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "m.pkl"
    path.write_bytes(b"\x80\x04" + data[:-64] + b".")

    report = scan_path(path)

    assert not report.safe  # a hidden import ('?.?') or "cannot be read to its end"
    assert {f.severity for f in report.findings} <= {"dangerous", "unreadable"}
    assert walk_stream(ByteReader(io.BytesIO(b"\x80\x04" + data)), probe=True).globals == []


def test_a_memo_key_the_model_dropped_is_unknown_not_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its cap the memo keeps no new key: a GET of one may be real, so it is a hidden name."""
    monkeypatch.setattr(pickle_vm, "MAX_MEMO", 2)
    data = b"\x8c\x01aq\x00\x8c\x02osq\x01\x8c\x06systemq\x02h\x01h\x02\x93."

    walk = walk_stream(ByteReader(io.BytesIO(data)))

    assert _imports(data) == {"os.system"}
    assert [ref.dotted for ref in walk.globals] == ["os.?"]
