"""The fake GitHub Actions OIDC issuer, driven over HTTP as the Actions toolkit drives the real one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
import yaml

from artifactory_sandbox.issuer import GITHUB_ISSUER, IssuerHandle, run_issuer


@pytest.fixture(scope="module")
def issuer() -> Iterator[IssuerHandle]:
    with run_issuer(repository="acme/models", workflow="train") as handle:
        yield handle


def fetch_token(issuer: IssuerHandle, audience: str | None = None) -> httpx.Response:
    url = issuer.request_url + (f"&audience={audience}" if audience else "")
    headers = {"Authorization": f"Bearer {issuer.request_token}", "Accept": "application/json"}
    return httpx.get(url, headers=headers)


def verified(issuer: IssuerHandle, token: str, audience: str) -> dict[str, object]:
    keys = jwt.PyJWKSet.from_dict(httpx.get(issuer.jwks_url).json())
    claims: dict[str, object] = jwt.decode(
        token, keys.keys[0].key, algorithms=["RS256"], audience=audience, issuer=GITHUB_ISSUER
    )
    return claims


def test_token_endpoint_returns_a_signed_github_claim_set(issuer: IssuerHandle) -> None:
    response = fetch_token(issuer, "jfrog-github")
    assert response.status_code == 200
    claims = verified(issuer, response.json()["value"], "jfrog-github")
    assert claims["sub"] == "repo:acme/models:ref:refs/heads/main"
    assert claims["repository_owner"] == "acme"
    assert claims["job_workflow_ref"] == "acme/models/.github/workflows/train.yml@refs/heads/main"
    assert {"sha", "run_id", "actor", "event_name", "exp", "iat", "nbf", "jti"} <= claims.keys()
    assert int(str(claims["exp"])) - int(str(claims["iat"])) == 300


def test_default_audience_is_the_owner_url(issuer: IssuerHandle) -> None:
    token = fetch_token(issuer).json()["value"]
    assert verified(issuer, token, "https://github.com/acme")["aud"] == "https://github.com/acme"


def test_request_token_is_required(issuer: IssuerHandle) -> None:
    response = httpx.get(issuer.request_url, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401


def test_discovery_document_points_at_the_jwks(issuer: IssuerHandle) -> None:
    document = httpx.get(f"{issuer.url}/.well-known/openid-configuration").json()
    assert document["issuer"] == GITHUB_ISSUER
    assert document["jwks_uri"] == issuer.jwks_url
    assert httpx.get(document["jwks_uri"]).json() == issuer.jwks


def test_mint_overrides_and_removes_claims(issuer: IssuerHandle) -> None:
    token = issuer.mint(environment="production", exp=None, aud="x")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == "repo:acme/models:environment:production"
    assert "exp" not in claims


def test_write_oidc_config_yaml_and_json(issuer: IssuerHandle, tmp_path: Path) -> None:
    as_yaml = issuer.write_oidc_config(tmp_path / "oidc.yml", "gh", {"ref": "refs/heads/*"},
                                       username="ci", audience="jfrog-github")  # fmt: skip
    provider = yaml.safe_load(as_yaml.read_text())["providers"][0]
    assert provider["name"] == "gh"
    assert provider["audience"] == "jfrog-github"
    assert provider["jwks_url"] == issuer.jwks_url
    assert provider["identity_mappings"][0]["claims"] == {"ref": "refs/heads/*"}
    assert provider["identity_mappings"][0]["token_spec"]["username"] == "ci"
    as_json = json.loads(issuer.write_oidc_config(tmp_path / "oidc.json").read_text())
    assert as_json["providers"][0]["identity_mappings"][0]["claims"] == {"repository": "acme/models"}
