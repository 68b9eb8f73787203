"""Walk one pickle stream opcode by opcode, in fixed memory, as `pickle.load` and `joblib.load` would.

The walk feeds a `PickleVM`, counts opcodes against a cap and skips joblib's raw array blocks
(walking the nested pickle of an object array). Protocol-0 argument lines are read to their end
whatever their length, as `pickle.load` reads them; only their value is dropped when long.
"""

from __future__ import annotations

import io
import pickletools
from dataclasses import dataclass, field

from . import limits
from .byte_reader import ByteReader, Truncated
from .joblib_arrays import WRAPPERS, ArrayBlock, LostSync, array_block
from .pickle_args import DECODERS, NUMBER, PickleSyntaxError
from .pickle_vm import GlobalRef, Instance, PickleVM

HIGHEST_PROTOCOL = 5
# The bytes after a joblib array header are also what `pickle.load` would read as opcodes.
PROBE_WINDOW = 64 * 1024
_OPCODES = {ord(op.code): (op.name, op.arg.name if op.arg else None) for op in pickletools.opcodes}
_PROTO = ord("\x80")
_NAMED_IN_LINE = frozenset({"GLOBAL", "INST"})
MIN_RUN = 16  # shorter runs (a shape, a few arguments) go op by op, values kept
RUN_WINDOW = 16 * 1024  # bytes looked at per run (pickle batches 1,000 items: 9 KB of floats)


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
        return list(self.vm.globals)


def walk_stream(reader: ByteReader, *, max_ops: int | None = None, arrays: bool = True) -> StreamWalk:
    """Walk from the reader's position to the STOP opcode, the first unreadable byte, or a cap."""
    head = reader.peek(2)
    walk = StreamWalk(reader.pos, len(head) == 2 and head[0] == _PROTO and head[1] <= HIGHEST_PROTOCOL)
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


class _Walker:
    def __init__(self, reader: ByteReader, walk: StreamWalk, max_ops: int, arrays: bool) -> None:
        self.reader, self.walk, self.max_ops, self.arrays = reader, walk, max_ops, arrays

    def run(self) -> None:
        try:
            while not self.walk.complete:
                if not self._run_of_literals():
                    self._step()
        except Truncated as exc:
            self.walk.error, self.walk.truncated = str(exc), True
        except (OpcodeCap, limits.LimitExceeded) as exc:
            self.walk.error = self.walk.limit = str(exc)
        except (PickleSyntaxError, LostSync) as exc:
            self.walk.error = str(exc)

    def _run_of_literals(self) -> bool:
        """Many fixed-width literal opcodes in a row (a list of floats, ints, None) read in bulk.

        Every `width`-th byte from here is taken in one slice (in C): the leading run of the
        opcode there is the run's length. Its only effect is to push values whose content the
        scan never needs: the model pushes as many placeholders, so its stack stays exact.
        """
        buffer, offset = self.reader.buffered(RUN_WINDOW)
        run = _RUNS.get(buffer[offset]) if offset < len(buffer) else None
        last = offset + (MIN_RUN - 1) * run.width if run else len(buffer)
        if run is None or last >= len(buffer) or buffer[last] != buffer[offset]:
            return False  # not even the opcode MIN_RUN - 1 ahead: no run worth the slice
        whole = min(len(buffer) - offset, RUN_WINDOW) // run.width  # opcodes with all their argument bytes
        codes = buffer[offset : offset + whole * run.width : run.width]
        count = len(codes) - len(codes.lstrip(run.code))
        if count < MIN_RUN:
            return False
        self._count(count)
        self.walk.vm.push_run(run.value, count)
        self.reader.advance(count * run.width)
        return True

    def _count(self, ops: int) -> None:
        self.walk.ops += ops
        if self.walk.ops > self.max_ops:
            cap = limits.LimitExceeded(f"it has more than {self.max_ops:,} opcodes in one pickle", "MAX_PICKLE_OPS")
            raise OpcodeCap(str(cap))

    def _step(self) -> None:
        name, arg = self._next_op()
        self._count(1)
        if name in _NAMED_IN_LINE and not self.walk.protocol_header:
            _check_name(arg)
        self.walk.vm.step(name, arg)
        if name == "STOP":
            self.walk.complete = True
        elif name == "BUILD" and self.arrays:
            self._after_build()

    def _next_op(self) -> tuple[str, object]:
        code = self.reader.read_byte()
        if code is None:
            raise Truncated("the pickle ends without a STOP opcode")
        if code not in _OPCODES:
            raise PickleSyntaxError(f"byte 0x{code:02x} at offset {self.reader.pos - 1} is not a pickle opcode")
        name, arg_kind = _OPCODES[code]
        arg = DECODERS[arg_kind](self.reader) if arg_kind else None
        if name == "PROTO" and not (isinstance(arg, int) and arg <= HIGHEST_PROTOCOL):
            raise PickleSyntaxError(f"unsupported pickle protocol {arg!r}")
        return name, arg

    def _after_build(self) -> None:
        target = self.walk.vm.top()
        if not isinstance(target, Instance) or target.cls not in WRAPPERS:
            return
        self.walk.vm.stack[-1] = Instance("numpy.ndarray")
        self.walk.probes.append(_probe(self.reader))
        self._skip_array(array_block(target))
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
    walk = walk_stream(ByteReader(io.BytesIO(window)), arrays=False)
    return Probe(reader.pos, walk, undecided=walk.truncated and len(window) == PROBE_WINDOW)
