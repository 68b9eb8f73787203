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
from .pickle_args import DECODERS, PickleSyntaxError
from .pickle_vm import GlobalRef, Instance, PickleVM

HIGHEST_PROTOCOL = 5
# The bytes after a joblib array header are also what `pickle.load` would read as opcodes.
PROBE_WINDOW = 64 * 1024
_OPCODES = {ord(op.code): (op.name, op.arg.name if op.arg else None) for op in pickletools.opcodes}
_PROTO = ord("\x80")
_NAMED_IN_LINE = frozenset({"GLOBAL", "INST"})


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
        return self.vm.globals


def walk_stream(reader: ByteReader, *, max_ops: int | None = None, arrays: bool = True) -> StreamWalk:
    """Walk from the reader's position to the STOP opcode, the first unreadable byte, or a cap."""
    head = reader.peek(2)
    walk = StreamWalk(reader.pos, len(head) == 2 and head[0] == _PROTO and head[1] <= HIGHEST_PROTOCOL)
    _Walker(reader, walk, limits.MAX_PICKLE_OPS if max_ops is None else max_ops, arrays).run()
    return walk


def is_plausible(ref: GlobalRef) -> bool:
    """Whether an import of this name could succeed: dotted Python identifiers only."""
    return all(part.isidentifier() for part in f"{ref.module}.{ref.name}".split("."))


class _Walker:
    def __init__(self, reader: ByteReader, walk: StreamWalk, max_ops: int, arrays: bool) -> None:
        self.reader, self.walk, self.max_ops, self.arrays = reader, walk, max_ops, arrays

    def run(self) -> None:
        try:
            while not self.walk.complete:
                self._step()
        except Truncated as exc:
            self.walk.error, self.walk.truncated = str(exc), True
        except OpcodeCap as exc:
            self.walk.error = self.walk.limit = str(exc)
        except (PickleSyntaxError, LostSync) as exc:
            self.walk.error = str(exc)

    def _step(self) -> None:
        name, arg = self._next_op()
        self.walk.ops += 1
        if self.walk.ops > self.max_ops:
            cap = limits.LimitExceeded(f"it has more than {self.max_ops:,} opcodes in one pickle", "MAX_PICKLE_OPS")
            raise OpcodeCap(str(cap))
        globals_before = len(self.walk.vm.globals)
        self.walk.vm.step(name, arg)
        self._check_names(globals_before, name)
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

    def _check_names(self, globals_before: int, opcode: str) -> None:
        """Without a protocol header this may be text: a name no import can find ends the pickle here.

        Only names spelled out in a line (GLOBAL, INST) are judged: a STACK_GLOBAL whose strings
        the model lost (`?`) may be any name, so it stays an import.
        """
        if self.walk.protocol_header or opcode not in _NAMED_IN_LINE:
            return
        imported = self.walk.vm.globals[globals_before:]
        if any(not is_plausible(ref) for ref in imported):
            del self.walk.vm.globals[globals_before:]
            raise PickleSyntaxError(f"{imported[0].dotted!r} cannot be imported")

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
