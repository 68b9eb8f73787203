"""Checksum-addressed binaries: `<root>/<sha256[:2]>/<sha256>`, one copy per content.

An ingest streams to a temp file while hashing, verifies the client's checksums, fsyncs and only
then renames into place, so a half-received body never becomes visible under its checksum.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from .digests import Digests, Readable, digest_stream

CHECKSUM_TYPES = ("sha1", "md5", "sha256")


class ChecksumMismatch(Exception):
    """The client's checksums do not match the bytes received; nothing was stored."""

    def __init__(self, expected: Mapping[str, str], actual: Digests) -> None:
        super().__init__(f"checksum mismatch: expected {dict(expected)}, got {actual.as_dict()}")
        self.expected = dict(expected)
        self.actual = actual


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "_tmp"
        shutil.rmtree(self._tmp, ignore_errors=True)  # leftovers of uploads cut by a crash
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def ingest(self, stream: Readable, expected: Mapping[str, str]) -> Digests:
        """Store `stream` to its end; raise `ChecksumMismatch` (storing nothing) if it differs.

        `expected` maps any of sha1/md5/sha256 to the hex digest the client announced.
        """
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        tmp = Path(tmp_name)
        try:
            digests = _write_and_hash(fd, stream)
            check_expected(expected, digests)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        self._commit(tmp, digests.sha256)
        return digests

    def _commit(self, tmp: Path, sha256: str) -> None:
        target = self.path(sha256)
        if target.exists():
            tmp.unlink()
            return
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp, target)
        _fsync_dir(target.parent)


def check_expected(expected: Mapping[str, str], actual: Digests) -> None:
    """Raise `ChecksumMismatch` unless every announced checksum equals the computed one."""
    computed = actual.as_dict()
    for kind, value in expected.items():
        if value.strip().lower() != computed[kind]:
            raise ChecksumMismatch(expected, actual)


def _write_and_hash(fd: int, stream: Readable) -> Digests:
    def write_all(block: memoryview) -> None:
        while block:
            written = os.write(fd, block)
            block = block[written:]

    return digest_stream(stream, write_all)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
