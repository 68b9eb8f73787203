"""joblib's arrays inline in its pickle stream, as the sandbox Xray's pickle walk skips them.

joblib.dump writes a numpy array's bytes right after the pickled `NumpyArrayWrapper` whose state
(shape, dtype, alignment) sizes them; joblib.load reads them when BUILD leaves an object of
joblib's wrapper classes on the stack. A number array starts with a padding length byte and that
many 0xff bytes (joblib aligns arrays to 16 bytes; a dump without alignment is Unresolved); an
object array is a nested pickle. Only plainly given dtypes are sized: a structured, subarray or
unknown one is Unresolved.
"""

from __future__ import annotations

import math
import re
from typing import IO

from .xray_pickle_values import OPCODES, Const, Obj, Ref, Tup, Unresolved

JOBLIB_WRAPPER = ("joblib.numpy_pickle", "NumpyArrayWrapper")
NUMBER_KINDS = frozenset("biufcmM")  # numpy dtype kinds whose item size is in the type code
SKIP_CHUNK = 1 << 20
MAX_INLINE_BYTES = 1 << 40  # an array said to be larger than this is not sized, it is refused
HASOBJECT_FLAG = 0x01  # numpy's NPY_ITEM_HASOBJECT, in a pickled dtype's flags (its state's 8th item)
MAX_FIELD_DEPTH = 8  # structured dtypes nested deeper are not sized
TYPE_CODE = re.compile(r"([a-zA-Z])(\d*)")


def is_joblib(ref: Ref) -> bool:
    """joblib's loader reads array bytes after the BUILD of any object of its wrapper classes."""
    return ref.module.split(".")[0] == "joblib"


def item_size_of(dtype: object, depth: int = 0) -> int:
    """The item size of a pickled numpy dtype, 0 for objects; Unresolved when not plainly given."""
    if not (isinstance(dtype, Obj) and dtype.maker == Ref("numpy", "dtype") and isinstance(dtype.args, Tup)):
        raise Unresolved("a joblib array whose dtype is not a numpy.dtype")
    code = dtype.args.items[0] if dtype.args.items else None
    state = dtype.state.items if isinstance(dtype.state, Tup) else ()
    match = TYPE_CODE.fullmatch(str(code.value)) if isinstance(code, Const) else None
    if match is None or len(state) not in (8, 9) or state[2] != Const(None):  # no subarray
        raise Unresolved("a joblib array of a subarray or unknown dtype")
    kind, digits = match.groups()
    size = state[5].value if isinstance(state[5], Const) else None
    flags = state[7].value if isinstance(state[7], Const) else None
    if type(flags) is not int or (flags & HASOBJECT_FLAG == HASOBJECT_FLAG) != (kind == "O"):
        # numpy takes hasobject from the pickled flags, and joblib reads a nested pickle or raw
        # bytes by it: flags that disagree with the type would make the walk skip what joblib reads
        raise Unresolved("a joblib array whose dtype flags disagree with its type")
    if state[3:5] != (Const(None), Const(None)):  # a structured dtype: its fields hold no objects
        if kind == "V" and type(size) is int and size > 0 and _plain_fields(state[3], state[4], depth):
            return size
        raise Unresolved("a joblib array of a structured dtype with objects or odd fields")
    if kind == "O":
        return 0
    if kind in NUMBER_KINDS and digits and size == -1:
        return int(digits)
    if kind in "SUV" and type(size) is int and size > 0:
        return size
    raise Unresolved(f"a joblib array of dtype {match.group(0)}")


def _plain_fields(names: object, fields: object, depth: int) -> bool:
    """Every field of a structured dtype is sized and holds no Python objects (else joblib would
    have pickled the array, not written its bytes)."""
    if depth >= MAX_FIELD_DEPTH or not (isinstance(names, Tup) and isinstance(fields, Obj)):
        return False
    if any(not isinstance(n, Const) or n.value not in fields.items for n in names.items):
        return False
    entries = list(fields.items.values())
    return all(isinstance(e, Tup) and len(e.items) >= 2 and item_size_of(e.items[0], depth + 1) > 0 for e in entries)


def array_count(shape: object) -> int:
    """The number of items of a constant shape tuple."""
    if not (isinstance(shape, Tup) and all(isinstance(d, Const) and type(d.value) is int for d in shape.items)):
        raise Unresolved("a joblib array whose shape is not constant")
    dims = [d.value for d in shape.items if isinstance(d, Const) and isinstance(d.value, int)]
    if any(d < 0 for d in dims):
        raise Unresolved("a joblib array of negative shape")
    return math.prod(dims)


def skip_padding(stream: IO[bytes], alignment: object) -> None:
    """joblib's padding before a number array: a length byte (no opcode), then that many 0xff."""
    if not (isinstance(alignment, Const) and isinstance(alignment.value, int) and alignment.value > 0):
        raise Unresolved("a joblib array without alignment padding (an older joblib dump)")
    at = stream.tell()
    length = stream.read(1)
    expected = alignment.value - (at + 1) % alignment.value
    if length != bytes([expected]) or chr(expected) in OPCODES:
        raise Unresolved("joblib's array padding is not where joblib writes it")
    if stream.read(expected) != b"\xff" * expected:
        raise Unresolved("joblib's array padding is not 0xff bytes")


def skip_array(stream: IO[bytes], size: int) -> None:
    """Read past `size` bytes of array data, in chunks; the file must hold them all."""
    if size > MAX_INLINE_BYTES:
        raise Unresolved("a joblib array larger than the walk sizes")
    while size:
        chunk = stream.read(min(size, SKIP_CHUNK))
        if not chunk:
            raise Unresolved("the file ends inside a joblib array")
        size -= len(chunk)
