from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.download import download_item, is_current
from ml_artifactory_action.artifactory.models import Item
from ml_artifactory_action.artifactory.retry import RetryPolicy
from ml_artifactory_action.errors import ArtifactoryError, IntegrityError
from tests.fakes.jfrog import PLATFORM_URL, FakeJFrog

CONTENT = b"model weights " * 100_000  # 1.4 MB: more than one block
ITEM = Item("prod", "fraud/7", "model one.bin", size=len(CONTENT), sha256=hashlib.sha256(CONTENT).hexdigest())
PATH = r"/artifactory/prod/fraud/7/model%20one.bin"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_download_streams_to_the_destination_and_reports_progress(tmp_path: Path) -> None:
    fake = FakeJFrog()
    fake.on("GET", PATH, httpx.Response(200, content=CONTENT))
    progress: list[int] = []
    destination = tmp_path / "out" / "model one.bin"

    received = download_item(fake.client(), ITEM, destination, progress=progress.append)

    assert received == len(CONTENT)
    assert destination.read_bytes() == CONTENT
    assert sum(progress) == len(CONTENT)
    assert leftovers(destination.parent) == ["model one.bin"]
    assert is_current(destination, ITEM)


def test_a_corrupt_download_leaves_nothing_behind(tmp_path: Path) -> None:
    fake = FakeJFrog()
    fake.on("GET", PATH, httpx.Response(200, content=CONTENT[:-1] + b"X"))
    destination = tmp_path / "model one.bin"

    with pytest.raises(IntegrityError) as caught:
        download_item(fake.client(), ITEM, destination)

    assert f"but Artifactory records {ITEM.sha256}" in caught.value.message
    assert leftovers(tmp_path) == []


def test_a_file_already_in_place_is_current_only_with_the_same_content(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(CONTENT)
    assert is_current(path, ITEM)
    path.write_bytes(CONTENT[:-1] + b"X")
    assert not is_current(path, ITEM)
    assert not is_current(tmp_path / "missing", ITEM)


def test_transient_failures_are_retried_and_permanent_ones_are_not(tmp_path: Path) -> None:
    fake = FakeJFrog()
    fake.on("GET", PATH, httpx.Response(503, text="busy"), httpx.Response(200, content=CONTENT))
    client = ArtifactoryClient(
        PLATFORM_URL, httpx.Client(transport=fake.transport), policy=RetryPolicy(attempts=3, wait_initial=0, wait_max=0)
    )

    download_item(client, ITEM, tmp_path / "m.bin")
    assert len(fake.requests) == 2

    gone = FakeJFrog()
    gone.on("GET", PATH, httpx.Response(404, json={"errors": [{"status": 404, "message": "File not found."}]}))
    client = ArtifactoryClient(
        PLATFORM_URL, httpx.Client(transport=gone.transport), policy=RetryPolicy(attempts=3, wait_initial=0, wait_max=0)
    )
    with pytest.raises(ArtifactoryError, match=r"answered 404: File not found."):
        download_item(client, ITEM, tmp_path / "other.bin")
    assert len(gone.requests) == 1
    assert not (tmp_path / "other.bin").exists()


def test_a_connection_failure_names_the_url(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = ArtifactoryClient(
        PLATFORM_URL,
        httpx.Client(transport=httpx.MockTransport(refuse)),
        policy=RetryPolicy(attempts=2, wait_initial=0, wait_max=0),
    )
    with pytest.raises(
        ArtifactoryError, match=r"Downloading https://acme.jfrog.io/artifactory/prod/fraud/7/model%20one.bin failed"
    ):
        download_item(client, ITEM, tmp_path / "m.bin")
    assert leftovers(tmp_path) == []
