"""Batches of items the model would drop: checked and counted in bulk, never built.

The pickler writes a list's or a dict's items in batches: MARK, up to 1,000 items, then APPENDS or
SETITEMS. Past the model's caps nothing of such a batch is kept: the container under the MARK
takes no more items (it holds `MAX_ITEMS`, or the model is lean) and the memo keeps no new entry
(it holds `MAX_MEMO`, or its length is unknown). APPENDS or SETITEMS pops every value the batch
pushed, so none can be read again: a batch of literals only counts opcodes and moves the memo's
length on. Such a batch is checked by a regex (in C) opcode for opcode and counted, its values
never built (so nothing of it counts against `MAX_KEPT`). Only batches of one repeating item
shape are taken (a short string, a tuple of one to three literals, each memoized or not, or a
pair of these or of literals: a key and its value), ending in APPENDS, SETITEMS or ADDITEMS
within the window, FRAME opcodes allowed between their opcodes. Anything else, and every batch
while the caps are not reached, goes the exact way.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from functools import cache
from itertools import chain
from operator import itemgetter, mul

from . import pickle_vm
from .pickle_bulk import LITERAL, MIN_BYTES, TEXT, TEXT4
from .pickle_vm import PickleVM

WINDOW = 128 * 1024  # bytes looked at per batch: 1,000 items of two 64-byte strings fit
MAX_LEVELS = 16  # MARKs open under the batch; with more, the stack's depth is not summed per batch
_FRAME = rb"\x95.{8}"
_MEMOIZE = rb"\x94"
_PUT = rb"(?:q.|r.{4})"  # BINPUT, LONG_BINPUT (protocols 1 to 3)
_PUT_KEYED = rb"(?:q(.)|r(.{4}))"  # the same, its key captured
_BASES: dict[str, tuple[bytes, ...]] = {
    "text": (b"(?:" + TEXT + b"|" + TEXT4 + b")",),
    "tuple3": (LITERAL, LITERAL, LITERAL, rb"\x87"),
    "tuple2": (LITERAL, LITERAL, rb"\x86"),
    "tuple1": (LITERAL, rb"\x85"),
}


def _shapes() -> dict[str, tuple[bytes, ...]]:
    """Item shapes as opcode sequences, stored ones first so that the longest shape is the one found."""
    shapes: dict[str, tuple[bytes, ...]] = {}
    for name, ops in _BASES.items():
        shapes |= {f"{name}_memoized": (*ops, _MEMOIZE), f"{name}_put": (*ops, _PUT), name: ops}
    return shapes | {"literal": (LITERAL,), "empty_tuple": (rb"\)",)}


_SHAPES = _shapes()
_ITEM = re.compile(
    rb"(?:"
    + _FRAME
    + rb")?(?:"
    + b"|".join(b"(?P<%s>%s)" % (name.encode(), b"".join(ops)) for name, ops in _SHAPES.items())
    + rb")",
    re.DOTALL,
)


@dataclass(frozen=True)
class _Unit:
    """One repetition of a batch's items. Without a PUT, `pattern` finds 64, 16, 4 or 1 units
    (`BLOCKS`), one unit with FRAMEs between its opcodes, the opcode that ends the batch, or
    anything else; with PUTs (protocols 1 to 3: no FRAME), one unit and the keys its PUTs store."""

    pattern: re.Pattern[bytes]
    opcodes: int
    memoizes: int
    puts: int


BLOCKS = (64, 16, 4, 1)  # units per match: few matches to count, little work lost at the end
_FRAMED = len(BLOCKS)  # the group of a unit with FRAMEs; its FRAMEs (one per opcode) follow
_PER_MATCH = (*BLOCKS, 1)  # units per match of each group up to _FRAMED
_END = b"(" + _FRAME + rb")?([eu\x90]).*|(.).*"  # the last FRAME, APPENDS, SETITEMS or ADDITEMS; anything else


@cache
def _unit(shapes: tuple[str, ...]) -> _Unit:
    ops = [op for shape in shapes for op in _SHAPES[shape]]
    memoizes, puts = ops.count(_MEMOIZE), ops.count(_PUT)
    if puts:
        keyed = b"".join(_PUT_KEYED if op == _PUT else op for op in ops)
        return _Unit(re.compile(b"(" + keyed + b")|" + _END, re.DOTALL), len(ops), memoizes, puts)
    plain = b"".join(ops)
    blocks = b"|".join(b"((?:%s){%d}+)" % (plain, count) for count in BLOCKS)
    framed = b"".join(b"(" + _FRAME + b")?" + op for op in ops)
    return _Unit(re.compile(blocks + b"|(" + framed + b")|" + _END, re.DOTALL), len(ops), memoizes, puts)


@dataclass(frozen=True)
class _Batch:
    units: int
    frames: int
    size: int  # bytes from the MARK to the opcode that ends the batch, both included
    keys: tuple[int, ...] = ()  # the keys its PUTs store, in order


def dropped(vm: PickleVM, buffer: bytes, offset: int, end: int) -> tuple[int, int]:
    """(bytes, opcodes) of the batch whose MARK is at `offset`, done on `vm` when the model would
    drop all of it; (0, 0) otherwise (the exact way then reads it)."""
    limit = min(end, offset + WINDOW)
    unit = _unit_at(buffer, offset + 1, limit) if may_drop(vm) else None
    if unit is None or not _stores_may_drop(vm, unit):
        return 0, 0
    batch = _read_keyed(unit, buffer, offset, limit) if unit.puts else _read(unit, buffer, offset, limit)
    if batch is None or not _drops(vm, unit, batch):
        return 0, 0
    _drop_memoized(vm, batch.units * unit.memoizes)
    if batch.keys:
        vm.puts_dropped()
    return batch.size, 2 + batch.units * unit.opcodes + batch.frames


def _stores_may_drop(vm: PickleVM, unit: _Unit) -> bool:
    """Whether the memo may keep none of the unit's stores (before the batch is read). Never both
    kinds: a PUT makes the memo's length unknown, then a MEMOIZE clears the memo."""
    if unit.memoizes and unit.puts:
        return False
    return _memo_drops(vm, unit.memoizes) and (not unit.puts or _memo_full(vm))


