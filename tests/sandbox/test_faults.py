"""Fault injection (`/_sandbox/faults`) and the request log (`/_sandbox/requests`)."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.sandbox.conftest import DEV_REPO, checksums, errors, item_exists

FAULTS = "/_sandbox/faults"


def add(admin: httpx.Client, **spec: object) -> dict[str, object]:
    response = admin.post(FAULTS, json=spec)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_status_fault_answers_the_envelope_count_times(admin: httpx.Client) -> None:
    add(admin, method="PUT", path=r"\.bin$", status=503, retry_after=2, count=2)
    first = admin.put(f"/artifactory/{DEV_REPO}/a.bin", content=b"a")
    second = admin.put(f"/artifactory/{DEV_REPO}/a.bin", content=b"a")
    third = admin.put(f"/artifactory/{DEV_REPO}/a.bin", content=b"a")
    assert errors(first) == [(503, "Injected fault 1")]
    assert first.headers["retry-after"] == "2"
    assert second.status_code == 503
    assert third.status_code == 201


def test_faults_match_method_and_path(admin: httpx.Client) -> None:
    add(admin, method="GET", path="/api/system/version", status=500, message="boom")
    assert admin.put(f"/artifactory/{DEV_REPO}/v.txt", content=b"v").status_code == 201
    assert errors(admin.get("/artifactory/api/system/version")) == [(500, "boom")]


def test_listing_shows_remaining_and_hits(admin: httpx.Client) -> None:
    add(admin, path="ping", status=429, count=3)
    admin.get("/artifactory/api/system/ping")
    listed = admin.get(FAULTS).json()
    assert listed == [{"id": 1, "path": "ping", "count": 3, "status": 429, "hits": 1, "remaining": 2, "active": True}]


def test_clearing_faults(admin: httpx.Client) -> None:
    add(admin, path="ping", status=500, count=5)
    assert admin.delete(FAULTS).status_code == 204
    assert admin.get(FAULTS).json() == []
    assert admin.get("/artifactory/api/system/ping").status_code == 200


def test_reset_after_bytes_cuts_the_upload_and_stores_nothing(admin: httpx.Client) -> None:
    add(admin, method="PUT", path="cut.bin", reset_after_bytes=1_048_576)
    with pytest.raises(httpx.TransportError):
        admin.put(f"/artifactory/{DEV_REPO}/cut.bin", content=b"x" * 5_000_000)
    entry = [e for e in admin.get("/_sandbox/requests").json() if e["path"].endswith("cut.bin")]
    assert (entry[0]["status"], entry[0]["fault"]) == (0, 1)
    assert entry[0]["bytes_received"] == 1_048_576
    assert not item_exists(admin, DEV_REPO, "cut.bin")
    assert admin.put(f"/artifactory/{DEV_REPO}/cut.bin", content=b"x").status_code == 201


def test_delay_then_normal_answer(admin: httpx.Client) -> None:
    add(admin, path="ping", delay=0.3)
    started = time.monotonic()
    response = admin.get("/artifactory/api/system/ping")
    assert response.text == "OK"
    assert time.monotonic() - started >= 0.3


def test_body_delay_trips_a_read_timeout(sandbox_url: str, admin: httpx.Client) -> None:
    add(admin, path="ping", body_delay=1.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{sandbox_url}/artifactory/api/system/ping", timeout=httpx.Timeout(5, read=0.2))


@pytest.fixture
def sandbox_url(admin: httpx.Client) -> str:
    return str(admin.base_url).rstrip("/")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"status": 503}, "A fault needs 'path', a regular expression on the request path"),
        ({"path": "x"}, "A fault needs one of status, reset_after_bytes, delay, body_delay"),
        (
            {"path": "(", "status": 500},
            "Invalid path regular expression: missing ), unterminated subpattern at position 0",
        ),
        ({"path": "x", "status": 200}, "Fault field 'status' must be an error status (400-599)"),
        ({"path": "x", "status": 500, "count": -1}, "Fault field 'count' must be a non-negative integer"),
        ({"path": "x", "delay": "soon"}, "Fault field 'delay' must be a non-negative number"),
        ({"path": "x", "status": 500, "colour": "red"}, "Unknown fault fields: colour"),
    ],
)
def test_bad_fault_specs_are_400(admin: httpx.Client, spec: dict[str, object], message: str) -> None:
    assert errors(admin.post(FAULTS, json=spec)) == [(400, message)]
    assert admin.get(FAULTS).json() == []


def test_sandbox_endpoints_are_never_faulted(admin: httpx.Client) -> None:
    add(admin, path=".*", status=500, count=100)
    assert admin.get(FAULTS).status_code == 200
    assert admin.delete(FAULTS).status_code == 204


def test_request_log_records_bytes_received(admin: httpx.Client) -> None:
    admin.delete("/_sandbox/requests")
    admin.put(f"/artifactory/{DEV_REPO}/log.bin;a=1", content=b"z" * 1234)
    admin.get(f"/artifactory/{DEV_REPO}/log.bin?x=1")
    log = admin.get("/_sandbox/requests").json()
    assert [(e["method"], e["path"], e["status"], e["bytes_received"]) for e in log] == [
        ("PUT", f"/artifactory/{DEV_REPO}/log.bin", 201, 1234),
        ("GET", f"/artifactory/{DEV_REPO}/log.bin", 200, 0),
    ]
    assert (log[1]["query"], log[1]["user"]) == ("x=1", "admin")


def test_checksum_deploy_rerun_sends_no_file_bytes(admin: httpx.Client) -> None:
    """The assertion the action's tests make: a re-run deploys by checksum only."""
    data = b"q" * 50_000
    admin.put(f"/artifactory/{DEV_REPO}/q.bin", content=data)
    admin.delete("/_sandbox/requests")
    admin.put(
        f"/artifactory/{DEV_REPO}/q2.bin",
        headers={"X-Checksum-Deploy": "true", "X-Checksum-Sha256": checksums(data)["sha256"]},
    )
    log = admin.get("/_sandbox/requests").json()
    assert [(e["status"], e["bytes_received"]) for e in log] == [(201, 0)]


def test_faults_need_admin(reader: httpx.Client) -> None:
    assert reader.post(FAULTS, json={"path": "x", "status": 500}).status_code == 403
