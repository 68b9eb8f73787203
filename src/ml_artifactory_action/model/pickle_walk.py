"""Walk one pickle stream opcode by opcode, in fixed memory, as `pickle.load` and `joblib.load` would.

The walk feeds a `PickleVM`, counts opcodes against a cap and skips joblib's raw array blocks
(walking the nested pickle of an object array). Protocol-0 argument lines are read to their end
whatever their length, as `pickle.load` reads them; only their value is dropped when long.
"""

from __future__ import annotations

import io
import pickletools
from collections.abc import Callable
from dataclasses import dataclass, field

from . import limits, pickle_batches, pickle_bulk, pickle_vm
from .byte_reader import ByteReader, Truncated
from .joblib_arrays import WRAPPERS, ArrayBlock, LostSync, array_block
from .pickle_args import DECODERS, NUMBER, PickleSyntaxError
from .pickle_args import lenient as _lenient
from .pickle_vm import GlobalRef, Instance, PickleVM

HIGHEST_PROTOCOL = 5
# The bytes after a joblib array header are also what `pickle.load` would read as opcodes.
PROBE_WINDOW = 64 * 1024
_OPCODES = {ord(op.code): (op.name, op.arg.name if op.arg else None) for op in pickletools.opcodes}
_PROTO = ord("\x80")
_NAMED_IN_LINE = frozenset({"GLOBAL", "INST"})
MIN_RUN = 16  # shorter runs (a shape, a few arguments) go op by op, values kept
RUN_WINDOW = 16 * 1024  # bytes looked at per run (pickle batches 1,000 items: 9 KB of floats)
RETRY = 32  # bytes gone op by op after a failed try at a bulk span, before the next try
MAX_PUSHES = 17  # opcodes of the tight loop before a bulk span is tried again (prime: see `_pushes`)


class OpcodeCap(Exception):
    """The stream has more opcodes than the scan walks: it cannot be checked."""


@dataclass
class Probe:
    """What `pickle.load` would read where `joblib.load` reads array bytes."""

    offset: int
    walk: StreamWalk
    undecided: bool  # the opcodes ran past the window: the probe could not finish


@dataclass
class StreamWalk:
    """The outcome of walking one pickle stream starting at byte `start`."""

    start: int
    protocol_header: bool
    vm: PickleVM = field(default_factory=PickleVM)
    complete: bool = False
    error: str | None = None
    limit: str | None = None  # a cap stopped the walk: never "not a pickle"
    truncated: bool = False  # the bytes ran out before STOP
    ops: int = 0
    arrays: int = 0
    nested: list[StreamWalk] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)

    @property
    def globals(self) -> list[GlobalRef]:
        """What the scan judges: every name imported (a getattr resolved to its constant attribute
        counts as that attribute's dotted name, not as getattr)."""
        return self.vm.judged


def walk_stream(
    reader: ByteReader, *, max_ops: int | None = None, arrays: bool = True, probe: bool = False
) -> StreamWalk:
    """Walk from the reader's position to the STOP opcode, the first unreadable byte, or a cap.

    `probe`: bytes of another format, read as `pickle.load` would read them. Then, as for bytes
    without a protocol header, the walk ends where the unpickler would stop (an empty stack, a
    memo key never stored), since nothing after that point runs; a pickle with a header is
    modelled leniently past such a point and its error refuses it."""
    head = reader.peek(2)
    header = len(head) == 2 and head[0] == _PROTO and head[1] <= HIGHEST_PROTOCOL
    walk = StreamWalk(reader.pos, header, PickleVM(strict=probe or not header))
    _Walker(reader, walk, limits.MAX_PICKLE_OPS if max_ops is None else max_ops, arrays).run()
    return walk


def is_plausible(ref: GlobalRef) -> bool:
    """Whether an import of this name could succeed: dotted Python identifiers only."""
    return all(part.isidentifier() for part in f"{ref.module}.{ref.name}".split("."))


def _check_name(arg: object) -> None:
    """Without a protocol header this may be text: a GLOBAL or INST naming what no import can
    find ends the pickle here, as it ends `pickle.load`. (A STACK_GLOBAL whose strings the model
    lost may name anything, so it is never judged this way.)"""
    module, name = arg if isinstance(arg, tuple) else ("?", "?")
    ref = GlobalRef(module if isinstance(module, str) else "?", name if isinstance(name, str) else "?")
    if not is_plausible(ref):
        raise PickleSyntaxError(f"{ref.dotted!r} cannot be imported")


