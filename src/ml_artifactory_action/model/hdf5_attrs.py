"""Read the string attributes of an HDF5 file's root group, without h5py.

Keras's legacy .h5 format keeps the model's architecture as JSON in the root group's
`model_config` attribute. This reads just enough of HDF5 to get there: the superblock (versions
0-3), object headers (versions 1 and 2, with continuation blocks) and attribute messages holding
fixed-length or variable-length strings (the latter from the global heap). Anything else it would
need (dense attribute storage, shared datatypes) raises `Hdf5Error`: the file is not passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import BinaryIO

from .formats import HDF5_SIGNATURE

MAX_MESSAGES = 100_000  # header messages followed in one object header
MAX_ATTRIBUTE = 256 * 1024**2
_UNDEFINED = 0xFFFFFFFFFFFFFFFF
_CONTINUATION, _ATTRIBUTE, _ATTRIBUTE_INFO = 0x10, 0x0C, 0x15
_STRING, _VARIABLE_LENGTH = 3, 9
_CODE_ATTRIBUTES = frozenset({"model_config", "training_config"})


class Hdf5Error(Exception):
    """The root group's attributes cannot be read here, so the file cannot be judged."""


@dataclass
class _File:
    stream: BinaryIO
    offset_size: int
    length_size: int
    base: int

    def read(self, address: int, count: int) -> bytes:
        if count > MAX_ATTRIBUTE:
            raise Hdf5Error(f"a structure of {count} bytes")
        self.stream.seek(self.base + address)
        data = self.stream.read(count)
        if len(data) != count:
            raise Hdf5Error(f"the file ends inside a structure at {self.base + address}")
        return data

    def offset(self, data: bytes, at: int) -> int:
        return int.from_bytes(data[at : at + self.offset_size], "little")

    def length(self, data: bytes, at: int) -> int:
        return int.from_bytes(data[at : at + self.length_size], "little")


def root_string_attributes(stream: BinaryIO, signature_at: int) -> dict[str, list[str]]:
    """Every string-typed attribute of the root group: name -> its string values."""
    file, root = _superblock(stream, signature_at)
    attributes: dict[str, list[str]] = {}
    for kind, body in _messages(file, root):
        if kind == _ATTRIBUTE_INFO and _has_dense_storage(file, body):
            raise Hdf5Error("the root group keeps its attributes in dense storage, which this reader does not parse")
        if kind == _ATTRIBUTE:
            name, values = _attribute(file, body)
            if values is not None:
                attributes[name] = values
            elif name in _CODE_ATTRIBUTES:
                raise Hdf5Error(f"the {name!r} attribute is not a string")
    return attributes


def _superblock(stream: BinaryIO, at: int) -> tuple[_File, int]:
    stream.seek(at)
    head = stream.read(96)
    if not head.startswith(HDF5_SIGNATURE) or len(head) < 96:
        raise Hdf5Error("no HDF5 superblock")
    version = head[8]
    if version in (0, 1):
        offsets, lengths = head[13], head[14]
        fields = 24 if version == 0 else 28
    elif version in (2, 3):
        offsets, lengths, fields = head[9], head[10], 12
    else:
        raise Hdf5Error(f"HDF5 superblock version {version} is unknown")
    if offsets not in (2, 4, 8) or lengths not in (2, 4, 8):
        raise Hdf5Error("HDF5 address sizes are not 2, 4 or 8 bytes")
    file = _File(stream, offsets, lengths, 0)
    file.base = file.offset(head, fields)
    root_at = fields + offsets * (5 if version < 2 else 3)  # v0/1: the root symbol table entry's header address
    return file, file.offset(head, root_at)


def _messages(file: _File, address: int) -> list[tuple[int, bytes]]:
    first = file.read(address, 16)
    if first.startswith(b"OHDR"):
        return _messages_v2(file, address, first)
    if first[0] != 1:
        raise Hdf5Error(f"object header version {first[0]} is unknown")
    blocks = [(address + 16, int.from_bytes(first[8:12], "little"))]
    found: list[tuple[int, bytes]] = []
    while blocks and len(found) < MAX_MESSAGES:
        start, size = blocks.pop(0)
        found += _v1_block(file, file.read(start, size), blocks)
    return found


def _v1_block(file: _File, data: bytes, blocks: list[tuple[int, int]]) -> list[tuple[int, bytes]]:
    found, pos = [], 0
    while pos + 8 <= len(data):
        kind, size = int.from_bytes(data[pos : pos + 2], "little"), int.from_bytes(data[pos + 2 : pos + 4], "little")
        body = data[pos + 8 : pos + 8 + size]
        if kind == _CONTINUATION:
            blocks.append((file.offset(body, 0), file.length(body, file.offset_size)))
        found.append((kind, body))
        pos += 8 + size
    return found


