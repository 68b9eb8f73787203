"""Access tokens over HTTP: create (admin, user, read-only scope), use, revoke."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path_factory.mktemp("access")) as handle:
        yield handle


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def create(sandbox: SandboxHandle, token: str | None = None, **body: object) -> httpx.Response:
    return httpx.post(f"{sandbox.url}/access/api/v1/tokens", json=body,
                      headers=bearer(token or sandbox.admin_token))  # fmt: skip


def can_deploy(sandbox: SandboxHandle, token: str, name: str) -> int:
    url = f"{sandbox.artifactory_url}/ml-models-dev-local/access-test/{name}"
    return httpx.put(url, content=b"x", headers=bearer(token)).status_code


def test_admin_creates_a_user_token_with_the_real_body(sandbox: SandboxHandle) -> None:
    response = create(sandbox, scope="applied-permissions/user", expires_in=600, username="alice")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token_id", "access_token", "expires_in", "scope", "token_type"}
    assert (body["expires_in"], body["scope"], body["token_type"]) == (600, "applied-permissions/user", "Bearer")
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"].rsplit("/", 1)[-1] == "alice"
    assert claims["jti"] == body["token_id"]
    assert can_deploy(sandbox, body["access_token"], "by-alice.bin") == 201


def test_frogml_style_request_defaults(sandbox: SandboxHandle) -> None:
    body = create(sandbox, scope="applied-permissions/user", expires_in=2592000,
                  description="Token generated for JFrog AI/ML").json()  # fmt: skip
    assert body["expires_in"] == 2592000
    assert jwt.decode(body["access_token"], options={"verify_signature": False})["sub"].endswith("/users/admin")


def test_read_only_group_token_cannot_write(sandbox: SandboxHandle) -> None:
    token = create(sandbox, scope="applied-permissions/groups:readers").json()["access_token"]
    assert can_deploy(sandbox, token, "by-reader.bin") == 403
    listing = httpx.get(f"{sandbox.artifactory_url}/api/repositories", headers=bearer(token))
    assert listing.status_code == 200


def test_refreshable_and_reference_token_fields(sandbox: SandboxHandle) -> None:
    body = create(sandbox, refreshable=True, include_reference_token=True).json()
    assert {"refresh_token", "reference_token"} <= body.keys()


def test_invalid_scope_is_400(sandbox: SandboxHandle) -> None:
    response = create(sandbox, scope="everything")
    assert response.status_code == 400
    assert response.json() == {"errors": [{"code": "BAD_REQUEST", "message": "Invalid scope: 'everything'"}]}


def test_user_cannot_mint_admin_or_other_users_tokens(sandbox: SandboxHandle) -> None:
    user_token = create(sandbox, username="bob").json()["access_token"]
    for body in ({"scope": "applied-permissions/admin"}, {"username": "carol"}):
        response = create(sandbox, user_token, **body)
        assert response.status_code == 403
        assert response.json()["errors"][0]["code"] == "FORBIDDEN"
    assert create(sandbox, user_token, expires_in=60).status_code == 200


def test_revoke_by_id_then_again(sandbox: SandboxHandle) -> None:
    body = create(sandbox, username="dave").json()
    url = f"{sandbox.url}/access/api/v1/tokens/{body['token_id']}"
    assert httpx.delete(url, headers=bearer(sandbox.admin_token)).status_code == 200
    assert can_deploy(sandbox, body["access_token"], "revoked.bin") == 401
    assert httpx.delete(url, headers=bearer(sandbox.admin_token)).status_code == 204


def test_revoke_me_and_unknown_ids(sandbox: SandboxHandle) -> None:
    token = create(sandbox, username="erin").json()["access_token"]
    assert httpx.delete(f"{sandbox.url}/access/api/v1/tokens/me", headers=bearer(token)).status_code == 200
    missing = httpx.delete(f"{sandbox.url}/access/api/v1/tokens/nope", headers=bearer(sandbox.admin_token))
    assert missing.status_code == 404
    assert missing.json() == {"errors": [{"code": "NOT_FOUND", "message": "Token with id 'nope' not found"}]}


def test_unauthenticated_creation_is_refused(sandbox: SandboxHandle) -> None:
    assert httpx.post(f"{sandbox.url}/access/api/v1/tokens", json={}).status_code == 401
