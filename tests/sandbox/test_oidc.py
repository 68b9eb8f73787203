"""OIDC token exchange against a running sandbox, with ID tokens from the fake GitHub issuer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from artifactory_sandbox.issuer import IssuerHandle, run_issuer
from artifactory_sandbox.testing import SandboxHandle, SandboxProcess, run_sandbox

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"


@pytest.fixture(scope="module")
def issuer() -> Iterator[IssuerHandle]:
    with run_issuer(repository="acme/models") as handle:
        yield handle


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory, issuer: IssuerHandle) -> Path:
    path = tmp_path_factory.mktemp("oidc") / "oidc.yml"
    issuer.write_oidc_config(path, "github-oidc", {"repository": "acme/models",
                             "ref": "refs/heads/*"}, username="ci-bot", audience="jfrog-github")  # fmt: skip
    return path


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, config_path: Path) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path_factory.mktemp("data"), oidc_config_path=config_path) as handle:
        yield handle


def exchange(sandbox: SandboxHandle, token: str, **extra: Any) -> httpx.Response:
    body = {"grant_type": GRANT, "subject_token_type": ID_TOKEN, "subject_token": token,
            "provider_name": "github-oidc", "provider_type": "GitHub", **extra}  # fmt: skip
    return httpx.post(f"{sandbox.url}/access/api/v1/oidc/token", json=body)


def access_error(response: httpx.Response) -> tuple[int, list[dict[str, str]]]:
    return response.status_code, response.json()["errors"]


def test_exchange_mints_a_working_jwt_access_token(sandbox: SandboxHandle, issuer: IssuerHandle) -> None:
    response = exchange(sandbox, issuer.mint(aud="jfrog-github"), project_key="")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "applied-permissions/user"
    assert body["username"] == "ci-bot"
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "jfac@01sandbox0000000000000000/users/ci-bot"
    assert claims["scp"] == "applied-permissions/user"
    assert claims["exp"] - claims["iat"] == 3600
    assert {"aud", "iss", "jti"} <= claims.keys()
    ping = httpx.get(f"{sandbox.url}/artifactory/api/system/version",
                     headers={"Authorization": f"Bearer {body['access_token']}"})  # fmt: skip
    assert ping.status_code == 200


def test_token_fetched_from_the_issuer_endpoint_exchanges(sandbox: SandboxHandle, issuer: IssuerHandle) -> None:
    fetched = httpx.get(f"{issuer.request_url}&audience=jfrog-github",
                        headers={"Authorization": f"Bearer {issuer.request_token}"})  # fmt: skip
    assert exchange(sandbox, fetched.json()["value"]).status_code == 200


def test_expired_token_is_refused(sandbox: SandboxHandle, issuer: IssuerHandle) -> None:
    old = int(time.time()) - 3600
    response = exchange(sandbox, issuer.mint(aud="jfrog-github", iat=old, nbf=old, exp=old + 300))
    assert access_error(response) == (401, [{"code": "UNAUTHORIZED", "message": "Token expired"}])


def test_wrong_audience_is_refused(sandbox: SandboxHandle, issuer: IssuerHandle) -> None:
    response = exchange(sandbox, issuer.mint(aud="https://github.com/acme"))
    assert access_error(response) == (400, [{"code": "BAD_REQUEST", "message": "Invalid audience"}])


def test_wrong_issuer_is_refused(sandbox: SandboxHandle, issuer: IssuerHandle) -> None:
    response = exchange(sandbox, issuer.mint(aud="jfrog-github", iss="https://evil.example"))
    assert access_error(response) == (400, [{"code": "BAD_REQUEST", "message": "Invalid issuer"}])


def test_token_signed_by_another_key_is_refused(sandbox: SandboxHandle) -> None:
    with run_issuer(repository="acme/models") as stranger:
        forged = stranger.mint(aud="jfrog-github")
    response = exchange(sandbox, forged)
    assert access_error(response) == (400, [{"code": "BAD_REQUEST", "message": "Failed to get public key"}])


def test_tampered_token_fails_signature_check(sandbox: SandboxHandle, issuer: IssuerHandle) -> None:
    header, _, signature = issuer.mint(aud="jfrog-github").split(".")
    claims = issuer.claim_set(aud="jfrog-github", repository="acme/models")
    payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    response = exchange(sandbox, f"{header}.{payload}.{signature}")
    expected = [{"code": "UNAUTHORIZED", "message": "Token signature verification failed"}]
    assert access_error(response) == (401, expected)


def test_claims_matching_no_mapping_are_refused(sandbox: SandboxHandle, issuer: IssuerHandle) -> None:
    response = exchange(sandbox, issuer.mint(aud="jfrog-github", repository="acme/other"))
    expected = [{"code": "UNAUTHORIZED", "message": "Token claims do not match any identity mapping"}]
    assert access_error(response) == (401, expected)


def test_wildcard_claims_match(sandbox: SandboxHandle, issuer: IssuerHandle) -> None:
    response = exchange(sandbox, issuer.mint(aud="jfrog-github", ref="refs/heads/release/2.0"))
    assert response.status_code == 200
    tag = exchange(sandbox, issuer.mint(aud="jfrog-github", ref="refs/tags/v2"))
    assert tag.status_code == 401


def test_unknown_provider_is_404(sandbox: SandboxHandle, issuer: IssuerHandle) -> None:
    response = exchange(sandbox, issuer.mint(aud="jfrog-github"), provider_name="gitlab")
    expected = [{"code": "NOT_FOUND", "message": "OIDC provider 'gitlab' was not found"}]
    assert access_error(response) == (404, expected)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not-a-jwt", "Failed to parse token: Not enough segments"),
        ("", "Missing mandatory field(s): subject_token"),
    ],
)
def test_malformed_requests_are_400(sandbox: SandboxHandle, token: str, message: str) -> None:
    assert access_error(exchange(sandbox, token)) == (400, [{"code": "BAD_REQUEST", "message": message}])


def test_wrong_grant_type_is_400(sandbox: SandboxHandle, issuer: IssuerHandle) -> None:
    response = exchange(sandbox, issuer.mint(aud="jfrog-github"), grant_type="password")
    assert access_error(response) == (400, [{"code": "BAD_REQUEST", "message": "Unsupported grant type: password"}])


def test_priority_and_named_mapping_choose_the_token(tmp_path: Path, issuer: IssuerHandle) -> None:
    config_path = issuer.write_oidc_config(tmp_path / "oidc.json", "github-oidc",
                                           audience="jfrog-github")  # fmt: skip
    document = json.loads(config_path.read_text())
    mappings = document["providers"][0]["identity_mappings"]
    mappings.append({"name": "admins", "priority": 0, "claims": {"actor": "octocat"},
                     "token_spec": {"scope": "applied-permissions/admin", "expires_in": 60}})  # fmt: skip
    config_path.write_text(json.dumps(document))
    with run_sandbox(tmp_path / "data2", oidc_config_path=config_path) as sandbox:
        first = exchange(sandbox, issuer.mint(aud="jfrog-github")).json()
        named = exchange(sandbox, issuer.mint(aud="jfrog-github"),
                         identity_mapping_name="github-oidc-mapping").json()  # fmt: skip
    assert (first["scope"], first["expires_in"], first["username"]) == ("applied-permissions/admin", 60, "oidc_admins")
    assert named["scope"] == "applied-permissions/user"


def test_oidc_config_flag_of_the_sandbox_command(tmp_path: Path, issuer: IssuerHandle) -> None:
    config = issuer.write_oidc_config(tmp_path / "oidc.json", "github-oidc", audience="jfrog-github")
    with SandboxProcess(tmp_path / "data", extra_args=["--oidc-config", str(config)]) as process:
        body = {"grant_type": GRANT, "subject_token_type": ID_TOKEN, "provider_name": "github-oidc",
                "subject_token": issuer.mint(aud="jfrog-github")}  # fmt: skip
        response = httpx.post(f"{process.url}/access/api/v1/oidc/token", json=body)
    assert response.status_code == 200
    assert response.json()["username"] == "oidc_github-oidc-mapping"
