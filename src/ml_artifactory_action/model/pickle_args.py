"""Decode the argument of each pickle opcode from a `ByteReader`, keeping only small literals.

Big literals (tensor bytes, long protocol-0 lines) are skipped and stand as `Large`: the scan only
needs names, and a model must never be read whole into memory. A malformed number is `UNKNOWN`
rather than an error, so the walk sees at least as far as any real unpickler would.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass

from .byte_reader import ByteReader
from .limits import MAX_KEPT_LITERAL

MAX_NAME = 4096  # a module path or qualified name longer than this is no importable name


class PickleSyntaxError(Exception):
    """The bytes are not a pickle opcode stream any unpickler would go on reading."""


@dataclass(frozen=True)
class Large:
    """A literal too long to keep (`size` bytes, or -1 for an over-long line)."""

    size: int


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()  # a value the walk cannot know (malformed literal, empty stack)


class _Number:
    def __repr__(self) -> str:
        return "NUMBER"


NUMBER = _Number()  # a float, or an int pushed in a long run: its value never matters to the scan


class _Data:
    def __repr__(self) -> str:
        return "DATA"


DATA = _Data()  # a tuple built of data around data, modelled in bulk: never a name, never read


def _uint(size: int, *, signed: bool = False) -> Callable[[ByteReader], object]:
    return lambda reader: int.from_bytes(reader.read(size), "little", signed=signed)


def _length(reader: ByteReader, size: int, *, signed: bool = False) -> int:
    length = int.from_bytes(reader.read(size), "little", signed=signed)
    if length < 0:
        raise PickleSyntaxError(f"negative length {length} at offset {reader.pos}")
    return length


def _literal(reader: ByteReader, length: int) -> bytes | Large:
    if length > MAX_KEPT_LITERAL:
        reader.skip(length)
        return Large(length)
    return reader.read(length)


def _counted(size: int, decode: Callable[[bytes], object], *, signed: bool = False) -> Callable[[ByteReader], object]:
    def read(reader: ByteReader) -> object:
        data = _literal(reader, _length(reader, size, signed=signed))
        return data if isinstance(data, Large) else lenient(decode, data)

    return read


def _line(decode: Callable[[bytes], object]) -> Callable[[ByteReader], object]:
    def read(reader: ByteReader) -> object:
        line = reader.readline(MAX_KEPT_LITERAL)
        return Large(-1) if line is None else lenient(decode, line)

    return read


def lenient(decode: Callable[[bytes], object], data: bytes) -> object:
    try:
        return decode(data)
    except (ValueError, UnicodeDecodeError):
        return UNKNOWN


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogatepass")


def _latin1(data: bytes) -> str:
    return data.decode("latin-1")


def _decimal(data: bytes) -> object:
    """INT's argument: protocol 0 spells the booleans 00 and 01."""
    booleans = {b"00": False, b"01": True}
    return booleans[data.strip()] if data.strip() in booleans else int(data)


def _long_line(data: bytes) -> int:
    return int(data[:-1] if data.endswith(b"L") else data)


def _quoted(data: bytes) -> str:
    data = data.strip()
    if len(data) < 2 or data[0] not in b"'\"" or data[-1] != data[0]:
        raise ValueError("STRING argument is not quoted")
    return _latin1(codecs.escape_decode(data[1:-1])[0])


def _raw_unicode(data: bytes) -> str:
    return data.decode("raw-unicode-escape")


def _long_bytes(data: bytes) -> int:
    return int.from_bytes(data, "little", signed=True)


def _float8(reader: ByteReader) -> object:
    reader.skip(8)
    return NUMBER


def _global_pair(reader: ByteReader) -> object:
    """GLOBAL's and INST's module and name lines; one longer than any importable name hides it (`?`)."""
    module, name = reader.readline(MAX_NAME), reader.readline(MAX_NAME)
    if module is None or name is None:
        return (Large(-1), Large(-1))
    return (lenient(_text, module), lenient(_text, name))


def _long1(reader: ByteReader) -> object:
    return _long_bytes(reader.read(_length(reader, 1)))


def _long4(reader: ByteReader) -> object:
    data = _literal(reader, _length(reader, 4, signed=True))
    return data if isinstance(data, Large) else _long_bytes(data)


# Keyed by the argument descriptor names of `pickletools.opcodes`.
DECODERS: dict[str, Callable[[ByteReader], object]] = {
    "uint1": _uint(1),
    "uint2": _uint(2),
    "int4": _uint(4, signed=True),
    "uint4": _uint(4),
    "uint8": _uint(8),
    "float8": _float8,
    "long1": _long1,
    "long4": _long4,
    "string1": _counted(1, _latin1),
    "string4": _counted(4, _latin1, signed=True),
    "bytes1": _counted(1, bytes),
    "bytes4": _counted(4, bytes),
    "bytes8": _counted(8, bytes),
    "bytearray8": _counted(8, bytes),
    "unicodestring1": _counted(1, _text),
    "unicodestring4": _counted(4, _text),
    "unicodestring8": _counted(8, _text),
    "decimalnl_short": _line(_decimal),
    "decimalnl_long": _line(_long_line),
    "floatnl": _line(lambda _: NUMBER),
    "stringnl": _line(_quoted),
    "unicodestringnl": _line(_raw_unicode),
    "stringnl_noescape": _line(_latin1),
    "stringnl_noescape_pair": _global_pair,
}
