"""Open what holds other files: zip and tar members, compressed streams, windows and spools.

Every member comes out as a `Source`: a binary stream and whether it can seek cheaply. A stored
zip member of a seekable archive is a window on the archive's own bytes (nothing is copied); a
compressed one streams through a counter that enforces the expansion budget.
"""

from __future__ import annotations

import _compression
import bz2
import functools
import gzip
import importlib
import io
import lzma
import struct
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from picklescan.relaxed_zipfile import RelaxedZipFile

from .limits import MAX_LZMA_MEMORY, MAX_MEMBERS, Budget, LimitExceeded

_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_JOBLIB_ZFILE_HEADER = 2 + 19  # "ZF", then the length in hex padded to 19 characters (and maybe a space)
_COPY_BLOCK = 1024 * 1024
SPOOL_IN_MEMORY = 2 * 1024 * 1024  # per nested level (up to MAX_DEPTH at once): larger ones go to disk


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Unreadable(Exception):
    """A container or codec that cannot be opened here (missing library, encryption, damage)."""


@dataclass(frozen=True)
class Source:
    stream: BinaryIO
    random_access: bool


class Window(io.RawIOBase):
    """A read-only, seekable view of `length` bytes of `base` from `start`."""

    def __init__(self, base: BinaryIO, start: int, length: int) -> None:
        super().__init__()
        self._base, self._start, self._length, self._pos = base, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        origin = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, origin + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        count = max(0, min(len(buffer), self._length - self._pos))
        self._base.seek(self._start + self._pos)
        data = self._base.read(count)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


class Counted(io.RawIOBase):
    """Reads through `inner`, charging every byte to the budget's expansion allowance."""

    def __init__(self, inner: Readable, budget: Budget) -> None:
        super().__init__()
        self._inner, self._budget = inner, budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        self._budget.expand(len(data))
        buffer[: len(data)] = data
        return len(data)


def zip_members(source: Source, budget: Budget) -> Iterator[tuple[str, Callable[[], Source]]]:
    """Every member of a zip archive, by the central directory, duplicates included, with its opener."""
    with RelaxedZipFile(source.stream) as archive:
        infos = archive.infolist()
        _check_count(len(infos))
        for info in infos:
            if not info.is_dir():
                yield info.filename, functools.partial(_zip_member, archive, info, source, budget)


def tar_members(source: Source, budget: Budget) -> Iterator[tuple[str, Source]]:
    """Every regular member of a tar archive on a seekable stream, each a window on its bytes."""
    with tarfile.open(fileobj=source.stream, mode="r:") as archive:
        for count, member in enumerate(archive, start=1):
            _check_count(count)
            if member.issparse():
                extracted = archive.extractfile(member)
                if extracted is not None:
                    yield member.name, Source(io.BufferedReader(_Raw(extracted)), random_access=False)
            elif member.isfile():
                window = Window(source.stream, member.offset_data, member.size)
                yield member.name, Source(io.BufferedReader(window), random_access=True)


def decompressed(kind: str, stream: BinaryIO, budget: Budget) -> BinaryIO:
    """A stream of the decompressed bytes, charged to the budget; Unreadable without the codec."""
    return io.BufferedReader(Counted(_decompressor(kind, stream), budget), buffer_size=_COPY_BLOCK)


def spooled(stream: BinaryIO, budget: Budget) -> Source:
    """Copy a stream to a temporary file (in memory while small) for formats that need to seek."""
    spool = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115  the caller reads it, then closes it
    try:
        while chunk := stream.read(_COPY_BLOCK):
            budget.spool(len(chunk))
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return Source(spool, random_access=True)  # type: ignore[arg-type]  # a SpooledTemporaryFile reads as bytes


