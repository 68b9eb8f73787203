"""Streaming downloads: fixed-size blocks to a temporary file, sha256 checked, then renamed.

Redirects to a signed storage URL are followed (the client decides which credentials go along).

A download that fails or does not match the checksum Artifactory recorded leaves nothing at the
destination. A file already there with the right sha256 is not downloaded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import httpx

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.http_errors import raise_for_jfrog, safe_url
from ml_artifactory_action.artifactory.models import Item
from ml_artifactory_action.artifactory.retry import TransientHTTPError, attempts, is_transient_status
from ml_artifactory_action.errors import ArtifactoryError, IntegrityError

BLOCK_SIZE = 1024 * 1024
PART_SUFFIX = ".part"


def item_url(client: ArtifactoryClient, item: Item) -> str:
    return client.url("artifactory", f"{quote(item.repo)}/{quote(item.repo_path)}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(BLOCK_SIZE):
            digest.update(block)
    return digest.hexdigest()


def is_current(destination: Path, item: Item) -> bool:
    """True when `destination` already holds exactly this item's content."""
    return (
        destination.is_file()
        and destination.stat().st_size == item.size
        and bool(item.sha256)
        and file_sha256(destination) == item.sha256
    )


def download_item(
    client: ArtifactoryClient, item: Item, destination: Path, *, progress: Callable[[int], None] = lambda _n: None
) -> int:
    """Download one file to `destination`, verifying its sha256; return the bytes received."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    url = item_url(client, item)
    try:
        for attempt in attempts(client.policy, lambda _exc: None):
            with attempt:
                return _download_once(client, url, item, destination, progress)
    except TransientHTTPError as exc:
        raise_for_jfrog(exc.response, action="Downloading the model")
    except httpx.TransportError as exc:
        raise ArtifactoryError(
            f"Downloading {safe_url(url)} failed: {exc!r}", fix="Check that the server is reachable; re-run the step."
        ) from None
    raise AssertionError("unreachable: stamina either returns or raises")  # pragma: no cover


def _download_once(
    client: ArtifactoryClient, url: str, item: Item, destination: Path, progress: Callable[[int], None]
) -> int:
    handle, temp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=PART_SUFFIX, dir=destination.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            received, sha256 = _stream_to(client, url, out, progress)
        _check(item, received, sha256, url)
        temp.replace(destination)
        return received
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _stream_to(client: ArtifactoryClient, url: str, out: BinaryIO, progress: Callable[[int], None]) -> tuple[int, str]:
    """Write the body to `out` block by block; transient failures propagate to be retried."""
    digest = hashlib.sha256()
    received = 0
    with client.download_stream(url) as response:
        if not response.is_success:
            response.read()
            if is_transient_status(response.status_code):
                raise TransientHTTPError(response)
            raise_for_jfrog(response, action="Downloading the model")
        for block in response.iter_bytes(BLOCK_SIZE):
            digest.update(block)
            out.write(block)
            received += len(block)
            progress(len(block))
    return received, digest.hexdigest()


def _check(item: Item, received: int, sha256: str, url: str) -> None:
    if item.sha256 and sha256 != item.sha256:
        raise IntegrityError(
            f"{safe_url(url)} arrived with sha256 {sha256} ({received} bytes) but Artifactory records "
            f"{item.sha256} ({item.size} bytes); the file was not kept.",
            fix="Re-run the step; if it persists, a proxy is altering downloads or the stored file is damaged.",
        )
