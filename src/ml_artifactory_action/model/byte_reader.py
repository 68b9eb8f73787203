"""A forward reader over any binary stream: peek, exact reads, bounded lines, cheap skips.

Reads in small growing blocks so a sniff of a multi-GB tensor blob reads kilobytes, and skips by
seeking when the stream is a random-access file, by reading and discarding otherwise.
"""

from __future__ import annotations

import io
from typing import BinaryIO

FIRST_BLOCK = 4096  # a format sniff needs a few KiB; tensor blobs must not be read further
MAX_BLOCK = 1024 * 1024  # later fills grow to this, the size hashing and uploads use too


class Truncated(Exception):
    """The stream ended before the bytes the format promised."""


class ByteReader:
    """Consumes `raw` from its current position; `pos` counts the bytes consumed."""

    def __init__(self, raw: BinaryIO, *, length: int | None = None) -> None:
        self._raw = raw
        self._end = None if length is None else raw.tell() + length
        self._buf = b""
        self._off = 0
        self._block = FIRST_BLOCK
        self.pos = 0
        self._eof = False  # the raw stream returned no more bytes: never ask it again

    @classmethod
    def for_file(cls, raw: BinaryIO) -> ByteReader:
        """A reader that skips by seeking: `raw` must be seekable (a file, a window, a spool)."""
        start = raw.tell()
        length = raw.seek(0, io.SEEK_END) - start
        raw.seek(start)
        return cls(raw, length=length)

    def peek(self, count: int) -> bytes:
        self._fill(count)
        return self._buf[self._off : self._off + count]

    def read(self, count: int) -> bytes:
        if not self._fill(count):
            raise Truncated(f"needed {count} bytes at offset {self.pos}, the stream ended first")
        data = self._buf[self._off : self._off + count]
        self._off += count
        self.pos += count
        return data

    def read_byte(self) -> int | None:
        """The next byte, or None at the end of the stream."""
        if self._off >= len(self._buf) and not self._fill(1):
            return None
        value = self._buf[self._off]
        self._off += 1
        self.pos += 1
        return value

    def readline(self, limit: int) -> bytes | None:
        """The next line without its newline, or None when it is longer than `limit` (then skipped)."""
        while True:
            end = self._buf.find(b"\n", self._off, self._off + limit + 1)
            if end >= 0:
                line = self._buf[self._off : end]
                self._consume(end + 1 - self._off)
                return line
            available = len(self._buf) - self._off
            if available > limit:
                self._discard_line()
                return None
            if not self._fill(available + 1):
                raise Truncated(f"a line at offset {self.pos} has no end")

    def skip(self, count: int) -> None:
        available = min(count, len(self._buf) - self._off)
        self._consume(available)
        remaining = count - available
        if remaining and self._end is not None:
            self._seek_over(remaining, self._end)
        elif remaining:
            self._read_over(remaining)

    def read_some(self, count: int) -> bytes:
        """Up to `count` bytes (fewer only at the end of the stream)."""
        self._fill(count)
        data = self._buf[self._off : self._off + count]
        self._consume(len(data))
        return data

    def at_eof(self) -> bool:
        return not self._fill(1)

    def as_stream(self) -> BinaryIO:
        """A file object that reads on from here, for libraries that want one."""
        return io.BufferedReader(_Stream(self), buffer_size=MAX_BLOCK)

    def buffered(self, want: int) -> tuple[bytes, int]:
        """The buffer and the offset of the next byte in it, with up to `want` bytes available."""
        self._fill(want)
        return self._buf, self._off

    def advance(self, count: int) -> None:
        """Consume `count` bytes already returned by `buffered`."""
        self._off += count
        self.pos += count

    def _consume(self, count: int) -> None:
        self._off += count
        self.pos += count

    def _fill(self, want: int) -> bool:
        available = len(self._buf) - self._off
        if available >= want or self._eof:
            return available >= want
        chunks = [self._buf[self._off :]]
        while available < want:
            chunk = self._raw.read(max(want - available, self._block))
            self._block = min(self._block * 2, MAX_BLOCK)
            if not chunk:
                self._eof = True
                break
            chunks.append(chunk)
            available += len(chunk)
        self._buf, self._off = b"".join(chunks), 0
        return available >= want

    def _seek_over(self, count: int, end: int) -> None:
        if self._raw.tell() + count > end:
            raise Truncated(f"needed {count} more bytes at offset {self.pos}, the stream ended first")
        self._raw.seek(count, io.SEEK_CUR)
        self.pos += count

    def _read_over(self, count: int) -> None:
        while count:
            chunk = self._raw.read(min(count, MAX_BLOCK))
            if not chunk:
                raise Truncated(f"needed {count} more bytes at offset {self.pos}, the stream ended first")
            count -= len(chunk)
            self.pos += len(chunk)

    def _discard_line(self) -> None:
        while True:
            end = self._buf.find(b"\n", self._off)
            if end >= 0:
                self._consume(end + 1 - self._off)
                return
            self._consume(len(self._buf) - self._off)
            if not self._fill(1):
                raise Truncated(f"a line at offset {self.pos} has no end")


class _Stream(io.RawIOBase):
    def __init__(self, reader: ByteReader) -> None:
        super().__init__()
        self._reader = reader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._reader.read_some(len(buffer))
        buffer[: len(data)] = data
        return len(data)