def _zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: Source, budget: Budget) -> Source:
    if info.flag_bits & 0x1:
        raise Unreadable(f"zip member {info.filename!r} is encrypted")
    if info.compress_type == zipfile.ZIP_STORED and source.random_access:
        window = Window(source.stream, _data_offset(source.stream, info), info.file_size)
        return Source(io.BufferedReader(window), random_access=True)
    return Source(io.BufferedReader(Counted(archive.open(info), budget)), random_access=False)


def _data_offset(stream: BinaryIO, info: zipfile.ZipInfo) -> int:
    stream.seek(info.header_offset)
    header = stream.read(_LOCAL_HEADER.size)
    fields = _LOCAL_HEADER.unpack(header) if len(header) == _LOCAL_HEADER.size else None
    if fields is None or fields[0] != b"PK\x03\x04":
        raise Unreadable(f"zip member {info.filename!r} has no local header")
    name_length, extra_length = int(fields[10]), int(fields[11])
    return info.header_offset + _LOCAL_HEADER.size + name_length + extra_length


def _check_count(count: int) -> None:
    if count > MAX_MEMBERS:
        raise LimitExceeded(f"the archive has more than {MAX_MEMBERS:,} members", "MAX_MEMBERS")


def _decompressor(kind: str, stream: BinaryIO) -> Readable:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=stream, mode="rb")
    if kind == "bz2":
        return bz2.BZ2File(stream)
    if kind in ("xz", "lzma"):
        return _Lzma(stream)
    if kind in ("zlib", "joblib-zfile"):
        return _ZlibReader(stream, skip=_JOBLIB_ZFILE_HEADER if kind == "joblib-zfile" else 0)
    return _optional_codec(kind, stream)


def _optional_codec(kind: str, stream: BinaryIO) -> Readable:
    """lz4 and zstd need libraries the action does not ship: without them, refuse to pass the file."""
    module_name, opener = {"lz4": ("lz4.frame", "LZ4FrameFile"), "zstd": ("zstandard", "ZstdDecompressor")}[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise Unreadable(f"{kind}-compressed, and the {module_name} library to read it is not installed") from None
    if kind == "lz4":
        reader: Readable = getattr(module, opener)(stream, mode="rb")
        return reader
    zstd_reader: Readable = getattr(module, opener)().stream_reader(stream)
    return zstd_reader


class _Lzma(io.RawIOBase):
    """`lzma.LZMAFile` with a memory limit: an .xz may ask for a 1.5 GiB dictionary."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._reader = _compression.DecompressReader(
            stream, lzma.LZMADecompressor, trailing_error=lzma.LZMAError, memlimit=MAX_LZMA_MEMORY
        )

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            return self._reader.readinto(buffer)
        except lzma.LZMAError as exc:
            if "memory" in str(exc).lower():
                what = f"its xz/lzma stream needs more than {MAX_LZMA_MEMORY // 1024**2} MiB to decompress"
                raise LimitExceeded(what, "MAX_LZMA_MEMORY") from exc
            raise


class _ZlibReader(io.RawIOBase):
    """A zlib stream (joblib's `compress=('zlib', n)`), decompressed as it is read."""

    def __init__(self, stream: BinaryIO, skip: int) -> None:
        super().__init__()
        first = stream.read(skip + _COPY_BLOCK)[skip:]
        self._stream, self._inflate = stream, zlib.decompressobj()
        self._input = first.lstrip(b" ")  # a zlib stream never starts with a space; old joblib wrote one

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._inflate.eof:
            data = self._inflate.decompress(self._input, len(buffer)) if self._input else b""
            self._input = self._inflate.unconsumed_tail
            if data:
                buffer[: len(data)] = data
                return len(data)
            if not self._input:
                self._input = self._stream.read(_COPY_BLOCK)
                if not self._input:
                    raise Unreadable("the zlib stream ends before its end marker")
        return 0


class _Raw(io.RawIOBase):
    """Any object with `read` as a raw stream, so it can be buffered."""

    def __init__(self, inner: Readable) -> None:
        super().__init__()
        self._inner = inner

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
