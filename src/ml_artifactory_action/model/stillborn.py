"""Is a stream that sniffs as compressed refused by its decoder before it yields a single byte?

A zlib header is two bytes that pass a check one time in 31, and random or tensor bytes pass it
(and gzip's, xz's) by chance. A loader (`joblib.load`, `gzip.open`) handed such bytes fails before
it has anything to unpickle, so nothing can run: the stream is not compressed, and the scan goes on
reading the bytes as they are. The decoder is fed one byte at a time, so any output comes out as
early as it can: an error before the first output byte is one no decoder could have got past with
something to load. Only errors within the first `PROBE_BYTES` count; later damage is the scan's
to judge (what decoded before it is read, then the file is refused as unreadable).
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from collections.abc import Callable
from typing import BinaryIO, Protocol

PROBE_BYTES = 64
_JOBLIB_ZFILE_HEADER = 2 + 19  # "ZF", then the length in hex padded to 19 characters


class _Decoder(Protocol):
    def decompress(self, data: bytes, /) -> bytes: ...


_DECODERS: dict[str, Callable[[], _Decoder]] = {
    "zlib": zlib.decompressobj,
    "joblib-zfile": zlib.decompressobj,
    "gzip": lambda: zlib.decompressobj(wbits=31),
    "bz2": bz2.BZ2Decompressor,
    "xz": lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ),
    "lzma": lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE),
}
_ERRORS = (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError)


def stillborn(kind: str, stream: BinaryIO) -> bool:
    """True when `kind`'s decoder fails on the stream's first bytes before any output."""
    make = _DECODERS.get(kind)
    if make is None:
        return False  # lz4, zstd: left to the scan, which refuses what it cannot decode
    head = stream.read(_JOBLIB_ZFILE_HEADER + PROBE_BYTES)
    if kind == "joblib-zfile":
        head = head[_JOBLIB_ZFILE_HEADER:]
    if kind in ("zlib", "joblib-zfile"):
        head = head.lstrip(b" ")  # old joblib wrote a space before the stream
    decoder = make()
    for at in range(min(len(head), PROBE_BYTES)):
        try:
            if decoder.decompress(head[at : at + 1]):
                return False
        except _ERRORS:
            return True
    return False
