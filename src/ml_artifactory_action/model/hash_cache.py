"""A local cache of file checksums, so an unchanged file is not hashed again on the next run.

A file's entry is trusted only while its real path, size, mtime, ctime, inode and device are all
unchanged (what git's index and rsync rely on; ctime cannot be set back by `touch`). The cache is
one small JSON file, written atomically with an ordinary file's mode (it is not secret: paths and
checksums), and given to the workspace's owner when a Docker action writes it as root; a missing or
unreadable cache is simply empty.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ml_artifactory_action.handover import Handover

CACHE_FILE = "hash-cache.json"
CACHE_VERSION = 1
# Enough for many models' files; the oldest entries are dropped beyond it.
MAX_ENTRIES = 20_000


@dataclass(frozen=True)
class FileKey:
    """What identifies one version of a file on this machine."""

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int

    @classmethod
    def of(cls, path: Path) -> FileKey:
        real = path.resolve()
        st = real.stat()
        return cls(str(real), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


class HashCache:
    """sha256 by FileKey; `folder=None` keeps it in memory only (nothing is remembered)."""

    def __init__(self, folder: Path | None, handover: Handover | None = None) -> None:
        self._file = folder / CACHE_FILE if folder is not None else None
        self._handover = handover or Handover.for_workspace(None)
        self._entries: dict[str, dict[str, Any]] = self._load()
        self._lock = threading.Lock()
        self._changed = False

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._file is None or not self._file.is_file():
            return {}
        try:
            data = json.loads(self._file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # a damaged cache costs one re-hash, never a wrong answer
        if not isinstance(data, dict) or data.get("version") != CACHE_VERSION:
            return {}
        entries = data.get("entries")
        return entries if isinstance(entries, dict) else {}

    def get(self, key: FileKey) -> str | None:
        with self._lock:
            entry = self._entries.get(key.path)
        if entry is None or entry.get("key") != asdict(key):
            return None
        sha256 = entry.get("sha256")
        return sha256 if isinstance(sha256, str) and len(sha256) == 64 else None

    def put(self, key: FileKey, sha256: str) -> None:
        with self._lock:
            self._entries.pop(key.path, None)  # re-inserted last: the dict's order is the age
            self._entries[key.path] = {"key": asdict(key), "sha256": sha256}
            self._changed = True

    def save(self) -> None:
        """Write the cache if anything changed (atomically: a crash leaves the old one)."""
        if self._file is None or not self._changed:
            return
        with self._lock:
            entries = dict(list(self._entries.items())[-MAX_ENTRIES:])
        self._handover.make_folders(self._file.parent)
        fd, tmp = tempfile.mkstemp(prefix=".hash-cache-", dir=self._file.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"version": CACHE_VERSION, "entries": entries}, handle)
        self._handover.file(Path(tmp))
        Path(tmp).replace(self._file)
        self._changed = False
