"""SQLite metadata: WAL, one connection per thread, `BEGIN IMMEDIATE` write transactions.

The schema is the one in docs/dev/sandbox-contract.md; handler modules query it directly.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUSY_TIMEOUT_S = 30.0  # writers queue behind one another; a 2 GiB ingest never holds a lock
MAX_IDLE_CONNECTIONS = 16  # enough for the server's concurrent requests on 2 cores

SCHEMA = """
CREATE TABLE IF NOT EXISTS repos(
    key TEXT PRIMARY KEY, rclass TEXT, package_type TEXT, config TEXT, created TEXT);
CREATE TABLE IF NOT EXISTS binaries(
    sha256 TEXT PRIMARY KEY, sha1 TEXT, md5 TEXT, size INTEGER);
CREATE INDEX IF NOT EXISTS binaries_sha1 ON binaries(sha1);
CREATE INDEX IF NOT EXISTS binaries_md5 ON binaries(md5);
CREATE TABLE IF NOT EXISTS items(
    id INTEGER PRIMARY KEY, repo TEXT, path TEXT, name TEXT, type TEXT,
    size INTEGER, sha256 TEXT, sha1 TEXT, md5 TEXT,
    created TEXT, created_by TEXT, modified TEXT, modified_by TEXT, updated TEXT,
    original_sha1 TEXT, original_md5 TEXT, original_sha256 TEXT,
    UNIQUE(repo, path, name));
CREATE INDEX IF NOT EXISTS items_repo_path ON items(repo, path);
CREATE INDEX IF NOT EXISTS items_sha1 ON items(sha1);
CREATE INDEX IF NOT EXISTS items_sha256 ON items(sha256);
CREATE TABLE IF NOT EXISTS properties(
    item_id INTEGER REFERENCES items(id) ON DELETE CASCADE, key TEXT, value TEXT,
    UNIQUE(item_id, key, value));
CREATE INDEX IF NOT EXISTS properties_key_value ON properties(key, value);
CREATE TABLE IF NOT EXISTS downloads(
    item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
    count INTEGER, last_downloaded TEXT, last_downloaded_by TEXT);
CREATE TABLE IF NOT EXISTS builds(
    id INTEGER PRIMARY KEY, name TEXT, number TEXT, started TEXT, project TEXT,
    info TEXT, created TEXT, UNIQUE(project, name, number));
CREATE TABLE IF NOT EXISTS build_artifacts(
    build_id INTEGER REFERENCES builds(id) ON DELETE CASCADE, module TEXT,
    name TEXT, type TEXT, sha1 TEXT, sha256 TEXT, md5 TEXT, path TEXT);
CREATE INDEX IF NOT EXISTS build_artifacts_sha1 ON build_artifacts(sha1);
CREATE TABLE IF NOT EXISTS build_dependencies(
    build_id INTEGER REFERENCES builds(id) ON DELETE CASCADE, module TEXT,
    id_ TEXT, type TEXT, sha1 TEXT, sha256 TEXT, md5 TEXT);
CREATE TABLE IF NOT EXISTS build_statuses(
    build_id INTEGER REFERENCES builds(id) ON DELETE CASCADE, status TEXT,
    comment TEXT, repository TEXT, timestamp TEXT, user TEXT, ci_user TEXT);
CREATE TABLE IF NOT EXISTS tokens(
    token_id TEXT PRIMARY KEY, token_hash TEXT UNIQUE, subject TEXT, scope TEXT,
    expires_at INTEGER NULL, created TEXT);
"""


class Database:
    """Hands each transaction a pooled connection; a nested `tx()` joins the thread's open one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        conn = self._open()
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        self._release(conn)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives process kills
        return conn

    def _acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (`BEGIN IMMEDIATE`), committed on success, rolled back on error."""
        with self._transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for several queries (never write in it)."""
        with self._transaction("BEGIN") as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        current: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        conn = self._acquire()
        self._local.conn = conn
        try:
            yield from _run_transaction(conn, begin)
        finally:
            self._local.conn = None
            self._release(conn)

    def close(self) -> None:
        """Close the pooled connections (call after all request threads have finished)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _run_transaction(conn: sqlite3.Connection, begin: str) -> Iterator[sqlite3.Connection]:
    conn.execute(begin)
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
