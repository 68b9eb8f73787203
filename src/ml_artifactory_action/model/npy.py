"""Read a .npy header without numpy: does an object array (a pickle) follow it?"""

from __future__ import annotations

import ast
import re

from .byte_reader import ByteReader

MAGIC = b"\x93NUMPY"
MAX_HEADER = 64 * 1024  # numpy itself refuses headers over 10,000 bytes unless told otherwise
# Plain numeric, string and void type strings, e.g. '<f8', '|b1', '<U12', '<M8[ns]'.
_PLAIN_TYPESTR = re.compile(r"^[<>|=]?[biufcmMSUVa?]\d*(\[\w+\])?$")


class NpyError(Exception):
    """The header cannot be read, so what follows it cannot be judged."""


def read_header(reader: ByteReader) -> bool:
    """Consume the header; True when the array's data is a pickle (its dtype holds objects)."""
    prefix = reader.read(len(MAGIC) + 2)
    major = prefix[len(MAGIC)]
    if major not in (1, 2, 3):
        raise NpyError(f".npy format version {major} is unknown")
    length = int.from_bytes(reader.read(2 if major == 1 else 4), "little")
    if length > MAX_HEADER:
        raise NpyError(f"a .npy header of {length} bytes (numpy refuses more than 10,000)")
    return _has_objects(_descr(reader.read(length)))


def _descr(header: bytes) -> object:
    try:
        fields = ast.literal_eval(header.decode("utf-8"))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as exc:
        raise NpyError(f"the .npy header is not a Python literal ({exc})") from None
    if not isinstance(fields, dict) or "descr" not in fields:
        raise NpyError("the .npy header has no 'descr'")
    return fields["descr"]


def _has_objects(descr: object) -> bool:
    """Anything but plain type strings, alone or as fields of a record, may hold objects."""
    if isinstance(descr, str):
        return not _PLAIN_TYPESTR.match(descr)
    if isinstance(descr, list):
        return any(_field_has_objects(field) for field in descr)
    return True


def _field_has_objects(field: object) -> bool:
    if not isinstance(field, tuple) or len(field) not in (2, 3):
        return True
    return _has_objects(field[1])
