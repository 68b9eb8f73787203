"""Dependencies get the sha1/md5 of the file Artifactory holds with their sha256, so the sandbox
(which, as Artifactory, links build dependencies to stored files by sha1) links them."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from ml_artifactory_action.artifactory.builds import publish_build
from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.search import aql
from ml_artifactory_action.buildinfo.dependency_links import unlinked, with_artifactory_checksums
from ml_artifactory_action.buildinfo.document import BuildInfoInput, build_info_document
from ml_artifactory_action.model.dependencies import Dependency

WHEEL = b"PK\x03\x04 a wheel of numpy"  # what a PyPI remote repository would have cached
CACHE = "ml-models-dev-local"  # stands in for the PyPI remote's cache
STARTED = dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path / "sandbox") as handle:
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[ArtifactoryClient]:
    with httpx.Client(headers={"Authorization": f"Bearer {sandbox.admin_token}"}) as http:
        http.put(f"{sandbox.artifactory_url}/{CACHE}/numpy/numpy-1.26.4.whl", content=WHEEL).raise_for_status()
        yield ArtifactoryClient(sandbox.url, http)


def digest(kind: str) -> str:
    return hashlib.new(kind, WHEEL, usedforsecurity=False).hexdigest()


def linked_items(client: ArtifactoryClient, build: str) -> list[str]:
    query = f'items.find({{"dependency.module.build.name":"{build}"}}).include("repo","path","name")'
    return [row["name"] for row in aql(client, query)]


def publish(client: ArtifactoryClient, build: str, dependencies: list[Dependency]) -> None:
    data = BuildInfoInput(build, "1", f"{build}:1", STARTED, "", (), dependencies, None, {})
    publish_build(client, build_info_document(data, now=STARTED, in_ci=False), "")


def test_a_dependency_artifactory_holds_is_linked_and_one_it_does_not_is_told(client: ArtifactoryClient) -> None:
    numpy = Dependency("numpy", "1.26.4", digest("sha256").upper())  # lock files may write upper case
    elsewhere = Dependency("six", "1.16.0", "f" * 64)
    unhashed = Dependency("torch", "2.3.0")

    found = with_artifactory_checksums(client, [numpy, elsewhere, unhashed])

    assert found[0] == Dependency("numpy", "1.26.4", numpy.sha256, digest("sha1"), digest("md5"))
    assert found[1:] == [elsewhere, unhashed]
    assert unlinked(found) == [elsewhere, unhashed]
    publish(client, "linked", found)
    publish(client, "sha256-only", [numpy])  # what was sent before: Artifactory cannot link it
    assert linked_items(client, "linked") == ["numpy-1.26.4.whl"]
    assert linked_items(client, "sha256-only") == []


def test_nothing_to_look_up_sends_nothing() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(599))
    with httpx.Client(transport=transport) as http:
        client = ArtifactoryClient("https://acme.jfrog.io", http)
        assert with_artifactory_checksums(client, [Dependency("six")]) == [Dependency("six")]