@dataclass(frozen=True)
class _Run:
    code: bytes
    width: int
    value: object


# Fixed-width opcodes that only push a literal: (opcode, bytes per opcode, what the model pushes).
_RUNS = {
    run_code[0]: _Run(run_code, width, value)
    for run_code, width, value in (
        (b"G", 9, NUMBER),  # BINFLOAT
        (b"J", 5, NUMBER),  # BININT
        (b"K", 2, NUMBER),  # BININT1
        (b"M", 3, NUMBER),  # BININT2
        (b"N", 1, None),  # NONE
        (b"\x88", 1, True),  # NEWTRUE
        (b"\x89", 1, False),  # NEWFALSE
    )
}


@dataclass(frozen=True)
class _Spec:
    """How the loop reads one opcode: `width` bytes decoded by `fixed`, a one-byte length then
    that many bytes decoded by `short`, or else the reader-based decoder of `kind`."""

    name: str
    kind: str | None
    width: int = -1
    fixed: Callable[[bytes, int], object] | None = None
    short: Callable[[bytes], object] | None = None
    checked: bool = False


def _little(size: int, *, signed: bool = False) -> Callable[[bytes, int], object]:
    return lambda data, at: int.from_bytes(data[at : at + size], "little", signed=signed)


_FIXED: dict[str, tuple[int, Callable[[bytes, int], object]]] = {
    "uint1": (1, lambda data, at: data[at]),
    "uint2": (2, _little(2)),
    "int4": (4, _little(4, signed=True)),
    "uint4": (4, _little(4)),
    "uint8": (8, _little(8)),
    "float8": (8, lambda data, at: NUMBER),
}
_SHORT: dict[str, Callable[[bytes], object]] = {
    "unicodestring1": lambda data: data.decode("utf-8", "surrogatepass"),
    "string1": lambda data: data.decode("latin-1"),
    "bytes1": bytes,
    "long1": lambda data: int.from_bytes(data, "little", signed=True),
}


def _spec(name: str, kind: str | None) -> _Spec:
    width, fixed = _FIXED.get(kind or "", (0, None)) if kind in _FIXED or kind is None else (-1, None)
    checked = name == "PROTO" or name in _NAMED_IN_LINE
    return _Spec(name, kind, width, fixed, _SHORT.get(kind or ""), checked)


_SPECS: list[_Spec | None] = [_spec(*_OPCODES[code]) if code in _OPCODES else None for code in range(256)]
_STOP, _BUILD, _SHORT_TEXT, _MEMOIZE, _BINPUT, _BINGET = ord("."), ord("b"), 0x8C, 0x94, ord("q"), ord("h")
_MARK = ord("(")
# What `_pushes` does: argument widths (a short string's is read from its length byte), constants.
_PUSH_WIDTHS = {_SHORT_TEXT: 0, _MEMOIZE: 0, _BINPUT: 1, _BINGET: 1, ord("K"): 1, ord("M"): 2, ord("J"): 4}
_TUPLES = {0x85: 1, 0x86: 2, 0x87: 3}  # TUPLE1, TUPLE2, TUPLE3
_PUSH_WIDTHS |= {ord("G"): 8, ord("N"): 0, 0x88: 0, 0x89: 0} | dict.fromkeys(_TUPLES, 0)
_PUSHED: dict[int, object] = {ord("G"): NUMBER, ord("N"): None, 0x88: True, 0x89: False}
_FIXED_PUSH = {ord("K"): _FIXED["uint1"][1], ord("M"): _FIXED["uint2"][1], ord("J"): _FIXED["int4"][1]}
_SPAN_STARTS = frozenset(b"KMJGN\x88\x89\x8cX)")  # what a span of `pickle_bulk` starts with
_LOOKAHEAD = 2 + 255  # the longest opcode read from the buffer: a one-byte length and its bytes


