"""Batches the model would drop are counted in bulk, and leave the walk exactly as opcode by opcode.

The reference is the same walk with the bulk batches turned off, and the real unpickler for what
is imported. The caps are lowered so that small pickles are past them: the memo keeps no new key,
the containers take no more items, which is when a batch is dropped.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tests.model.samples import Reduce
from tests.model.test_pickle_walk import RecordingUnpickler

from ml_artifactory_action.model import pickle_batches, pickle_bulk, pickle_vm
from ml_artifactory_action.model.byte_reader import ByteReader
from ml_artifactory_action.model.pickle_walk import StreamWalk, walk_stream
from ml_artifactory_action.model.safety import scan_path

MEMO, ITEMS, KEPT = 40, 8, 5_000  # the lowered caps
# An empty dict, then a batch that fills it and the memo: the batches after it on it are dropped.
FULL_DICT = b"}\x94(" + b"".join(b"\x8c\x03k%02d\x94K\x00" % i for i in range(MEMO)) + b"u"


def _imports(data: bytes) -> set[str]:
    """What the real unpickler imports, up to where it stops: on damaged bytes any error stops it,
    and which one is not what these tests compare."""
    recorder = RecordingUnpickler(data)
    with suppress(Exception):
        recorder.load()
    return recorder.imported


@contextmanager
def _caps(*, batches: bool = True, spans: bool = True) -> Iterator[list[int]]:
    """The lowered caps; yields the bytes of each batch dropped in bulk. Without `spans`, no
    bulk span of `pickle_bulk` either: every value is pushed opcode by opcode."""
    dropped: list[int] = []
    real = pickle_batches.dropped

    def spy(vm: pickle_vm.PickleVM, buffer: bytes, offset: int, end: int) -> tuple[int, int]:
        done = real(vm, buffer, offset, end) if batches else (0, 0)
        if done[0]:
            dropped.append(done[0])
        return done

    with pytest.MonkeyPatch.context() as caps:
        caps.setattr(pickle_vm, "MAX_MEMO", MEMO)
        caps.setattr(pickle_vm, "MAX_ITEMS", ITEMS)
        caps.setattr(pickle_vm, "MAX_KEPT", KEPT)
        caps.setattr(pickle_batches, "dropped", spy)
        if not spans:
            caps.setattr(pickle_bulk, "values", lambda *_: (0, 0))
            caps.setattr(pickle_bulk, "chain", lambda *_: (0, 0))
        yield dropped


def _walk(
    data: bytes, *, batches: bool = True, spans: bool = True, probe: bool = False
) -> tuple[StreamWalk, list[int]]:
    with _caps(batches=batches, spans=spans) as dropped:
        return walk_stream(ByteReader(io.BytesIO(data)), probe=probe), dropped


def _outcome(walk: StreamWalk, *, built: bool = True) -> tuple[object, ...]:
    """All the walk says that the scan reads, the model's memo and stack depth, and (`built`) what
    it built and holds in its memo. A dropped tuple is not counted as built: the model may go lean later than the exact
    way, which counts it, and then keep more (never more than its budget), so what it built is
    compared only where no tuple is dropped."""
    vm = walk.vm
    memo = (vm.memo_len, vm.memo_whole, sorted(map(repr, vm.memo.keys())))
    depth = (len(vm.stack), len(vm.metastack))
    values = built and (repr(vm.result), repr(sorted(vm.memo.items(), key=repr)))
    return walk.complete, walk.error, walk.limit, walk.ops, walk.globals, memo, depth, values


def _opcodes(data: bytes) -> tuple[int, int]:
    """(opcodes, MEMOIZEs) as the standard library's disassembler counts them."""
    names = [opcode.name for opcode, _, _ in pickletools.genops(data)]
    return len(names), names.count("MEMOIZE")


def _dicts(count: int = 30, size: int = 100, protocol: int = 4) -> bytes:
    """The benchmark's shape: a list of dicts of short str -> int; protocol 4 stores with MEMOIZE
    and has FRAMEs."""
    return pickle.dumps([OrderedDict(), *({f"k{i}": i for i in range(size)} for _ in range(count))], protocol)


