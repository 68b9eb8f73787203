"""Spans of data-only opcodes modelled in bulk: short strings, ints, floats, small tuples, memo stores.

Most of a pickle of lists, dicts and tuples is such spans. A compiled regex finds one (in C); it
holds only literals (at most 64-byte strings), TUPLE1-3 over literals of the same unit,
EMPTY_TUPLE and memo stores, so it cannot import, call or read below the stack it starts on.
The standard library's C unpickler then builds its values, which the model pushes and memoizes
as it would one opcode at a time. A span that chains tuples over the value below it (`(prev, 1)`)
leaves a `DATA` placeholder: nothing in it is ever read as a name.
"""

from __future__ import annotations

import io
import pickle
import re
from typing import Any

from . import pickle_vm
from .pickle_args import DATA, UNKNOWN
from .pickle_vm import PickleVM, tuple_size

MIN_BYTES = 48  # shorter spans go op by op: the set-up costs more than it saves
WINDOW = 64 * 1024  # bytes looked at per span
MAX_TEXT = 64  # SHORT_BINUNICODE strings up to this long are taken in bulk (names are kept exact)

# One literal opcode, and one SHORT_BINUNICODE of at most MAX_TEXT bytes (its length byte picks the branch).
LITERAL = rb"(?:K.|M..|J.{4}|G.{8}|N|\x88|\x89)"
TEXT = rb"\x8c(?:" + b"|".join(re.escape(bytes([size])) + b".{%d}" % size for size in range(MAX_TEXT + 1)) + rb")"
# BINUNICODE, what protocols 1 to 3 write for every string: a 4-byte length (at most MAX_TEXT here).
TEXT4 = (
    rb"X(?:" + b"|".join(re.escape(bytes([size, 0, 0, 0])) + b".{%d}" % size for size in range(MAX_TEXT + 1)) + rb")"
)
# A string (SHORT_BINUNICODE or BINUNICODE), EMPTY_TUPLE, or a literal alone or opening a TUPLE1-3 of literals (factored: the regex
# does not try a three-tuple at every literal).
_VALUE = (
    rb"(?:" + TEXT + rb"|" + TEXT4 + rb"|" + LITERAL + rb"(?:" + LITERAL + rb"(?:" + LITERAL + rb"\x87|\x86)|\x85)?|\))"
)
_MEMOIZED = re.compile(rb"(?:" + _VALUE + rb"\x94?)++", re.DOTALL)  # possessive: no state kept to backtrack
_PUT = re.compile(rb"(?:" + _VALUE + rb"(?:q.|r.{4})?)++", re.DOTALL)
_PUT_UNIT = re.compile(_VALUE + rb"(q.|r.{4})?", re.DOTALL)  # one value: its BINPUT or LONG_BINPUT, if any
# Tuples each wrapping the value below with one or two literals: (prev, x), (prev, x, y).
_CHAINS = (
    (
        re.compile(rb"(?:" + LITERAL + rb"\x86\x94?)++", re.DOTALL),
        re.compile(LITERAL + rb"\x86(\x94?)", re.DOTALL),
        2,
    ),
    (
        re.compile(rb"(?:" + LITERAL + rb"{2}\x87\x94?)++", re.DOTALL),
        re.compile(LITERAL + rb"{2}\x87(\x94?)", re.DOTALL),
        3,
    ),
)
_MEMOIZE = b"\x94"
# The commonest chain, one literal opcode wrapped by TUPLE2s and no memo store: its units all have
# one width, so the span's length counts them. Keyed by the literal's opcode.
_EVEN_CHAINS = {
    code[0]: (re.compile(rb"(?:" + re.escape(code) + b".{%d}" % size + rb"\x86)++", re.DOTALL), size + 2)
    for code, size in ((b"K", 1), (b"M", 2), (b"J", 4), (b"G", 8), (b"N", 0), (b"\x88", 0), (b"\x89", 0))
}


class _DataOnly(pickle.Unpickler):
    """The C unpickler, refusing any import (the regexes already keep GLOBAL and its kin out)."""

    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"a data span imports {module}.{name}")


