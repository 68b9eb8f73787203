"""The HTTP layer: system endpoints, headers, unknown routes and methods, body framing."""

from __future__ import annotations

import re
import socket

import httpx
import pytest
from tests.sandbox.conftest import DEV_REPO, errors, raw_exchange, status_of

from artifactory_sandbox.app import Sandbox
from artifactory_sandbox.http import Request, Response, Route
from artifactory_sandbox.testing import SandboxHandle


def test_ping_answers_ok_without_credentials(anonymous: httpx.Client) -> None:
    response = anonymous.get("/artifactory/api/system/ping")
    assert (response.status_code, response.text) == (200, "OK")
    assert response.headers["content-type"].startswith("text/plain")


def test_every_answer_names_artifactory(anonymous: httpx.Client) -> None:
    headers = anonymous.get("/artifactory/api/system/ping").headers
    assert headers["server"].startswith("Artifactory/7.")
    assert headers["x-jfrog-version"].startswith("Artifactory/7.")
    assert re.fullmatch(r"[0-9a-f]{40}", headers["x-artifactory-id"])


def test_version_and_readiness(admin: httpx.Client, anonymous: httpx.Client) -> None:
    version = admin.get("/artifactory/api/system/version").json()
    assert version["version"].startswith("7.")
    assert {"revision", "addons", "license"} <= set(version)
    assert anonymous.get("/artifactory/api/v1/system/readiness").json() == {"code": "OK"}
    assert anonymous.get("/access/api/v1/system/ping").status_code == 200


def test_multipart_upload_is_reported_unsupported(admin: httpx.Client) -> None:
    assert admin.get("/artifactory/api/v1/uploads/config").json() == {"supported": False}


def test_unknown_api_path_is_404_envelope(admin: httpx.Client) -> None:
    response = admin.get("/nothing/here")
    assert errors(response) == [(404, "Not Found")]


def test_unsupported_method_is_405(admin: httpx.Client) -> None:
    response = admin.request("PATCH", "/artifactory/api/system/ping")
    assert response.status_code == 405
    assert errors(response)[0][0] == 405


def test_malformed_json_is_400(admin: httpx.Client) -> None:
    response = admin.put(
        "/artifactory/api/repositories/new-local",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert errors(response)[0][1].startswith("Failed to parse JSON body")
    assert admin.get("/artifactory/api/repositories/new-local").status_code == 400


@pytest.mark.parametrize("length", ["abc", "-5", "1 2"])
def test_invalid_content_length_is_400_and_closes(sandbox: SandboxHandle, length: str) -> None:
    request = (
        f"PUT /artifactory/{DEV_REPO}/x.bin HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {sandbox.admin_token}\r\nContent-Length: {length}\r\n\r\nxyz"
    ).encode()
    answer = raw_exchange(sandbox.url, request)
    assert status_of(answer) == 400
    assert b"Invalid Content-Length header" in answer
    assert b"Connection: close" in answer


def test_chunked_upload_is_stored_whole(admin: httpx.Client) -> None:
    blocks = [b"a" * 70_000, b"b" * 3, b"c" * 1_200_000]
    response = admin.put(f"/artifactory/{DEV_REPO}/chunked.bin", content=iter(blocks))
    assert response.status_code == 201
    assert admin.get(f"/artifactory/{DEV_REPO}/chunked.bin").content == b"".join(blocks)


def test_keep_alive_serves_several_requests_on_one_connection(admin: httpx.Client) -> None:
    for index in range(3):
        admin.put(f"/artifactory/{DEV_REPO}/k{index}.txt", content=b"x" * index)
    assert admin.get(f"/artifactory/{DEV_REPO}/k2.txt").content == b"xx"


def test_expect_continue_refused_before_the_body_is_sent(sandbox: SandboxHandle) -> None:
    request = (
        f"PUT /artifactory/{DEV_REPO}/big.bin HTTP/1.1\r\nHost: x\r\n"
        "Content-Length: 1000000\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    answer = raw_exchange(sandbox.url, request)
    assert status_of(answer) == 401
    assert b"100 Continue" not in answer
    assert b"Connection: close" in answer


def test_expect_continue_accepted_then_stored(sandbox: SandboxHandle, admin: httpx.Client) -> None:
    head = (
        f"PUT /artifactory/{DEV_REPO}/ok.bin HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {sandbox.admin_token}\r\n"
        "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    port = int(sandbox.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head)
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"hello")
        assert status_of(sock.recv(65536)) == 201
    assert admin.get(f"/artifactory/{DEV_REPO}/ok.bin").content == b"hello"


def test_handler_bug_answers_500_envelope(
    sandbox: SandboxHandle, admin: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(req: Request, ctx: Sandbox) -> Response:
        raise RuntimeError("bug in a handler")

    sandbox.server.router.routes.insert(0, Route("GET", "/broken", broken))
    response = admin.get("/broken")
    assert errors(response) == [(500, "Internal Server Error")]
    assert "bug in a handler" in capsys.readouterr().err