def _messages_v2(file: _File, address: int, first: bytes) -> list[tuple[int, bytes]]:
    flags = first[5]
    prefix = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
    size_bytes = 1 << (flags & 0x03)
    head = file.read(address, prefix + size_bytes)
    chunk_size = int.from_bytes(head[prefix:], "little")
    blocks = [(address + prefix + size_bytes, chunk_size)]
    found: list[tuple[int, bytes]] = []
    while blocks and len(found) < MAX_MESSAGES:
        start, size = blocks.pop(0)
        found += _v2_block(file, file.read(start, size), flags, blocks)
    return found


def _v2_block(file: _File, data: bytes, flags: int, blocks: list[tuple[int, int]]) -> list[tuple[int, bytes]]:
    found, pos = [], 4 if data.startswith(b"OCHK") else 0
    header = 6 if flags & 0x04 else 4
    end = len(data) - (4 if pos else 0)  # a continuation block ends with its checksum
    while pos + header <= end:
        kind, size = data[pos], int.from_bytes(data[pos + 1 : pos + 3], "little")
        body = data[pos + header : pos + header + size]
        if kind == _CONTINUATION:
            blocks.append((file.offset(body, 0), file.length(body, file.offset_size)))
        found.append((kind, body))
        pos += header + size
    return found


def _has_dense_storage(file: _File, body: bytes) -> bool:
    heap_at = 2 + (2 if body[1] & 0x01 else 0)
    return file.offset(body, heap_at) != _UNDEFINED >> (64 - 8 * file.offset_size)


def _attribute(file: _File, body: bytes) -> tuple[str, list[str] | None]:
    version, flags = body[0], body[1]
    name_size, type_size, space_size = (int.from_bytes(body[at : at + 2], "little") for at in (2, 4, 6))
    if flags & 0x03 and version > 1:
        raise Hdf5Error("an attribute uses a shared datatype or dataspace")
    pos = 8 + (1 if version == 3 else 0)
    parts = []
    for size in (name_size, type_size, space_size):
        parts.append(body[pos : pos + size])
        pos += _aligned(size) if version == 1 else size  # version 1 pads each part to 8 bytes
    name = parts[0].rstrip(b"\x00").decode("utf-8", "replace")
    return name, _strings(file, parts[1], _count(file, parts[2]), body[pos:])


def _count(file: _File, space: bytes) -> int:
    version, rank = space[0], space[1]
    if version == 2 and space[3] == 2:
        return 0  # a null dataspace
    dims_at, step = (8 if version == 1 else 4), file.length_size
    return math.prod(file.length(space, dims_at + step * i) for i in range(rank))


def _strings(file: _File, datatype: bytes, count: int, data: bytes) -> list[str] | None:
    kind, size = datatype[0] & 0x0F, int.from_bytes(datatype[4:8], "little")
    step = size if kind == _STRING else 4 + file.offset_size + 4
    if kind in (_STRING, _VARIABLE_LENGTH) and count * step > len(data):
        raise Hdf5Error("an attribute holds more values than its data")
    if kind == _STRING:
        return [_text(data[i * size : (i + 1) * size]) for i in range(count)]
    if kind == _VARIABLE_LENGTH and datatype[1] & 0x0F == 1:
        return [_heap_string(file, data[i * step : (i + 1) * step]) for i in range(count)]
    return None


def _heap_string(file: _File, reference: bytes) -> str:
    length = int.from_bytes(reference[:4], "little")
    collection = file.offset(reference, 4)
    index = int.from_bytes(reference[4 + file.offset_size :], "little")
    header = file.read(collection, 8 + file.length_size)
    if not header.startswith(b"GCOL"):
        raise Hdf5Error("a variable-length string points outside a global heap")
    heap = file.read(collection, file.length(header, 8))
    return _text(_heap_object(file, heap, index)[:length])


def _heap_object(file: _File, heap: bytes, index: int) -> bytes:
    pos = 8 + file.length_size
    while pos + 8 + file.length_size <= len(heap):
        number = int.from_bytes(heap[pos : pos + 2], "little")
        size = file.length(heap, pos + 8)
        start = pos + 8 + file.length_size
        if number == index:
            return heap[start : start + size]
        if number == 0:
            break
        pos = start + _aligned(size)
    raise Hdf5Error(f"global heap object {index} is missing")


def _aligned(size: int) -> int:
    return -(-size // 8) * 8


def _text(data: bytes) -> str:
    return data.rstrip(b"\x00").decode("utf-8", "replace")
