"""sign: sigstore up to the network boundary. Fulcio and Rekor cannot be reached from here, so the test runs
model_signing's own Sigstore signer with its `trust_config` seam: Sigstore's trusted root as shipped in the
sigstore package, and a signing configuration whose Fulcio and Rekor are a loopback port nobody listens on.
What it proves: the ID token is asked of the runner for the `sigstore` audience and handed to the signer,
which gets as far as calling Fulcio; the failure is a clear SigningError and no model.sig is produced.
What it does not: a certificate from Fulcio, a Rekor entry, or verifying a keyless signature."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import jwt
import pytest
import sigstore
from cryptography.hazmat.primitives.asymmetric import ec
from tests.fakes.loopback import answer_json, serve

from ml_artifactory_action.errors import SigningError
from ml_artifactory_action.inputs import load_settings
from ml_artifactory_action.model.files import ModelFile
from ml_artifactory_action.runner import Runner
from ml_artifactory_action.stages import signing
from ml_artifactory_action.stages.context import RunState, StageContext

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on port 9 of loopback
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
WORKFLOW = "acme/fraud-model/.github/workflows/train.yml@refs/heads/main"
STORE = Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"


class _Discovery(BaseHTTPRequestHandler):
    """The OIDC discovery document model_signing's Sigstore signer reads when it is built (sigstore.oidc.Issuer)."""

    def do_GET(self) -> None:
        answer_json(
            self,
            200,
            {
                "issuer": "https://oauth2.sigstore.dev/auth",
                "authorization_endpoint": UNREACHABLE,
                "token_endpoint": UNREACHABLE,
            },
        )

    def log_message(self, format: str, *args: object) -> None:  # the base class names it so
        pass


@pytest.fixture
def discovery() -> Iterator[str]:
    with serve(_Discovery, name="fake-oidc-discovery") as url:
        yield url


def trust_config(path: Path, oidc_url: str) -> Path:
    """A ClientTrustConfig (the format `model_signing sign sigstore --trust_config` reads) aimed at loopback:
    the OIDC discovery answers, Fulcio and Rekor do not."""
    signing_config = json.loads((STORE / "signing_config.v0.2.json").read_text())
    for kind in ("caUrls", "rekorTlogUrls", "tsaUrls"):
        for service in signing_config.get(kind, []):
            service["url"] = UNREACHABLE
    for service in signing_config.get("oidcUrls", []):
        service["url"] = oidc_url
    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads((STORE / "trusted_root.json").read_text()),
        "signingConfig": signing_config,
    }
    path.write_text(json.dumps(config))
    return path


def github_id_token(audience: str) -> str:
    """A token shaped as GitHub's: Sigstore reads its claims without checking GitHub's signature (Fulcio does)."""
    now = int(time.time())
    claims = {
        "iss": GITHUB_ISSUER,
        "aud": audience,
        "sub": "repo:acme/fraud-model:ref:refs/heads/main",
        "job_workflow_ref": WORKFLOW,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")


def test_sigstore_signing_asks_for_a_sigstore_token_and_fails_clearly_at_fulcio(tmp_path: Path, discovery: str) -> None:
    asked: list[httpx.URL] = []

    def runner_oidc(request: httpx.Request) -> httpx.Response:
        asked.append(request.url)
        return httpx.Response(200, json={"value": github_id_token(request.url.params["audience"])})

    (tmp_path / "model").mkdir()
    weights = tmp_path / "model" / "model.safetensors"
    weights.write_bytes(b"\x00" * 64)
    settings = load_settings(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "acme/fraud-model",
            "GITHUB_RUN_NUMBER": "7",
            "GITHUB_WORKSPACE": str(tmp_path),
            "ACTIONS_ID_TOKEN_REQUEST_URL": "https://runner.example/idtoken?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "runner-request-token-0123456789",
            "JF_URL": "http://127.0.0.1:9",
            "JF_ACCESS_TOKEN": "unused-token-0123456789",
            "INPUT_MODEL-PATH": "model",
            "INPUT_SIGN": "sigstore",
            "INPUT_SIGSTORE-TRUST-CONFIG": str(trust_config(tmp_path / "trust.json", discovery)),
        }
    )
    log = io.StringIO()
    ctx = StageContext(settings, Runner(settings.github, log), RunState(), transport=httpx.MockTransport(runner_oidc))
    signing.preflight_upload(ctx)  # the job can ask for a token: no refusal here

    with (
        pytest.raises(SigningError) as failed,
        signing.signed_selection(ctx, [ModelFile(weights, "model.safetensors", 64)], ""),
    ):
        pytest.fail("nothing may be uploaded without a signature")

    assert [url.params["audience"] for url in asked] == ["sigstore"]
    assert failed.value.message.startswith(
        "Sigstore keyless signing failed before anything was uploaded: the job's ID token was obtained, but Sigstore "
        "(its trust root, OIDC discovery, Fulcio or Rekor) did not answer as expected (ConnectionError: "
    )
    assert "HTTPConnectionPool(host='127.0.0.1', port=9)" in failed.value.message, failed.value.message
    assert "url: /api/v2/signingCert" in failed.value.message, "Fulcio's certificate request is where it stops"
    assert failed.value.fix.startswith("Retry the job; the runner must reach tuf-repo-cdn.sigstore.dev")
    assert "::add-mask::" in log.getvalue(), "the ID token is masked as it arrives"
