"""Credentials: Bearer, Basic with a token as password, X-JFrog-Art-Api, stored Access tokens."""

from __future__ import annotations

import time

import httpx
import pytest
from tests.sandbox.conftest import DEV_REPO, READ_ONLY_TOKEN, errors, item_exists

from artifactory_sandbox.auth import token_hash
from artifactory_sandbox.testing import SandboxHandle

REPOS = "/artifactory/api/repositories"


def _get(sandbox: SandboxHandle, **kwargs: object) -> httpx.Response:
    return httpx.get(f"{sandbox.url}{REPOS}", **kwargs)  # type: ignore[arg-type]


def test_bearer_admin_token(sandbox: SandboxHandle) -> None:
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    assert _get(sandbox, headers=headers).status_code == 200


def test_basic_with_token_as_password_for_any_user(sandbox: SandboxHandle) -> None:
    assert _get(sandbox, auth=("admin", sandbox.admin_token)).status_code == 200
    assert _get(sandbox, auth=("ci-bot", sandbox.admin_token)).status_code == 200


def test_basic_user_is_recorded_as_creator(sandbox: SandboxHandle, admin: httpx.Client) -> None:
    url = f"{sandbox.url}/artifactory/{DEV_REPO}/by-bot.txt"
    created = httpx.put(url, content=b"x", auth=("ci-bot", sandbox.admin_token))
    assert created.json()["createdBy"] == "ci-bot"


def test_api_key_header(sandbox: SandboxHandle) -> None:
    assert _get(sandbox, headers={"X-JFrog-Art-Api": sandbox.admin_token}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic bm90LWJhc2U2NA=="},  # "not-base64" has no colon
        {"Authorization": "Basic !!!"},
        {"Authorization": "Digest abc"},
        {"X-JFrog-Art-Api": "wrong"},
    ],
)
def test_wrong_credentials_are_401_bad_credentials(sandbox: SandboxHandle, headers: dict[str, str]) -> None:
    response = _get(sandbox, headers=headers)
    assert errors(response) == [(401, "Bad credentials")]
    assert response.headers["www-authenticate"].startswith("Basic")


def test_wrong_credentials_rejected_even_where_anonymous_is_allowed(sandbox: SandboxHandle) -> None:
    response = httpx.get(f"{sandbox.url}/artifactory/api/system/ping", auth=("admin", "nope"))
    assert errors(response) == [(401, "Bad credentials")]


def test_no_credentials_is_401_authentication_required(anonymous: httpx.Client) -> None:
    assert errors(anonymous.get(REPOS)) == [(401, "Authentication is required")]
    assert errors(anonymous.get(f"/artifactory/{DEV_REPO}/x")) == [(401, "Authentication is required")]


def test_read_only_token_reads_but_cannot_deploy(reader: httpx.Client) -> None:
    assert reader.get(REPOS).status_code == 200
    response = reader.put(f"/artifactory/{DEV_REPO}/a/model.bin", content=b"weights")
    assert errors(response) == [
        (403, f"User reader is not permitted to deploy 'a/model.bin' into '{DEV_REPO}:a/model.bin'.")
    ]


def test_read_only_token_cannot_change_anything(reader: httpx.Client, admin: httpx.Client) -> None:
    admin.put(f"/artifactory/{DEV_REPO}/keep.txt", content=b"x")
    refused = [
        reader.delete(f"/artifactory/{DEV_REPO}/keep.txt"),
        reader.put(f"/artifactory/api/storage/{DEV_REPO}/keep.txt?properties=a=1"),
        reader.post(f"/artifactory/api/copy/{DEV_REPO}/keep.txt?to=/{DEV_REPO}/copy.txt"),
        reader.put(f"{REPOS}/other-local", json={"rclass": "local"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    assert item_exists(admin, DEV_REPO, "keep.txt")
    assert not item_exists(admin, DEV_REPO, "copy.txt")


def _store_token(sandbox: SandboxHandle, token: str, scope: str, expires_at: int | None) -> None:
    with sandbox.ctx.db.tx() as conn:
        conn.execute(
            "INSERT INTO tokens(token_id, token_hash, subject, scope, expires_at, created) VALUES (?, ?, ?, ?, ?, ?)",
            (
                f"id-{token}",
                token_hash(token),
                "jfac@01sandbox/users/alice",
                scope,
                expires_at,
                "2025-01-01T00:00:00.000Z",
            ),
        )


def test_stored_user_token_may_deploy_as_its_user(sandbox: SandboxHandle) -> None:
    _store_token(sandbox, "t.user.sig", "applied-permissions/user", int(time.time()) + 60)
    response = httpx.put(
        f"{sandbox.url}/artifactory/{DEV_REPO}/alice.txt",
        content=b"a",
        headers={"Authorization": "Bearer t.user.sig"},
    )
    assert (response.status_code, response.json()["createdBy"]) == (201, "alice")


def test_stored_reader_token_gets_403_on_deploy(sandbox: SandboxHandle) -> None:
    _store_token(sandbox, "t.read.sig", "applied-permissions/groups:readers", None)
    response = httpx.put(
        f"{sandbox.url}/artifactory/{DEV_REPO}/x.txt",
        content=b"a",
        headers={"Authorization": "Bearer t.read.sig"},
    )
    assert errors(response) == [(403, f"User token:alice is not permitted to deploy 'x.txt' into '{DEV_REPO}:x.txt'.")]


def test_expired_stored_token_is_bad_credentials(sandbox: SandboxHandle) -> None:
    _store_token(sandbox, "t.old.sig", "applied-permissions/admin", int(time.time()) - 1)
    response = _get(sandbox, headers={"Authorization": "Bearer t.old.sig"})
    assert errors(response) == [(401, "Bad credentials")]


def test_admin_endpoints_refuse_non_admin_tokens(sandbox: SandboxHandle) -> None:
    _store_token(sandbox, "t.user2.sig", "applied-permissions/user", None)
    headers = {"Authorization": "Bearer t.user2.sig"}
    assert httpx.get(f"{sandbox.url}/_sandbox/faults", headers=headers).status_code == 403
    readers = {"Authorization": f"Bearer {READ_ONLY_TOKEN}"}
    assert httpx.get(f"{sandbox.url}/_sandbox/requests", headers=readers).status_code == 403