def _drops(vm: PickleVM, unit: _Unit, batch: _Batch) -> bool:
    """Whether the model drops all of the batch read: its MEMOIZEs take new keys, its PUTs no key
    the memo holds (a PUT over one replaces its value), and its values fit under the stack's cap
    (else the exact way says where it outgrows it)."""
    if batch.size < MIN_BYTES or not _memo_drops(vm, batch.units * unit.memoizes):
        return False
    if batch.keys and not vm.memo.keys().isdisjoint(batch.keys):
        return False
    depth = len(vm.stack) + sum(map(len, vm.metastack)) + batch.units * unit.opcodes
    return depth <= pickle_vm.MAX_STACK


def may_drop(vm: PickleVM) -> bool:
    """Whether a batch opened here may be dropped: the container under it takes no more items."""
    levels = min(MAX_LEVELS, pickle_vm.MAX_MARKS)
    return bool(vm.stack) and not _takes_items(vm, vm.stack[-1]) and len(vm.metastack) < levels


def _takes_items(vm: PickleVM, target: object) -> bool:
    """Whether APPENDS or SETITEMS could add items to `target` (a list or dict with room, and the
    model not lean): then the exact way keeps them."""
    return isinstance(target, list | dict) and len(target) < pickle_vm.MAX_ITEMS and not vm.lean


def _memo_full(vm: PickleVM) -> bool:
    return len(vm.memo) >= pickle_vm.MAX_MEMO


def _memo_drops(vm: PickleVM, count: int) -> bool:
    """Whether `count` MEMOIZEs keep nothing: the memo's length is unknown (each forgets the memo),
    or it is full and the keys they take are new (no PUT chose them)."""
    if count == 0 or vm.memo_len < 0:
        return True
    start = vm.memo_len
    return _memo_full(vm) and (not vm.put_keys or vm.memo.keys().isdisjoint(range(start, start + count)))


def _drop_memoized(vm: PickleVM, count: int) -> None:
    """`count` MEMOIZEs that keep nothing, as `PickleVM.memoize` does them one by one."""
    if not count:
        return
    if vm.memo_len < 0:
        vm.memo.clear()
    else:
        vm.memo_len += count
    vm.memo_whole = False


def _unit_at(buffer: bytes, start: int, limit: int) -> _Unit | None:
    """The unit of the batch starting at `start`: its first item's shape, or its first two items'
    when they differ (a key and its value). Runs of literals alone are left to the walk's runs,
    which count them faster still."""
    first = _ITEM.match(buffer, start, limit)
    second = first and _ITEM.match(buffer, first.end(), limit)
    if not first or not second or first.lastgroup is None or second.lastgroup is None:
        return None
    if first.lastgroup != second.lastgroup:
        return _unit((first.lastgroup, second.lastgroup))
    return None if first.lastgroup == "literal" else _unit((first.lastgroup,))


def _read(unit: _Unit, buffer: bytes, offset: int, limit: int) -> _Batch | None:
    """The batch after the MARK at `offset`: whole units up to APPENDS, SETITEMS or ADDITEMS, or None.

    Every match starts where the one before ended (the last alternatives match any byte and take
    the rest of the window), so the units tile the batch from its first byte, opcode by opcode."""
    found = unit.pattern.findall(buffer, offset + 1, limit)
    if not found or not found[-1][_FRAMED + 2 + unit.opcodes]:
        return None
    last_frame, units = found[-1][_FRAMED + 1 + unit.opcodes], found[:-1]
    columns = list(zip(*units, strict=True)) if units else [()] * (_FRAMED + 1 + unit.opcodes)
    taken = [len(units) - column.count(b"") for column in columns]
    if sum(taken[: _FRAMED + 1]) != len(units):  # a match that is no unit before the end
        return None
    count = sum(map(mul, _PER_MATCH, taken))
    size = sum(map(len, chain.from_iterable(columns[: _FRAMED + 1])))
    frames = sum(taken[_FRAMED + 1 :]) + bool(last_frame)
    return _Batch(count, frames, 1 + size + len(last_frame) + 1)


def _read_keyed(unit: _Unit, buffer: bytes, offset: int, limit: int) -> _Batch | None:
    """`_read` for units with PUTs: one unit per match, each PUT's key captured (a BINPUT's byte
    or a LONG_BINPUT's four)."""
    found = unit.pattern.findall(buffer, offset + 1, limit)
    ending = 1 + 2 * unit.puts
    if not found or not found[-1][ending + 1]:
        return None
    units = found[:-1]
    wholes = list(map(itemgetter(0), units))
    if not all(wholes):  # a match that is no unit before the end
        return None
    short = b"".join(b"".join(map(itemgetter(group), units)) for group in range(1, ending, 2))
    long = b"".join(b"".join(map(itemgetter(group), units)) for group in range(2, ending, 2))
    keys = (*short, *struct.unpack(f"<{len(long) // 4}I", long))
    last_frame = found[-1][ending]
    size = 1 + sum(map(len, wholes)) + len(last_frame) + 1
    return _Batch(len(units), bool(last_frame), size, keys)