def test_a_dropped_batch_counts_every_opcode_and_memo_key() -> None:
    data = _dicts()

    walk, dropped = _walk(data)

    assert walk.complete
    assert len(dropped) > 20  # all but the first dicts' batches
    assert (walk.ops, walk.vm.memo_len) == _opcodes(data)
    assert [ref.dotted for ref in walk.globals] == ["collections.OrderedDict"]
    assert _outcome(walk) == _outcome(_walk(data, batches=False)[0])


@pytest.mark.parametrize("protocol", [2, 3])
def test_batches_stored_by_put_are_dropped_when_the_memo_is_full(protocol: int) -> None:
    """Protocols 1 to 3 store with BINPUT and LONG_BINPUT (keys chosen by the pickler), strings as BINUNICODE."""
    data = _dicts(protocol=protocol)

    walk, dropped = _walk(data)

    assert walk.complete
    assert len(dropped) > 20
    assert walk.ops == _opcodes(data)[0]
    assert walk.vm.memo_len == -1  # past the memo's cap a PUT's key is not kept: its length is unknown
    assert [ref.dotted for ref in walk.globals] == ["collections.OrderedDict"]
    assert _outcome(walk) == _outcome(_walk(data, batches=False)[0])
    assert _outcome(walk, built=False) == _outcome(_walk(data, batches=False, spans=False)[0], built=False)


def test_a_put_in_a_batch_over_a_key_the_memo_holds_is_found_by_a_later_get() -> None:
    """A PUT over a kept key replaces its value: a batch holding one is never dropped, or a later
    GET would read the old, harmless string where the unpickler reads the new one."""
    batch = b"(" + b"X\x02\x00\x00\x00osr\x03\x00\x00\x00K\x07" * 20 + b"u"  # 'os' into key 3
    data = b"\x80\x02" + FULL_DICT + batch + b"h\x03\x8c\x06system\x93\x8c\x02id\x85R."
    assert _imports(data) == {"os.system"}

    walk, dropped = _walk(data)

    assert not dropped
    assert [ref.dotted for ref in walk.globals] == ["os.system"]
    assert _outcome(walk) == _outcome(_walk(data, batches=False)[0])
    assert _outcome(walk, built=False) == _outcome(_walk(data, batches=False, spans=False)[0], built=False)


def test_a_memoize_in_a_batch_over_a_key_a_put_took_is_found_by_a_later_get() -> None:
    """MEMOIZE stores at the memo's length: once that reaches a key a PUT chose, it replaces its
    value, so such a batch is never dropped."""
    put = b"\x8c\x01xr\x2a\x00\x00\x000"  # 'x' PUT at key 42, popped
    full = b"}\x94(" + b"".join(b"\x8c\x03k%02d\x94K\x00" % i for i in range(MEMO - 2)) + b"u"  # keys 1 to 39
    batch = b"(" + b"\x8c\x02os\x94K\x07" * 20 + b"u"  # 'os' at keys 40, 41, then 42 over 'x'
    data = b"\x80\x04" + put + full + batch + b"h\x2a\x8c\x06system\x93\x8c\x02id\x85R."
    assert _imports(data) == {"os.system"}

    walk, dropped = _walk(data)

    assert not dropped
    assert [ref.dotted for ref in walk.globals] == ["os.system"]
    assert _outcome(walk) == _outcome(_walk(data, batches=False)[0])


def test_a_frame_inside_a_batch_is_counted() -> None:
    key, value = b"\x8c\x02ab\x94", b"K\x07"
    batch = b"(" + (key + value) * 10 + key + b"\x95" + bytes(8) + value + (key + value) * 10 + b"u"
    data = b"\x80\x04" + FULL_DICT + batch + b"."

    walk, dropped = _walk(data)

    assert walk.complete
    assert dropped == [len(batch)]
    assert (walk.ops, walk.vm.memo_len) == _opcodes(data)