class _Walker:
    def __init__(self, reader: ByteReader, walk: StreamWalk, max_ops: int, arrays: bool) -> None:
        self.reader, self.walk, self.max_ops, self.arrays = reader, walk, max_ops, arrays
        self.retry_at = 0  # the stream offset from which a bulk span is tried again

    def run(self) -> None:
        try:
            self._loop()
        except Truncated as exc:
            self.walk.error, self.walk.truncated = str(exc), True
        except (OpcodeCap, limits.LimitExceeded) as exc:
            self.walk.error = self.walk.limit = str(exc)
        except (PickleSyntaxError, LostSync) as exc:
            self.walk.error = str(exc)

    def _loop(self) -> None:
        """One opcode per turn, decoded straight from the reader's buffer when its argument has a
        fixed width or a one-byte length (most opcodes), through `DECODERS` otherwise."""
        reader, walk = self.reader, self.walk
        handlers = [walk.vm.handler(spec.name) if spec else None for spec in _SPECS]
        buffer, offset, end = b"", 0, 0  # a view of the reader's buffer, refreshed when it runs short
        while True:
            if offset + _LOOKAHEAD > end:
                buffer, offset = reader.buffered(_LOOKAHEAD)
                end = len(buffer)
                if offset >= end:
                    raise Truncated("the pickle ends without a STOP opcode")
            code = buffer[offset]
            bulk = self._bulk(code, buffer, offset, end)
            if bulk:
                reader.advance(bulk)
                buffer, offset = reader.buffered(_LOOKAHEAD)  # a batch may have read more into it
                end = len(buffer)
                continue
            spec, handle = _SPECS[code], handlers[code]
            if spec is None or handle is None:
                raise PickleSyntaxError(f"byte 0x{code:02x} at offset {reader.pos} is not a pickle opcode")
            at = offset + 1
            if spec.width >= 0 and at + spec.width <= end:
                arg = spec.fixed(buffer, at) if spec.fixed else None
                reader.advance(1 + spec.width)
                offset = at + spec.width
            elif spec.short is not None and at < end and at + 1 + buffer[at] <= end:
                offset = at + 1 + buffer[at]
                arg = _lenient(spec.short, buffer[at + 1 : offset])
                reader.advance(offset - at + 1)
            else:
                reader.advance(1)
                arg = DECODERS[spec.kind](reader) if spec.kind else None
                offset = end
            walk.ops += 1
            if walk.ops > self.max_ops:
                self._count(0)
            if spec.checked:
                self._check(spec.name, arg)
            handle(arg)
            if code == _STOP:
                walk.complete = True
                return
            if code == _BUILD and self.arrays:
                self._after_build()
                offset = end

    def _pushes(self, buffer: bytes, offset: int, end: int) -> int:
        """Opcodes that only push a literal, touch the memo or make a small tuple (short strings,
        ints, floats, None, booleans, MEMOIZE, BINPUT, BINGET, TUPLE1-3: most of a pickle of dicts,
        lists and names), done in a tight loop with the same effect as one by one. Bytes
        consumed; 0 when the first is another. It stops after MAX_PUSHES opcodes, a prime: a bulk
        span tried again after a failed try (one that started at the second literal of a pair)
        starts at another opcode of the repeating item, so it is soon in step again."""
        vm, start, ops, decode = self.walk.vm, offset, 0, _SHORT["unicodestring1"]
        push = vm.push
        while offset + 1 < end and ops < MAX_PUSHES:
            code = buffer[offset]
            width = _PUSH_WIDTHS.get(code)
            if width is None:
                break
            if code == _SHORT_TEXT:
                width = 1 + buffer[offset + 1]
            if offset + 1 + width > end:
                break
            at = offset + 1
            if code == _SHORT_TEXT:
                push(_lenient(decode, buffer[at + 1 : at + width]))
            elif code == _MEMOIZE:
                vm.memoize()
            elif code == _BINPUT:
                vm.put(buffer[at])
            elif code == _BINGET:
                push(vm.fetch(buffer[at]))
            elif code in _TUPLES:
                vm.tuple_of(_TUPLES[code])
            else:
                push(_PUSHED[code] if code in _PUSHED else _FIXED_PUSH[code](buffer, at))
            offset, ops = at + width, ops + 1
        self._count(ops)
        return offset - start

    def _check(self, name: str, arg: object) -> None:
        if name == "PROTO" and not (isinstance(arg, int) and arg <= HIGHEST_PROTOCOL):
            raise PickleSyntaxError(f"unsupported pickle protocol {arg!r}")
        if name in _NAMED_IN_LINE and not self.walk.protocol_header:
            _check_name(arg)

    def _bulk(self, code: int, buffer: bytes, offset: int, end: int) -> int:
        """Bytes of opcodes done in bulk from here (0: none, go op by op)."""
        if code == _MARK:
            return self._batch(buffer, offset, end)
        run = _RUNS.get(code)
        if run is not None and (done := self._run_of_literals(buffer, offset, run)):
            return done
        if code in _SPAN_STARTS and self.reader.pos >= self.retry_at:
            vm = self.walk.vm
            done, ops = pickle_bulk.values(vm, buffer, offset, end)
            if not done:
                done, ops = pickle_bulk.chain(vm, buffer, offset, end)
            if done:
                self._count(ops)
                return done
            self.retry_at = self.reader.pos + RETRY
        return self._pushes(buffer, offset, end) if code in _PUSH_WIDTHS else 0

    def _batch(self, buffer: bytes, offset: int, end: int) -> int:
        """Bytes of the batch of items from the MARK here, when the model drops all of it."""
        vm = self.walk.vm
        run = _RUNS.get(buffer[offset + 1]) if offset + 1 < end else None
        if run is not None and buffer[offset + 1 : offset + 1 + 4 * run.width : run.width] == run.code * 4:
            return 0  # a run of one literal: the walk's runs take it faster
        if not pickle_batches.may_drop(vm):
            return 0
        if end - offset < pickle_batches.WINDOW:  # the whole batch in view, not cut at a refill
            buffer, offset = self.reader.buffered(pickle_batches.WINDOW)
            end = len(buffer)
        done, ops = pickle_batches.dropped(vm, buffer, offset, end)
        self._count(ops)
        return done

    def _run_of_literals(self, buffer: bytes, offset: int, run: _Run) -> int:
        """Many fixed-width literal opcodes in a row (a list of floats, ints, None) read in bulk.

        Every `width`-th byte from here is taken in one slice (in C): the leading run of the
        opcode there is the run's length. Its only effect is to push values whose content the
        scan never needs: the model pushes as many placeholders, so its stack stays exact.
        """
        whole = min(len(buffer) - offset, RUN_WINDOW) // run.width  # opcodes with all their argument bytes
        if whole < MIN_RUN:
            return 0
        look, count = MIN_RUN, 0
        while True:  # 16, 64, 256... opcodes at a time: the work grows with the run, not the window
            look = min(look, whole)
            codes = buffer[offset : offset + look * run.width : run.width]
            count = len(codes) - len(codes.lstrip(run.code))
            if count < look or look == whole:
                break
            look *= 4
        if count < MIN_RUN:
            return 0
        self._count(count)
        self.walk.vm.push_run(run.value, count)
        return count * run.width

    def _count(self, ops: int) -> None:
        self.walk.ops += ops
        if self.walk.ops > self.max_ops:
            cap = limits.LimitExceeded(f"it has more than {self.max_ops:,} opcodes in one pickle", "MAX_PICKLE_OPS")
            raise OpcodeCap(str(cap))

    def _after_build(self) -> None:
        target = self.walk.vm.top()
        if not isinstance(target, Instance) or target.cls not in WRAPPERS:
            return
        self.walk.vm.stack[-1] = Instance("numpy.ndarray")
        self.walk.probes.append(_probe(self.reader))
        try:
            block = array_block(target)
        except LostSync as exc:
            if not self.walk.vm.lean:
                raise
            what = f"its objects take more than {pickle_vm.MAX_KEPT // 1024**2} MiB to model, so its arrays cannot be found"
            raise limits.LimitExceeded(what, "MAX_KEPT") from exc
        self._skip_array(block)
        self.walk.arrays += 1

    def _skip_array(self, block: ArrayBlock) -> None:
        if block.has_objects:
            nested = walk_stream(self.reader, max_ops=self.max_ops, arrays=False)
            self.walk.nested.append(nested)
            if not nested.complete:
                raise LostSync(f"the pickle of an object array is unreadable: {nested.error}")
            return
        if block.padded:
            self.reader.skip(self.reader.read(1)[0])
        self.reader.skip(block.nbytes)


def _probe(reader: ByteReader) -> Probe:
    window = reader.peek(PROBE_WINDOW)
    walk = walk_stream(ByteReader(io.BytesIO(window)), arrays=False, probe=True)
    return Probe(reader.pos, walk, undecided=walk.truncated and len(window) == PROBE_WINDOW)