def values(vm: PickleVM, buffer: bytes, offset: int, end: int) -> tuple[int, int]:
    """(bytes, opcodes) of the span of value units starting at `offset`, done on `vm`; (0, 0) for none."""
    limit = min(end, offset + WINDOW)
    memoized = _MEMOIZED.match(buffer, offset, limit)
    span = memoized if memoized and memoized.end() - offset >= MIN_BYTES else _PUT.match(buffer, offset, limit)
    if span is None or span.end() - offset < MIN_BYTES or len(vm.stack) + span.end() - offset > pickle_vm.KEEP_ON_STACK:
        return 0, 0
    stop = span.end()
    unpickler = _DataOnly(io.BytesIO(b"(" + buffer[offset:stop] + b"l."))
    try:
        pushed: list[object] = unpickler.load()
    except (pickle.UnpicklingError, UnicodeDecodeError):  # a string that is no UTF-8: op by op, leniently
        return 0, 0
    memo: Any = unpickler.memo.copy()  # typeshed gives it the Pickler's memo type
    stored: dict[object, object] = memo
    if span is memoized:
        stores = len(stored)  # each MEMOIZE takes a new key
        if stores and not _can_memoize(vm, stores):
            return 0, 0
    else:
        units = _PUT_UNIT.findall(buffer, offset, stop)
        stores = len(units) - units.count(b"")
        dropped = not _can_put(vm, stored)
        if dropped and not (len(vm.memo) >= pickle_vm.MAX_MEMO and vm.memo.keys().isdisjoint(stored)):
            return 0, 0  # near the memo's cap, or a PUT over a key kept: only op by op is exact
    tuples = [value for value in pushed if type(value) is tuple] if tuple in set(map(type, pushed)) else []
    if tuples and (vm.lean or not vm.keep(len(tuples) * tuple_size(3))):  # the model builds no more containers
        pushed = [UNKNOWN if type(value) is tuple else value for value in pushed]
        stored = {key: UNKNOWN if type(value) is tuple else value for key, value in stored.items()}
    if span is memoized:
        _memoize_all(vm, list(stored.values()))
    elif dropped and stored:  # new keys into a full memo: none is kept
        vm.puts_dropped()
    else:
        _put_all(vm, stored)
    vm.stack.extend(pushed)
    return stop - offset, len(pushed) + sum(map(len, tuples)) + stores  # a tuple: its TUPLE opcode, its literals


def chain(vm: PickleVM, buffer: bytes, offset: int, end: int) -> tuple[int, int]:
    """(bytes, opcodes) of a span of tuples each wrapping the value below, done on `vm`; (0, 0) for none."""
    if not vm.stack:
        return 0, 0
    limit = min(end, offset + WINDOW)
    even = _EVEN_CHAINS.get(buffer[offset])
    if even is not None and (span := even[0].match(buffer, offset, limit)) and span.end() - offset >= MIN_BYTES:
        vm.stack[-1] = DATA
        return span.end() - offset, (span.end() - offset) // even[1] * 2
    for run, unit, width in _CHAINS:
        span = run.match(buffer, offset, limit)
        if span is None or span.end() - offset < MIN_BYTES:
            continue
        stores = unit.findall(buffer, offset, span.end())
        memoizes = stores.count(_MEMOIZE)
        if memoizes:
            if not _can_memoize(vm, memoizes):
                return 0, 0
            _memoize_all(vm, [DATA] * memoizes)
        vm.stack[-1] = DATA
        return span.end() - offset, len(stores) * width + memoizes
    return 0, 0


def _can_memoize(vm: PickleVM, count: int) -> bool:
    """Whether `count` MEMOIZEs take new keys only (the memo's length is known, no PUT took them)."""
    start = vm.memo_len
    return start >= 0 and (not vm.put_keys or vm.memo.keys().isdisjoint(range(start, start + count)))


def _memoize_all(vm: PickleVM, stored: list[object]) -> None:
    """MEMOIZE of each value in turn: keys from the memo's length on, kept while the memo has room."""
    start = vm.memo_len
    room = max(0, pickle_vm.MAX_MEMO - len(vm.memo))
    vm.memo.update(zip(range(start, start + room), stored[:room], strict=False))
    vm.memo_whole = vm.memo_whole and room >= len(stored)
    vm.memo_len += len(stored)


def _new_keys(vm: PickleVM, stored: dict[object, object]) -> int:
    """How many keys of `stored` the memo lacks, in time of `stored`'s size (`stored.keys() -
    vm.memo.keys()` goes through the whole memo)."""
    return len(set(stored).difference(vm.memo))


def _can_put(vm: PickleVM, stored: dict[object, object]) -> bool:
    """Whether every BINPUT or LONG_BINPUT is kept."""
    return len(vm.memo) + _new_keys(vm, stored) <= pickle_vm.MAX_MEMO


def _put_all(vm: PickleVM, stored: dict[object, object]) -> None:
    """BINPUT of each value under its key, counting the new keys in the memo's length."""
    if vm.memo_len >= 0:
        vm.memo_len += _new_keys(vm, stored)
    vm.memo.update(stored)
    vm.put_keys = vm.put_keys or bool(stored)
