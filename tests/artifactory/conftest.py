"""Fixtures for the Artifactory client's unit tests: instant retries, one client, its log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stamina

from ml_artifactory_action.artifactory.client import ArtifactoryClient, build_http_client

PLATFORM = "https://acme.jfrog.io"
ARTIFACTORY = f"{PLATFORM}/artifactory"


@pytest.fixture(autouse=True)
def instant_retries() -> Iterator[None]:
    """stamina's test mode: no waiting between attempts, but the policy's own number of attempts."""
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
def client_log() -> list[str]:
    return []


@pytest.fixture
def client(client_log: list[str]) -> Iterator[ArtifactoryClient]:
    http = build_http_client()
    yield ArtifactoryClient(PLATFORM, http, log=client_log.append)
    http.close()
