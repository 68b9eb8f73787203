"""Whether the unpickler stops where pickletools stops, for the sandbox Xray's pickle walk.

pickletools.genops and the unpicklers read most opcodes alike, not all: `I0x1\\n` is an INT to
the C and the Python unpickler (both parse it with base 0) and an error to pickletools, and the
unpickler reads on, past where any genops-based scanner stopped. So where genops raises, the walk
asks whether the unpickler surely raises there too (LoadFails): the byte is no opcode at all, or
the file ends inside the opcode, or the opcode only pushes a constant and `pickle.loads` of that
opcode alone raises in both the C and the Python unpickler (such an opcode imports and calls
nothing, so loading it is safe). Any other stop is Unresolved: the unpickler may read on.
"""

from __future__ import annotations

import pickle
import pickletools
from collections.abc import Callable
from typing import IO

from .xray_pickle_values import LoadFails, Unresolved

CODE_TO_OPCODE = {op.code: op for op in pickletools.opcodes}
# Opcodes that push a constant and do nothing else: loading one alone is safe.
CONSTANT_OPCODES = frozenset(
    {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING", "BINSTRING",
     "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE",
     "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "FLOAT", "BINFLOAT"}
)  # fmt: skip
MEMO_KEY_OPCODES = frozenset({"PUT", "GET"})  # a memo key in decimal on a line, parsed alike
# Lines both unpicklers decode strictly (GLOBAL and INST as UTF-8, PERSID as ASCII) where
# pickletools decodes ASCII: one that is no UTF-8 stops them all.
NAME_LINE_OPCODES = frozenset({"GLOBAL", "INST", "PERSID"})
MAX_TRIED_BYTES = 1 << 20  # a constant longer than this is not loaded alone to try it


def stop_at(stream: IO[bytes], start: int, error: Exception) -> Unresolved:
    """Why genops raised `error` reading the opcode at `start`: a LoadFails when the unpickler
    surely raises there too, else Unresolved. Leaves the stream where genops left it."""
    end = stream.tell()
    more = bool(stream.read(1))
    stream.seek(start)
    code = stream.read(1)
    opcode = CODE_TO_OPCODE.get(code.decode("latin-1"))
    raw = code + stream.read(min(max(end - start - 1, 0), MAX_TRIED_BYTES))
    stream.seek(end)
    if not code:
        return LoadFails(f"the file ends at byte {start}, before the pickle's STOP")
    if opcode is None:
        return LoadFails(f"byte {start} ({code!r}) is no pickle opcode")
    if not more:
        return LoadFails(f"the file ends inside the {opcode.name} at byte {start}")
    if opcode.name in NAME_LINE_OPCODES and not _utf8(raw[1:]):  # a name neither unpickler decodes
        return LoadFails(f"the {opcode.name} at byte {start} names no UTF-8 text")
    if end - start <= MAX_TRIED_BYTES and _both_raise(_alone(opcode.name, raw)):
        return LoadFails(f"the {opcode.name} at byte {start} cannot be read: {error}")
    return Unresolved(
        f"pickletools cannot read the {opcode.name} at byte {start} ({error}), which an unpickler may read"
    )


def _alone(name: str, raw: bytes) -> bytes:
    """A pickle of the opcode alone that imports and calls nothing (a memo key is tried as PUT's,
    which both unpicklers parse as GET's); empty when the opcode cannot be tried so."""
    if name in CONSTANT_OPCODES:
        return raw + pickle.STOP
    if name in MEMO_KEY_OPCODES:
        return pickle.NONE + pickle.PUT + raw[1:] + pickle.STOP
    return b""


def _both_raise(data: bytes) -> bool:
    """Whether the C and the Python unpickler (joblib's is made from the latter) both refuse
    `data`, one constant and STOP."""
    if not data:
        return False
    return _raises(pickle.loads, data) and _raises(pickle._loads, data)  # type: ignore[attr-defined]  # not in typeshed


def _raises(load: Callable[[bytes], object], data: bytes) -> bool:
    try:
        load(data)
    except Exception:  # any refusal is a stop
        return True
    return False


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
