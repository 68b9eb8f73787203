"""Tell a file's format from its first bytes, never from its name."""

from __future__ import annotations

from typing import Literal

from .limits import MAX_SAFETENSORS_HEADER

Kind = Literal[
    "pickle",
    "zip",
    "tar",
    "npy",
    "hdf5",
    "gguf",
    "safetensors",
    "onnx",
    "gzip",
    "bz2",
    "xz",
    "lzma",
    "lz4",
    "zstd",
    "zlib",
    "joblib-zfile",
    "text",
    "data",
]
COMPRESSED: frozenset[Kind] = frozenset({"gzip", "bz2", "xz", "lzma", "lz4", "zstd", "zlib", "joblib-zfile"})
# Formats whose loaders run no code from the file: checked by their header alone.
CODE_FREE: frozenset[Kind] = frozenset({"gguf", "safetensors", "onnx"})
SNIFF_BYTES = 4096
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_TAR_MAGIC_AT = 257
_LZMA_HEADER, _LZMA_PROPERTIES = 13, 9 * 5 * 5
_TAR_BLOCK, _TAR_CHECKSUM = 512, 148
# Magic numbers at offset 0. joblib picks its decompressor by these same prefixes.
_MAGIC: tuple[tuple[bytes, Kind], ...] = (
    (b"\x80\x00", "pickle"),
    (b"\x80\x01", "pickle"),
    (b"\x80\x02", "pickle"),
    (b"\x80\x03", "pickle"),
    (b"\x80\x04", "pickle"),
    (b"\x80\x05", "pickle"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"\x93NUMPY", "npy"),
    (HDF5_SIGNATURE, "hdf5"),
    (b"GGUF", "gguf"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x5d\x00\x00", "lzma"),
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
# ONNX ModelProto fields and their protobuf wire types (0 varint, 2 length-delimited).
_ONNX_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2}
_TEXT_CONTROLS = frozenset(b"\t\n\r\f")


def sniff(head: bytes) -> Kind:
    """The format of content starting with `head` (pass at least `SNIFF_BYTES` when there are).

    safetensors goes first: its header length may begin with the bytes of a pickle's PROTO opcode
    (a 640-byte header starts 80 02). A file that is both is still read as a pickle by the scan.
    """
    if _is_safetensors(head):
        return "safetensors"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return _sniff_structured(head) or _sniff_text(head)


def lzma_alone_header(head: bytes) -> bool:
    """Whether `head` passes the checks liblzma's automatic decoder makes on a .lzma header (the
    format has no magic; `lzma.open` and `joblib.load` take it): properties, dictionary size,
    uncompressed size and the range coder's first byte."""
    if len(head) < _LZMA_HEADER + 1 or head[0] >= _LZMA_PROPERTIES or head[_LZMA_HEADER] != 0:
        return False
    dictionary = int.from_bytes(head[1:5], "little")
    rounded = (dictionary - 1) & 0xFFFFFFFF
    for shift in (2, 3, 4, 8, 16):
        rounded |= rounded >> shift
    rounded = (rounded + 1) & 0xFFFFFFFF  # 2^n and 2^n + 2^(n-1) round to themselves
    size = int.from_bytes(head[5:_LZMA_HEADER], "little")
    return dictionary in (rounded, 0xFFFFFFFF) and (size == 2**64 - 1 or size < 2**38)


def hdf5_userblock_offsets(size: int) -> list[int]:
    """Where else HDF5 looks for its signature: 512, 1024, 2048, ... within the file."""
    offsets, offset = [], 512
    while offset + len(HDF5_SIGNATURE) <= size:
        offsets.append(offset)
        offset *= 2
    return offsets


def _sniff_structured(head: bytes) -> Kind | None:
    if head[_TAR_MAGIC_AT : _TAR_MAGIC_AT + 5] == b"ustar" or _is_v7_tar(head):
        return "tar"
    if _is_zlib(head):
        return "zlib"
    if head[:2] == b"ZF" and head[2:4] == b"0x":
        return "joblib-zfile"
    if any(head[offset:].startswith(HDF5_SIGNATURE) for offset in hdf5_userblock_offsets(len(head))):
        return "hdf5"
    return "onnx" if _is_onnx(head) else None


def _is_v7_tar(head: bytes) -> bool:
    """A pre-POSIX tar header has no magic: `tarfile` accepts it when its checksum adds up."""
    if len(head) < _TAR_BLOCK or not head[0]:
        return False
    field = head[_TAR_CHECKSUM : _TAR_CHECKSUM + 8].rstrip(b"\x00 ")
    if not field or any(byte not in b"01234567" for byte in field.lstrip(b" ")):
        return False
    block = head[:_TAR_BLOCK]
    unsigned = sum(block[:_TAR_CHECKSUM]) + 8 * 0x20 + sum(block[_TAR_CHECKSUM + 8 :])
    signed = (
        unsigned
        - 2 * sum(byte for byte in block if byte > 127)
        + 2 * sum(byte for byte in block[_TAR_CHECKSUM : _TAR_CHECKSUM + 8] if byte > 127)
    )
    return int(field, 8) in (unsigned, signed)


def _is_zlib(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0


def _is_safetensors(head: bytes) -> bool:
    size = int.from_bytes(head[:8], "little") if len(head) >= 9 else 0
    return 2 <= size <= MAX_SAFETENSORS_HEADER and head[8:9] == b"{"


def _is_onnx(head: bytes) -> bool:
    """A ModelProto starts with ir_version (field 1, a small varint) and goes on with known fields."""
    fields = _protobuf_fields(head, limit=4)
    if len(fields) < 2 or fields[0][0] != 1 or not 1 <= fields[0][1] <= 64:
        return False
    return all(_ONNX_FIELDS.get(number) == wire for number, _, wire in fields)


def _protobuf_fields(data: bytes, limit: int) -> list[tuple[int, int, int]]:
    """(field number, value or length, wire type) of the first fields in `data`; -1 marks a bad one."""
    fields: list[tuple[int, int, int]] = []
    pos = 0
    while pos < len(data) and len(fields) < limit:
        tag, pos = _varint(data, pos)
        value, pos = _varint(data, pos) if tag >= 0 and tag & 7 in (0, 2) else (-1, len(data))
        fields.append((tag >> 3 if tag >= 0 else -1, value, tag & 7 if value >= 0 else -1))
        pos += value if tag & 7 == 2 and value > 0 else 0
    return fields


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos
    return -1, len(data)


def _sniff_text(head: bytes) -> Kind:
    if not head or any(byte < 0x20 and byte not in _TEXT_CONTROLS for byte in head):
        return "data"
    for cut in range(4):  # the head may end inside a multi-byte character
        try:
            head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return "text"
    return "data"
