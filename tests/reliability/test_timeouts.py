"""A server slower than the client's timeouts: the request is retried, then fails with a clear error.

The action's own timeouts are long (a big upload's answer comes once the server has stored it),
so these tests give the real client short ones and point it at the sandbox's `delay` faults.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle
from ml_artifactory_action.artifactory.auth import BearerAuth
from ml_artifactory_action.artifactory.client import ArtifactoryClient, build_http_client
from ml_artifactory_action.artifactory.retry import RetryPolicy
from ml_artifactory_action.errors import ArtifactoryError
from tests.reliability.registry import Registry

PING = "api/system/ping"
QUICK_RETRIES = RetryPolicy(attempts=3, total_seconds=30, wait_initial=0.01, wait_max=0.01)


@contextmanager
def client_with_timeout(sandbox: SandboxHandle, read_timeout: float, log: list[str]) -> Iterator[ArtifactoryClient]:
    with build_http_client(auth=BearerAuth(sandbox.admin_token)) as http:
        http.timeout = httpx.Timeout(read_timeout, connect=5.0)
        yield ArtifactoryClient(sandbox.url, http, policy=QUICK_RETRIES, log=log.append)


def test_a_slow_answer_within_the_timeout_is_waited_for(sandbox: SandboxHandle) -> None:
    Registry(sandbox).fault(method="GET", path=PING, delay=1.0)
    log: list[str] = []

    with client_with_timeout(sandbox, 3.0, log) as client:
        response = client.request("GET", PING, action="Pinging")

    assert response.text == "OK"
    assert log == []


@pytest.mark.parametrize("fault", [{"delay": 1.0}, {"body_delay": 1.0}], ids=["first-byte", "body"])
def test_an_answer_slower_than_the_timeout_is_retried_then_fails_cleanly(
    fault: dict[str, float], sandbox: SandboxHandle
) -> None:
    registry = Registry(sandbox)
    registry.fault(method="GET", path=PING, count=3, **fault)
    log: list[str] = []
    with client_with_timeout(sandbox, 0.3, log) as client, pytest.raises(ArtifactoryError) as caught:
        client.request("GET", PING, action="Pinging")

    url = f"{sandbox.url}/artifactory/{PING}"
    assert caught.value.message == f"Pinging: GET {url} failed: ReadTimeout('timed out')"
    assert caught.value.fix.startswith("Check url (or JF_URL): the server must be reachable from the runner")
    assert log == [f"Retrying GET {url} after ReadTimeout"] * 2  # three attempts: two retries
    assert [f["hits"] for f in registry.faults()] == [3]


def test_an_answer_slower_than_the_timeout_once_is_retried_and_succeeds(sandbox: SandboxHandle) -> None:
    Registry(sandbox).fault(method="GET", path=PING, delay=1.0)
    log: list[str] = []

    with client_with_timeout(sandbox, 0.3, log) as client:
        response = client.request("GET", PING, action="Pinging")

    assert response.text == "OK"
    assert log == [f"Retrying GET {sandbox.url}/artifactory/{PING} after ReadTimeout"]
