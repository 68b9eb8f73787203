"""Where joblib's raw numpy array bytes sit between pickle opcodes, from the wrapper's state.

`joblib.dump` pickles each array as a `NumpyArrayWrapper`; right after the BUILD opcode that sets
the wrapper's state, `joblib.load` reads the array's bytes straight from the file (a padding byte
and padding first, when the state asks for alignment), or a nested pickle for object arrays.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .pickle_vm import Instance

WRAPPERS = frozenset(
    {
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
    }
)
_DTYPES = frozenset({"numpy.dtype", "numpy.core.multiarray.dtype", "numpy._core.multiarray.dtype"})
_INIT_ORDER = ("subclass", "shape", "order", "dtype", "allow_mmap", "numpy_array_alignment_bytes")
_INIT_DEFAULTS = {"allow_mmap": False, "numpy_array_alignment_bytes": 16}
_TYPESTR = re.compile(r"^[a-zA-Z?]+(\d*)$")
_HAS_OBJECT_FLAG = 0x01  # NPY_ITEM_REFCOUNT in the dtype's pickled flags
_MAX_ARRAY_BYTES = 1 << 62


class LostSync(Exception):
    """The wrapper's state does not say how many bytes follow: the scan cannot go on reading."""


@dataclass(frozen=True)
class ArrayBlock:
    nbytes: int
    has_objects: bool  # a nested pickle follows instead of raw bytes
    padded: bool  # a padding-length byte and that much padding come first


def array_block(wrapper: Instance) -> ArrayBlock:
    attrs = _attributes(wrapper)
    has_objects, itemsize = _dtype_layout(attrs.get("dtype"))
    nbytes = _count(attrs.get("shape")) * itemsize
    if nbytes > _MAX_ARRAY_BYTES:
        raise LostSync(f"an array of {nbytes} bytes")
    return ArrayBlock(nbytes, has_objects, attrs.get("numpy_array_alignment_bytes") is not None)


def _attributes(wrapper: Instance) -> dict[object, object]:
    if wrapper.opaque_state:
        raise LostSync("the array wrapper's state is not a plain dict")
    attrs: dict[object, object] = {}
    if wrapper.initialised:
        attrs.update(_INIT_DEFAULTS)
    attrs.update(zip(_INIT_ORDER, wrapper.init_args, strict=False))
    attrs.update(wrapper.attrs)
    return attrs


def _count(shape: object) -> int:
    if not isinstance(shape, tuple) or not all(_is_size(dim) for dim in shape):
        raise LostSync(f"the array shape {shape!r} is not a tuple of sizes")
    return math.prod(shape)


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _dtype_layout(dtype: object) -> tuple[bool, int]:
    """(has objects, item size) from a pickled `numpy.dtype(typestr, ...)` and its state tuple."""
    if not isinstance(dtype, Instance) or dtype.cls not in _DTYPES or not dtype.init_args:
        raise LostSync(f"the array dtype is not a numpy dtype ({getattr(dtype, 'cls', dtype)!r})")
    typestr, state = dtype.init_args[0], dtype.state
    match = _TYPESTR.match(typestr) if isinstance(typestr, str) else None
    if match is None or not isinstance(typestr, str):
        raise LostSync(f"unknown dtype {typestr!r}")
    fields = state if isinstance(state, tuple) else ()
    flags = fields[7] if len(fields) > 7 and isinstance(fields[7], int) else 0
    has_objects = typestr.startswith("O") or bool(flags & _HAS_OBJECT_FLAG)
    elsize = fields[5] if len(fields) > 5 and _is_size(fields[5]) else 0
    itemsize = elsize or int(match.group(1) or 0)
    if itemsize <= 0 and not has_objects:
        raise LostSync(f"dtype {typestr!r} has no item size")
    return has_objects, itemsize
