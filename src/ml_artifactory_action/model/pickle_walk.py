"""Walk one pickle stream opcode by opcode, in fixed memory, as `pickle.load` and `joblib.load` would.

The walk feeds a `PickleVM`, counts opcodes against a cap, skips joblib's raw array blocks (and
walks the nested pickle of an object array), and writes a normalised copy of the stream (no FRAME
opcodes, big literals emptied) that the picklescan engine can read in bounded memory.
"""

from __future__ import annotations

import io
import pickletools
import tempfile
from dataclasses import dataclass, field
from typing import BinaryIO

from .byte_reader import ByteReader, Truncated
from .joblib_arrays import WRAPPERS, ArrayBlock, LostSync, array_block
from .limits import MAX_PICKLE_OPS
from .pickle_args import DECODERS, Large, PickleSyntaxError
from .pickle_vm import GlobalRef, Instance, PickleVM

HIGHEST_PROTOCOL = 5
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # the normalised copy goes to disk beyond this
_FLUSH_AT = 1024 * 1024
# The bytes after a joblib array header are also what `pickle.load` would read as opcodes.
PROBE_WINDOW = 64 * 1024
_OPCODES = {ord(op.code): (op.name, op.arg.name if op.arg else None) for op in pickletools.opcodes}
_PROTO = ord("\x80")
# Stand-ins for literals too big to keep, so the normalised copy still parses op for op.
_STAND_INS = {
    "UNICODE": b"\x8c\x01?",
    "BINUNICODE": b"\x8c\x01?",
    "BINUNICODE8": b"\x8c\x01?",
    "GLOBAL": b"c?\n?\n",
    "INST": b"i?\n?\n",
    "PERSID": b"P?\n",
}
_BYTES_STAND_IN = b"C\x00"
_NUMBER_LINES = frozenset({"INT", "LONG", "FLOAT", "GET", "PUT"})


def _spool() -> BinaryIO:
    spool: BinaryIO = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # type: ignore[assignment]  # noqa: SIM115  closed by StreamWalk.close()
    return spool


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
    truncated: bool = False  # the bytes ran out before STOP
    ops: int = 0
    arrays: int = 0
    nested: list[StreamWalk] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    normalised: BinaryIO = field(default_factory=_spool)

    @property
    def globals(self) -> list[GlobalRef]:
        return self.vm.globals

    def close(self) -> None:
        self.normalised.close()
        for walk in [*self.nested, *(probe.walk for probe in self.probes)]:
            walk.close()


def walk_stream(reader: ByteReader, *, max_ops: int = MAX_PICKLE_OPS, arrays: bool = True) -> StreamWalk:
    """Walk from the reader's position to the STOP opcode, the first unreadable byte, or a cap."""
    head = reader.peek(2)
    walk = StreamWalk(reader.pos, len(head) == 2 and head[0] == _PROTO and head[1] <= HIGHEST_PROTOCOL)
    _Walker(reader, walk, max_ops, arrays).run()
    walk.normalised.seek(0)
    return walk


def is_plausible(ref: GlobalRef) -> bool:
    """Whether an import of this name could succeed: dotted Python identifiers only."""
    return all(part.isidentifier() for part in f"{ref.module}.{ref.name}".split("."))


class _Walker:
    def __init__(self, reader: ByteReader, walk: StreamWalk, max_ops: int, arrays: bool) -> None:
        self.reader, self.walk, self.max_ops, self.arrays = reader, walk, max_ops, arrays
        self.out = bytearray()

    def run(self) -> None:
        try:
            while not self.walk.complete:
                self._step()
        except Truncated as exc:
            self.walk.error, self.walk.truncated = str(exc), True
        except (PickleSyntaxError, LostSync) as exc:
            self.walk.error = str(exc)
        finally:
            self.walk.normalised.write(self.out)

    def _step(self) -> None:
        name, arg = self._next_op()
        self.walk.ops += 1
        if self.walk.ops > self.max_ops:
            raise PickleSyntaxError(f"more than {self.max_ops:,} opcodes in one pickle")
        globals_before = len(self.walk.vm.globals)
        self.walk.vm.step(name, arg)
        self._check_names(globals_before)
        if name == "STOP":
            self.walk.complete = True
        elif name == "BUILD" and self.arrays:
            self._after_build()

    def _next_op(self) -> tuple[str, object]:
        self.reader.start_capture()
        code = self.reader.read_byte()
        if code is None:
            self.reader.stop_capture()
            raise Truncated("the pickle ends without a STOP opcode")
        if code not in _OPCODES:
            self.reader.stop_capture()
            raise PickleSyntaxError(f"byte 0x{code:02x} at offset {self.reader.pos - 1} is not a pickle opcode")
        name, arg_kind = _OPCODES[code]
        arg = DECODERS[arg_kind](self.reader) if arg_kind else None
        self._record(name, arg, self.reader.stop_capture())
        return name, arg

    def _record(self, name: str, arg: object, raw: bytes) -> None:
        if name == "PROTO" and not (isinstance(arg, int) and arg <= HIGHEST_PROTOCOL):
            raise PickleSyntaxError(f"unsupported pickle protocol {arg!r}")
        if name == "FRAME":
            return
        if _is_large(arg):
            if name in _NUMBER_LINES:
                raise PickleSyntaxError(f"a {name} argument longer than any unpickler accepts")
            raw = _STAND_INS.get(name, _BYTES_STAND_IN)
        self.out += raw
        if len(self.out) >= _FLUSH_AT:
            self.walk.normalised.write(self.out)
            self.out.clear()

    def _check_names(self, globals_before: int) -> None:
        """Without a protocol header this may be text: an unimportable name ends the pickle here."""
        if self.walk.protocol_header:
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


def _is_large(arg: object) -> bool:
    return isinstance(arg, Large) or (isinstance(arg, tuple) and any(isinstance(part, Large) for part in arg))


def _probe(reader: ByteReader) -> Probe:
    window = reader.peek(PROBE_WINDOW)
    walk = walk_stream(ByteReader(io.BytesIO(window)), arrays=False)
    return Probe(reader.pos, walk, undecided=walk.truncated and len(window) == PROBE_WINDOW)
