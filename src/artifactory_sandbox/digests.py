"""sha1, md5 and sha256 of a byte stream in one pass, hashed on two threads beside the reader.

md5 has no hardware help and is the slowest step (~0.7 GB/s), so it runs on one thread and
sha1+sha256 on another while the caller's thread keeps reading and writing blocks.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

BLOCK_SIZE = 1024 * 1024  # 8 MiB blocks measured 10-25% slower (docs performance.md)
POOL_BLOCKS = 4  # buffers in flight: the reader runs at most this far ahead of the hashers

Sink = Callable[[memoryview], None]


class Readable(Protocol):
    def readinto(self, buffer: memoryview, /) -> int: ...


@dataclass(frozen=True)
class Digests:
    sha1: str
    md5: str
    sha256: str
    size: int

    def as_dict(self) -> dict[str, str]:
        return {"sha1": self.sha1, "md5": self.md5, "sha256": self.sha256}


class _Worker:
    """A thread that feeds every block it is given, in order, to its own hash objects."""

    def __init__(self, names: tuple[str, ...], release: Callable[[bytearray], None]) -> None:
        self.hashes = [hashlib.new(name, usedforsecurity=False) for name in names]
        self._release = release
        self._queue: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sandbox-hash", daemon=True)
        self._thread.start()

    def put(self, buffer: bytearray, length: int) -> None:
        self._queue.put((buffer, length))

    def finish(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            buffer, length = item
            view = memoryview(buffer)[:length]
            for digest in self.hashes:
                digest.update(view)
            view.release()
            self._release(buffer)


class _Pipeline:
    """Reused buffers shared by two workers; a buffer returns to the pool when both are done."""

    def __init__(self) -> None:
        self._pool: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(POOL_BLOCKS):
            self._pool.put(bytearray(BLOCK_SIZE))
        self._pending: dict[int, int] = {}
        self._lock = threading.Lock()
        self.md5 = _Worker(("md5",), self._release)
        self.sha = _Worker(("sha1", "sha256"), self._release)

    def take(self) -> bytearray:
        return self._pool.get()

    def give_back(self, buffer: bytearray) -> None:
        self._pool.put(buffer)

    def hash(self, buffer: bytearray, length: int) -> None:
        with self._lock:
            self._pending[id(buffer)] = 2
        self.md5.put(buffer, length)
        self.sha.put(buffer, length)

    def _release(self, buffer: bytearray) -> None:
        with self._lock:
            self._pending[id(buffer)] -= 1
            done = self._pending[id(buffer)] == 0
        if done:
            self._pool.put(buffer)

    def finish(self) -> tuple[str, str, str]:
        self.md5.finish()
        self.sha.finish()
        sha1, sha256 = (h.hexdigest() for h in self.sha.hashes)
        return sha1, self.md5.hashes[0].hexdigest(), sha256


def read_full(source: Readable, view: memoryview) -> int:
    """Fill `view` from `source.readinto` until full or end of stream; returns bytes read."""
    total = 0
    while total < len(view):
        count = source.readinto(view[total:])
        if not count:
            break
        total += count
    return total


def digest_stream(source: Readable, sink: Sink) -> Digests:
    """Read `source` to its end in 1 MiB blocks, pass each block to `sink`, return its digests.

    A body that fits one block is hashed inline; larger ones use the two hashing threads.
    """
    first = bytearray(BLOCK_SIZE)
    view = memoryview(first)
    length = read_full(source, view)
    sink(view[:length])
    if length < BLOCK_SIZE:
        return _inline_digests(view[:length])
    return _threaded_digests(source, sink, first)


def _inline_digests(data: memoryview) -> Digests:
    return Digests(
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )


def _threaded_digests(source: Readable, sink: Sink, first: bytearray) -> Digests:
    pipeline = _Pipeline()
    pipeline.hash(first, BLOCK_SIZE)
    size = BLOCK_SIZE
    try:
        size += _pump(source, sink, pipeline)
    finally:
        sha1, md5, sha256 = pipeline.finish()
    return Digests(sha1=sha1, md5=md5, sha256=sha256, size=size)


def _pump(source: Readable, sink: Sink, pipeline: _Pipeline) -> int:
    size = 0
    while True:
        buffer = pipeline.take()
        with memoryview(buffer) as view:
            length = read_full(source, view)
            if length:
                sink(view[:length])
        if not length:
            pipeline.give_back(buffer)
            return size
        pipeline.hash(buffer, length)
        size += length
