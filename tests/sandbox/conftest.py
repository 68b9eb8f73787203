"""Fixtures: a fresh sandbox per test on a free port, and httpx clients for its kinds of caller.

def test_x(sandbox, admin):
    admin.put("/artifactory/ml-models-dev-local/a.bin", content=b"...")
"""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox

READ_ONLY_TOKEN = "read-only-token-for-tests"
DEV_REPO = "ml-models-dev-local"


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path / "sandbox-data", read_only_token=READ_ONLY_TOKEN) as handle:
        yield handle


def _client(sandbox: SandboxHandle, headers: dict[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
def admin(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    yield from _client(sandbox, {"Authorization": f"Bearer {sandbox.admin_token}"})


@pytest.fixture
def reader(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    yield from _client(sandbox, {"Authorization": f"Bearer {READ_ONLY_TOKEN}"})


@pytest.fixture
def anonymous(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    yield from _client(sandbox, {})


def checksums(data: bytes) -> dict[str, str]:
    """sha1, md5 and sha256 hex digests, as the server reports them."""
    return {kind: hashlib.new(kind, data, usedforsecurity=False).hexdigest() for kind in ("sha1", "md5", "sha256")}


def errors(response: httpx.Response) -> list[tuple[int, str]]:
    """The (status, message) pairs of a JFrog error envelope."""
    return [(e["status"], e["message"]) for e in response.json()["errors"]]


def raw_exchange(url: str, request: bytes, read_timeout: float = 5.0) -> bytes:
    """Send bytes exactly as given (no client-side path normalisation); return the raw answer."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80)) as sock:
        sock.sendall(request)
        sock.settimeout(read_timeout)
        return _read_response(sock)


def _read_response(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        chunks.append(chunk)
        if _complete(b"".join(chunks)):
            break
    return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return head.startswith(b"HTTP/1.1 1")


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def item_exists(admin: httpx.Client, repo: str, path: str) -> bool:
    return admin.get(f"/artifactory/api/storage/{repo}/{path}").status_code == 200
