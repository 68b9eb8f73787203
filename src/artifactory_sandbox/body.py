"""Request bodies read straight off the socket: limited to Content-Length, or de-chunked.

The first read sends the deferred `100 Continue` (so a request refused before its body is read,
e.g. 401 or a wrong repository, never makes the client send the bytes). A body that ends early
raises `IncompleteBody`, which the filestore turns into "nothing stored".
"""

from __future__ import annotations

from collections.abc import Callable
from io import BufferedIOBase

READ_BLOCK = 1024 * 1024
MAX_CHUNK_LINE = 4096


class IncompleteBody(ConnectionError):
    """The client closed the connection (or broke the framing) before the end of its body."""


class _Body:
    def __init__(self, rfile: BufferedIOBase, on_first_read: Callable[[], None] | None) -> None:
        self._rfile = rfile
        self._on_first_read = on_first_read
        self.bytes_read = 0
        self.complete = False

    def _started(self) -> None:
        if self._on_first_read is not None:
            callback, self._on_first_read = self._on_first_read, None
            callback()

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        raise NotImplementedError

    def read(self, size: int = -1, /) -> bytes:
        """Up to `size` bytes (all remaining when negative); `b""` at the end."""
        limit = size if size >= 0 else 1 << 62
        chunks: list[bytes] = []
        while limit > 0:
            block = bytearray(min(limit, READ_BLOCK))
            count = self.readinto(block)
            if not count:
                break
            chunks.append(bytes(block[:count]))
            limit -= count
        return b"".join(chunks)

    def drain(self, limit: int) -> bool:
        """Read and discard up to `limit` bytes; True when the body was consumed to its end."""
        block = bytearray(min(limit, READ_BLOCK) or 1)
        while not self.complete and limit > 0:
            count = self.readinto(memoryview(block)[: min(limit, len(block))])
            if not count:
                break
            limit -= count
        return self.complete


class LengthBody(_Body):
    """Exactly `length` bytes (Content-Length)."""

    def __init__(self, rfile: BufferedIOBase, length: int, on_first_read: Callable[[], None] | None):
        super().__init__(rfile, on_first_read if length else None)
        self._remaining = length
        self.complete = length == 0

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        if self._remaining == 0 or not len(buffer):
            return 0
        self._started()
        view = memoryview(buffer)[: min(len(buffer), self._remaining)]
        count = self._rfile.readinto(view)
        if not count:
            raise IncompleteBody(f"connection closed with {self._remaining} body bytes missing")
        self._remaining -= count
        self.bytes_read += count
        self.complete = self._remaining == 0
        return count


class ChunkedBody(_Body):
    """`Transfer-Encoding: chunked`, trailers ignored."""

    def __init__(self, rfile: BufferedIOBase, on_first_read: Callable[[], None] | None) -> None:
        super().__init__(rfile, on_first_read)
        self._chunk_left = 0

    def readinto(self, buffer: bytearray | memoryview, /) -> int:
        if self.complete or not len(buffer):
            return 0
        self._started()
        if self._chunk_left == 0 and not self._next_chunk():
            return 0
        view = memoryview(buffer)[: min(len(buffer), self._chunk_left)]
        count = self._rfile.readinto(view)
        if not count:
            raise IncompleteBody("connection closed inside a chunk")
        self._chunk_left -= count
        self.bytes_read += count
        if self._chunk_left == 0:
            self._expect_crlf()
        return count

    def _next_chunk(self) -> bool:
        line = self._line()
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError as err:
            raise IncompleteBody(f"bad chunk size line {line[:40]!r}") from err
        if size == 0:
            while self._line():  # trailers end with an empty line
                pass
            self.complete = True
            return False
        self._chunk_left = size
        return True

    def _expect_crlf(self) -> None:
        if self._line():
            raise IncompleteBody("chunk not followed by CRLF")

    def _line(self) -> bytes:
        line = self._rfile.readline(MAX_CHUNK_LINE)
        if not line.endswith(b"\n"):
            raise IncompleteBody("connection closed inside chunk framing")
        return line.rstrip(b"\r\n")
