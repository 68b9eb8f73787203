"""OIDC login end to end: the fake GitHub token issuer, the sandbox's Access exchange, the entrypoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from artifactory_sandbox.issuer import IssuerHandle, run_issuer
from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from tests.e2e.conftest import ActionHarness, ActionResult

PROVIDER = "github-oidc"
AUDIENCE = "jfrog-github"
# Renewal starts this long before expiry (oidc.REFRESH_MARGIN_S is 120 s): a 122 s token is renewed
# by any request made more than 2 s after it was issued.
SHORT_LIFETIME_S = 122


@pytest.fixture
def issuer() -> Iterator[IssuerHandle]:
    with run_issuer(repository="acme/fraud-model", ref="refs/heads/main") as handle:
        yield handle


@pytest.fixture
def expires_in() -> int:
    return 3600


@pytest.fixture
def sandbox(tmp_path: Path, issuer: IssuerHandle, expires_in: int) -> Iterator[SandboxHandle]:
    """A sandbox trusting the issuer for tokens of acme/fraud-model on main (overrides conftest's)."""
    config = issuer.write_oidc_config(
        tmp_path / "oidc.yml",
        PROVIDER,
        {"repository": "acme/fraud-model", "ref": "refs/heads/main"},
        username="gh-ci",
        expires_in=expires_in,
        audience=AUDIENCE,
    )
    with run_sandbox(tmp_path / "sandbox-data", oidc_config_path=config) as handle:
        yield handle


def run_with_oidc(action: ActionHarness, issuer: IssuerHandle, **inputs: str) -> ActionResult:
    model = action.workspace / "model.onnx"
    model.write_bytes(b"onnx weights")
    env = {
        "JF_ACCESS_TOKEN": None,
        "ACTIONS_ID_TOKEN_REQUEST_URL": issuer.request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token,
    }
    defaults = {
        "stages": "upload",
        "model-path": "model.onnx",
        "oidc-provider-name": PROVIDER,
        "oidc-audience": AUDIENCE,
    }
    return action.run(defaults | inputs, env=env)


def requests(sandbox: SandboxHandle) -> list[dict[str, object]]:
    log = httpx.get(f"{sandbox.url}/_sandbox/requests", headers={"Authorization": f"Bearer {sandbox.admin_token}"})
    return list(log.json())


def test_oidc_login_uploads_and_masks_the_tokens(
    action: ActionHarness, sandbox: SandboxHandle, issuer: IssuerHandle
) -> None:
    result = run_with_oidc(action, issuer)
    assert result.returncode == 0, result.log
    assert f"Logged in to {sandbox.url} with OIDC as gh-ci" in result.stdout
    masks = [line for line in result.stdout.splitlines() if line.startswith("::add-mask::")]
    assert len(masks) >= 3  # the request token, the ID token, the access token (and the GitHub token)
    for mask in masks:
        assert mask.removeprefix("::add-mask::") not in result.summary + "".join(result.outputs.values())
    users = {r["user"] for r in requests(sandbox) if str(r["path"]).startswith("/artifactory/")}
    assert users == {"gh-ci"}


def test_claims_that_match_no_mapping_are_shown(
    action: ActionHarness, sandbox: SandboxHandle, issuer: IssuerHandle
) -> None:
    issuer.claims["ref"] = "refs/heads/experiment"
    result = run_with_oidc(action, issuer)
    assert result.returncode == 1
    [(title, message)] = result.errors
    assert title == "OIDC login failed"
    assert message.startswith(
        f"JFrog refused to exchange the GitHub ID token for an access token with OIDC provider '{PROVIDER}' (HTTP 401: "
    )
    assert "sub: repo:acme/fraud-model:ref:refs/heads/experiment, repository: acme/fraud-model" in message
    assert "ref: refs/heads/experiment" in message
    assert f"aud: {AUDIENCE}" in message
    assert "identity mappings matches the claims above" in message
    assert "### :x: OIDC login failed" in result.summary


def test_an_unknown_provider_is_named(action: ActionHarness, sandbox: SandboxHandle, issuer: IssuerHandle) -> None:
    result = run_with_oidc(action, issuer, **{"oidc-provider-name": "gitlab-oidc"})
    assert result.returncode == 1
    [(title, message)] = result.errors
    assert (title, message.split(" (HTTP 404")[0]) == (
        "OIDC login failed",
        "JFrog has no OIDC integration 'gitlab-oidc'",
    )


def test_without_id_token_permission_the_fix_says_so(
    action: ActionHarness, sandbox: SandboxHandle, issuer: IssuerHandle
) -> None:
    model = action.workspace / "model.onnx"
    model.write_bytes(b"onnx weights")
    result = action.run(
        {"stages": "upload", "model-path": "model.onnx", "oidc-provider-name": PROVIDER}, env={"JF_ACCESS_TOKEN": None}
    )
    assert result.returncode == 1
    [(title, message)] = result.errors
    assert title == "OIDC login failed"
    assert "Add `permissions: id-token: write` to the job" in message


@pytest.mark.parametrize("expires_in", [SHORT_LIFETIME_S])
def test_a_token_about_to_expire_is_renewed_during_the_upload(
    action: ActionHarness, sandbox: SandboxHandle, issuer: IssuerHandle
) -> None:
    httpx.post(
        f"{sandbox.url}/_sandbox/faults",
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
        json={"method": "POST", "path": "api/search/aql$", "delay": 2.5},
    ).raise_for_status()
    result = run_with_oidc(action, issuer)
    assert result.returncode == 0, result.log
    exchanges = [r for r in requests(sandbox) if r["path"] == "/access/api/v1/oidc/token"]
    assert len(exchanges) >= 2
    assert all(r["status"] == 200 for r in exchanges)