kinds = [
    st.integers(-(2**31), 2**31 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.one_of(st.none(), st.booleans()),
]
# Items of one shape per container (the batches that may be dropped), or of any shape.
shapes = st.sampled_from(kinds).flatmap(
    lambda kind: st.sampled_from([kind, st.tuples(kind), st.tuples(kind, kind), st.tuples(kind, kind, kind)])
)
mixed = st.one_of(*kinds, st.tuples(kinds[0], kinds[1]))
batches = st.one_of(
    shapes.flatmap(lambda shape: st.lists(shape, min_size=20, max_size=120)),
    shapes.flatmap(lambda shape: st.dictionaries(st.text(max_size=6), shape, min_size=20, max_size=120)),
    st.dictionaries(st.integers(0, 2**16), st.text(max_size=6), min_size=20, max_size=120),
    st.lists(mixed, min_size=20, max_size=120),
)


class _SmallBatches(pickle._Pickler):  # type: ignore[name-defined,misc]  # the Python pickler
    """Batches of 10 items, so that small containers have many; the Python pickler frames at other
    opcodes than the C one."""

    _BATCHSIZE = 10


def _dumps(value: object, protocol: int) -> bytes:
    file = io.BytesIO()
    _SmallBatches(file, protocol).dump(value)
    return file.getvalue()


@settings(max_examples=60, deadline=None)
@given(st.lists(batches, min_size=3, max_size=8), st.integers(min_value=2, max_value=5))
def test_batches_leave_the_walk_as_opcode_by_opcode(containers: list[object], protocol: int) -> None:
    data = _dumps([OrderedDict(), *containers, Reduce(os.system, "id")], protocol)

    walk, _ = _walk(data)

    built = not any(isinstance(item, tuple) for container in containers for item in _items(container))
    assert _outcome(walk, built=built) == _outcome(_walk(data, batches=False)[0], built=built)
    # Bulk spans build real floats where the op by op walk pushes NUMBER: what is built differs.
    assert _outcome(walk, built=False) == _outcome(_walk(data, batches=False, spans=False)[0], built=False)
    assert walk.ops == _opcodes(data)[0]
    assert {"collections.OrderedDict", "posix.system"} <= {ref.dotted for ref in walk.globals}


def _items(container: object) -> list[object]:
    if isinstance(container, dict):
        return list(container.values())
    return list(container) if isinstance(container, list) else []


_INSERTS = [
    b"\x8c\x05posix\x8c\x06system\x93\x8c\x02id\x85R",  # STACK_GLOBAL and REDUCE: posix.system("id")
    b"cposix\nsystem\n\x8c\x02id\x85R",  # GLOBAL
    b"h\x03h\x04\x93",  # a STACK_GLOBAL of memo keys that were dropped
    b"\xff",  # no opcode
    b"(",  # a MARK opened inside the batch
    b"e",  # an APPENDS too early
]


@settings(max_examples=120, deadline=None)
@given(st.integers(0, 2**16), st.sampled_from(_INSERTS), st.sampled_from(["insert", "replace", "truncate"]))
def test_a_damaged_or_hostile_batch_is_read_as_opcode_by_opcode(where: int, insert: bytes, how: str) -> None:
    clean = _dicts(count=12, size=60)
    at = len(clean) // 3 + where % (len(clean) // 2)  # within the dropped batches
    if how == "insert":
        data = clean[:at] + insert + clean[at:]
    elif how == "replace":
        data = clean[:at] + insert + clean[at + len(insert) :]
    else:
        data = clean[:at]

    walk, _ = _walk(data)
    plain = _walk(data, batches=False)[0]

    assert _outcome(walk) == _outcome(plain)
    assert walk.complete or walk.error  # read to its end, or refused with why
    seen = {ref.dotted for ref in walk.globals}
    hidden = any("?" in (ref.module, ref.name) for ref in walk.globals)
    assert _imports(data) <= seen or hidden


def test_a_global_inside_a_batch_is_found_and_the_batch_not_dropped() -> None:
    clean = pickle.dumps([OrderedDict(), *(f"s{i}" for i in range(2_500))], 4)  # batches of 1,000 items
    at = clean.index(b"\x8c\x05s1500")  # inside the second batch, the first dropped
    data = clean[:at] + _INSERTS[0] + clean[at:]
    assert _imports(data) == {"collections.OrderedDict", "posix.system"}

    walk, dropped = _walk(data)

    assert walk.complete
    assert [ref.dotted for ref in walk.globals] == ["collections.OrderedDict", "posix.system"]
    assert (walk.ops, walk.vm.memo_len) == _opcodes(data)
    assert _outcome(walk) == _outcome(_walk(data, batches=False)[0])
    assert len(dropped) == 1 == len(_walk(clean)[1]) - 1  # the third batch only


def test_a_global_right_after_a_dropped_batch_is_found(tmp_path: Path) -> None:
    path = tmp_path / "m.pkl"
    strings = [OrderedDict(), *(f"s{i}" for i in range(2_500))]
    path.write_bytes(pickle.dumps([strings, Reduce(os.system, "id")], 4))

    with _caps() as dropped:
        report = scan_path(path)

    assert dropped
    assert not report.safe
    assert [(f.global_name, f.severity) for f in report.findings] == [("posix.system", "dangerous")]


def test_a_get_of_a_key_a_dropped_batch_stored_is_a_hidden_import(tmp_path: Path) -> None:
    def batch(names: list[str]) -> bytes:
        return b"(" + b"".join(b"\x8c" + bytes([len(n)]) + n.encode() + b"\x94" for n in names) + b"e"

    full = b"]\x94" + batch([f"w{i}" for i in range(MEMO)])  # the list and the memo are full
    get = b"h" + bytes([MEMO + 1]) + b"h" + bytes([MEMO + 2]) + b"\x93"  # posix, system
    data = b"\x80\x04" + full + batch(["posix", "system"] * 20) + get + b"\x8c\x02id\x85R."
    path = tmp_path / "m.pkl"
    path.write_bytes(data)
    assert _imports(data) == {"posix.system"}

    with _caps() as dropped:
        walk = walk_stream(ByteReader(io.BytesIO(data)))
        report = scan_path(path)

    assert dropped
    assert [ref.dotted for ref in walk.globals] == ["?.?"]  # the memo kept no key past its cap
    assert not report.safe
    assert [f.severity for f in report.findings] == ["dangerous"]
    assert "hides from a static reading" in report.findings[0].detail


@pytest.mark.parametrize("cut", [1, 2, 3, 700, -2, -1], ids=lambda cut: f"cut at {cut}")
def test_a_batch_cut_short_is_refused_as_cannot_be_checked(tmp_path: Path, cut: int) -> None:
    clean = _dicts(count=6, size=100)
    marks = [position for opcode, _, position in pickletools.genops(clean) if opcode.name == "MARK"]
    last = marks[-1]  # the last dict's batch, dropped: the memo and the list are past their caps
    end = clean.index(b"u", last + 700)
    data = clean[: (last + cut) if cut > 0 else end + 1 + cut]
    path = tmp_path / "m.pkl"
    path.write_bytes(data)

    with _caps():
        report = scan_path(path)

    assert not report.safe
    assert [f.severity for f in report.findings] == ["unreadable"]
    assert "the pickle cannot be read to its end" in str(report.error)
    assert "the pickle ends without a STOP opcode" in str(report.error) or "needed" in str(report.error)


def test_a_byte_that_is_no_opcode_inside_a_batch_is_refused(tmp_path: Path) -> None:
    clean = _dicts(count=6, size=100)
    at = clean.rindex(b"\x8c\x03k50")  # in the last dict's batch
    path = tmp_path / "m.pkl"
    path.write_bytes(clean[:at] + b"\xff" + clean[at + 1 :])

    with _caps():
        report = scan_path(path)

    assert not report.safe
    assert "byte 0xff at offset" in str(report.error)
    assert "is not a pickle opcode" in str(report.error)


def test_a_get_of_a_key_a_dropped_batch_stored_does_not_end_a_strict_walk() -> None:
    """Bytes of another format, read as pickle.load would: a key the batch stored but the model
    dropped is a name it cannot know (`?`), not a key never stored, where the walk would stop."""
    full = b"}\x94(" + b"".join(b"\x8c\x03k%02d\x94K\x00" % i for i in range(MEMO - 1)) + b"u"  # the memo holds MEMO
    batch = b"(" + b"\x8c\x02ab\x94K\x07" * 30 + b"u"  # stores keys MEMO to MEMO + 29, all dropped
    data = b"\x80\x04" + full + batch + b"h" + bytes([MEMO + 1]) + b"h" + bytes([MEMO + 2]) + b"\x93."
    assert _imports(data) == {"ab.ab"}

    walk, dropped = _walk(data, probe=True)

    assert dropped == [len(batch)]
    assert [ref.dotted for ref in walk.globals] == ["?.?"]
    assert _outcome(walk) == _outcome(_walk(data, batches=False, probe=True)[0])


_TOKENS = [
    b"\x8c\x02ab",
    b"\x8c\x02ab\x94",
    b"K\x07",
    b"M\x01\x02",
    b"G" + bytes(8),
    b"N",
    b"\x85",
    b"\x86",
    b"\x87",
    b"\x94",
    b")",
    b"\x95" + bytes(8),
    b"(",
    b"e",
    b"u",
    b"0",
    b"h\x03",
    b"\x8c\x05posix\x8c\x06system\x93",
    b"\x8c\x01",
    b"X\x02\x00\x00\x00ab",  # BINUNICODE
    b"q\x03",  # BINPUT of a key the memo holds
    b"q\xf0",
    b"r\x00\x01\x00\x00",  # LONG_BINPUT
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=40), st.integers(1, 40), st.booleans())
@example([b"K\x07", b"\x86"], 30, False)  # each TUPLE2 takes a value from under the MARK
@example([b"K\x07", b"\x85"], 30, True)
@example([b"\x85"], 60, False)
@example([b"\x94", b"K\x07"], 30, True)  # MEMOIZE of what is under the MARK
@example([b"\x8c\x02ab\x94", b"\x95" + bytes(8), b"K\x07"], 20, False)
@example([b"X\x02\x00\x00\x00ab", b"q\xf0", b"K\x07"], 20, False)
@example([b"X\x02\x00\x00\x00ab", b"q\x03", b"K\x07"], 20, True)  # a PUT over a key kept
@example([b"X\x02\x00\x00\x00ab", b"\x94", b"K\x07", b"q\xf0"], 20, False)
@example([b"X\x02\x00\x00\x00ab", b"r\x03\x00\x00\x00", b"K\x07"], 20, False)  # a LONG_BINPUT over a key kept
@example([b"\x8c\x02ab\x94", b"K\x07\x85q\xf0"], 20, False)  # MEMOIZE, then PUT: the next MEMOIZE clears the memo
def test_any_opcodes_in_a_batch_leave_the_walk_as_opcode_by_opcode(
    tokens: list[bytes], repeat: int, probe: bool
) -> None:
    """Hostile batches: a TUPLE or MEMOIZE reaching under the MARK, nested MARKs, FRAMEs anywhere,
    imports, cut strings. Whatever the batch path takes, it must leave what the exact way leaves."""
    batch = b"(" + b"".join(tokens) * repeat + b"u"
    data = b"\x80\x04" + FULL_DICT + b"\x8c\x02ab\x94K\x07" * 4 + batch + b"."

    walk, _ = _walk(data, probe=probe)

    built = not {b"\x85", b"\x86", b"\x87"} & set(tokens)
    assert _outcome(walk, built=built) == _outcome(_walk(data, batches=False, probe=probe)[0], built=built)
    assert walk.complete or walk.error


def test_a_batch_deeper_than_the_stack_cap_is_left_to_the_exact_way() -> None:
    batch = b"(" + b"\x8c\x02ab\x94" * 60 + b"e"
    data = b"\x80\x04]\x94(" + b"K\x07" * ITEMS + b"e" + b"\x8c\x01x\x94" * MEMO + batch + b"."

    with pytest.MonkeyPatch.context() as caps:
        caps.setattr(pickle_vm, "MAX_STACK", 50 + MEMO)
        caps.setattr(pickle_vm, "KEEP_ON_STACK", 3)  # the exact way checks the depth from here on
        walk, dropped = _walk(data)
        plain = _walk(data, batches=False)[0]

    assert not dropped
    assert "(the scanner's MAX_STACK limit;" in str(walk.limit)
    assert _outcome(walk) == _outcome(plain)
