"""joblib's inline arrays are sized as numpy itself sizes them, or not at all."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from artifactory_sandbox.xray_joblib_arrays import array_count, item_size_of, skip_padding
from artifactory_sandbox.xray_pickle_values import Const, Obj, Ref, Tup, Unresolved


def modelled(value: object) -> object:
    """A pickled value as the walk holds it: tuples, dicts and dtypes as the walk builds them."""
    if isinstance(value, tuple):
        return Tup(tuple(modelled(item) for item in value))
    if isinstance(value, dict):
        return Obj(maker="dict", items={key: modelled(item) for key, item in value.items()})
    if isinstance(value, np.dtype):
        return pickled_dtype(value)
    return Const(value)


def pickled_dtype(dtype: np.dtype[Any]) -> Obj:
    _, args, state = dtype.__reduce__()
    return Obj(maker=Ref("numpy", "dtype"), args=modelled(args), state=modelled(state))


@pytest.mark.parametrize("code", ["f8", "f4", "i8", "u1", "b1", "c16", "M8[ns]", "m8[s]", "U3", "S4", "V8", "<f2"])
def test_item_sizes_are_numpys(code: str) -> None:
    assert item_size_of(pickled_dtype(np.dtype(code))) == np.dtype(code).itemsize


def test_object_arrays_are_nested_pickles_and_records_without_objects_are_sized() -> None:
    assert item_size_of(pickled_dtype(np.dtype(object))) == 0
    record = np.dtype([("left", "<i8"), ("threshold", "<f8"), ("go_left", "u1")])  # a tree node, say
    assert item_size_of(pickled_dtype(record)) == record.itemsize
    for dtype in (np.dtype([("a", "O"), ("b", "f8")]), np.dtype(("f8", (2, 2))), np.dtype([("a", "f8", (2,))])):
        with pytest.raises(Unresolved):
            item_size_of(pickled_dtype(dtype))
    with pytest.raises(Unresolved):
        item_size_of(Obj(maker=Ref("numpy", "float64"), args=Tup(())))


def test_flags_that_disagree_with_the_type_are_not_sized() -> None:
    """numpy takes hasobject from the pickled flags; joblib reads a nested pickle or raw bytes by it."""
    for code, flags in (("f8", 63), ("O", 0), ("f8", 1)):
        dtype = pickled_dtype(np.dtype(code))
        assert isinstance(dtype.state, Tup)
        dtype.state = Tup((*dtype.state.items[:7], Const(flags)))
        with pytest.raises(Unresolved, match="flags disagree"):
            item_size_of(dtype)


def test_shapes_and_padding() -> None:
    assert array_count(modelled((3, 4))) == 12
    assert array_count(modelled(())) == 1
    with pytest.raises(Unresolved):
        array_count(modelled((3, -1)))
    stream = io.BytesIO(b"\x00" * 10 + bytes([5]) + b"\xff" * 5)  # padding byte at 10: 16 - 11 % 16 = 5
    stream.seek(10)
    skip_padding(stream, Const(16))
    assert stream.tell() == 16
    stream.seek(10)
    with pytest.raises(Unresolved):
        skip_padding(stream, Const(None))  # no alignment: an older dump
