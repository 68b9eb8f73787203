"""A fake GitHub Actions OIDC token issuer on 127.0.0.1, for tests and users' pipeline tests.

    with run_issuer(repository="acme/models", ref="refs/heads/main") as issuer:
        issuer.write_oidc_config(tmp / "oidc.yml", "github-oidc", {"repository": "acme/models"})
        env = {"ACTIONS_ID_TOKEN_REQUEST_URL": issuer.request_url,
               "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token}

It answers what the runner's token service answers: `GET /token?...&audience=X` with
`Authorization: Bearer <request token>` → `{"value": "<RS256 JWT>"}` carrying GitHub's claim set;
and it serves `/.well-known/jwks` and `/.well-known/openid-configuration` like GitHub's issuer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
DEFAULT_LIFETIME_S = 300  # GitHub's ID tokens live about five minutes
RSA_KEY_BITS = 2048
DEFAULT_CLAIMS: dict[str, Any] = {
    "repository": "octo-org/octo-repo", "repository_owner": "octo-org",
    "repository_owner_id": "5", "repository_id": "42", "repository_visibility": "private",
    "ref": "refs/heads/main", "ref_type": "branch", "ref_protected": "true",
    "sha": "8e5e2c1a3f4b6d7e9f0a1b2c3d4e5f6a7b8c9d0e", "head_ref": "", "base_ref": "",
    "workflow": "release", "event_name": "push", "actor": "octocat", "actor_id": "1",
    "run_id": "1658821493", "run_number": "7", "run_attempt": "1",
    "runner_environment": "github-hosted",
}  # fmt: skip


@dataclass
class IssuerHandle:
    """A running issuer. `claims` are the defaults every minted token carries (mutable)."""

    url: str
    issuer: str
    request_token: str
    claims: dict[str, Any]
    lifetime: int
    key: rsa.RSAPrivateKey = field(repr=False)
    kid: str = ""

    @property
    def request_url(self) -> str:
        """Like `ACTIONS_ID_TOKEN_REQUEST_URL`: already carries a query string."""
        return f"{self.url}/token?api-version=2.0"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks"

    @property
    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def mint(self, **overrides: Any) -> str:
        """A signed ID token; `overrides` replace claims (`None` removes one, e.g. `exp=None`)."""
        claims = self.claim_set(**overrides)
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def claim_set(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {**self.claims, "iss": self.issuer, "jti": str(uuid.uuid4())}
        claims.update(iat=now, nbf=now - 5, exp=now + self.lifetime)
        claims.setdefault("aud", f"https://github.com/{claims['repository_owner']}")
        claims.update(overrides)
        _derive_workflow_claims(claims)
        return {key: value for key, value in claims.items() if value is not None}

    def write_oidc_config(
        self,
        path: Path,
        provider_name: str = "github-oidc",
        claims: Mapping[str, Any] | None = None,
        **token_spec: Any,
    ) -> Path:
        """Write a sandbox `--oidc-config` (YAML for .yml/.yaml, else JSON) that trusts this issuer.

        `token_spec` sets the identity mapping's token (scope, username, expires_in); `audience`
        sets the provider's expected audience.
        """
        audience = token_spec.pop("audience", None)
        mapping = {"name": f"{provider_name}-mapping", "priority": 1,
                   "claims": dict(claims or {"repository": self.claims["repository"]}),
                   "token_spec": {"scope": "applied-permissions/user", **token_spec}}  # fmt: skip
        provider = {"name": provider_name, "provider_type": "GitHub", "issuer_url": self.issuer,
                    "jwks_url": self.jwks_url, "identity_mappings": [mapping]}  # fmt: skip
        if audience:
            provider["audience"] = audience
        document = {"providers": [provider]}
        text = yaml.safe_dump(document) if path.suffix in (".yml", ".yaml") else json.dumps(document)
        path.write_text(text, encoding="utf-8")
        return path


def _derive_workflow_claims(claims: dict[str, Any]) -> None:
    """Fill the claims GitHub derives from repository, ref and environment."""
    repo, ref = claims.get("repository"), claims.get("ref")
    workflow_ref = f"{repo}/.github/workflows/{claims.get('workflow')}.yml@{ref}"
    claims.setdefault("workflow_ref", workflow_ref)
    claims.setdefault("job_workflow_ref", workflow_ref)
    claims.setdefault("workflow_sha", claims.get("sha"))
    claims.setdefault("job_workflow_sha", claims.get("sha"))
    environment = claims.get("environment")
    context = f"environment:{environment}" if environment else f"ref:{ref}"
    claims.setdefault("sub", f"repo:{repo}:{context}")


class _IssuerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handle_factory: Any) -> None:
        super().__init__(("127.0.0.1", 0), _IssuerRequestHandler)
        self.handle: IssuerHandle = handle_factory(self)


class _IssuerRequestHandler(BaseHTTPRequestHandler):
    server: _IssuerServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read responses, not access logs."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        routes = {"/token": self._token, "/.well-known/jwks": self._jwks,
                  "/.well-known/openid-configuration": self._discovery}  # fmt: skip
        handler = routes.get(url.path)
        if handler is None:
            self._send(404, {"message": "Not Found"})
            return
        handler(parse_qs(url.query))

    def _token(self, query: dict[str, list[str]]) -> None:
        handle = self.server.handle
        sent = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent, handle.request_token):
            self._send(401, {"message": "Unauthorized"})
            return
        overrides = {"aud": query["audience"][-1]} if query.get("audience", [""])[-1] else {}
        self._send(200, {"count": 1, "value": handle.mint(**overrides)})

    def _jwks(self, query: dict[str, list[str]]) -> None:
        self._send(200, self.server.handle.jwks)

    def _discovery(self, query: dict[str, list[str]]) -> None:
        handle = self.server.handle
        self._send(200, {
            "issuer": handle.issuer, "jwks_uri": handle.jwks_url,
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref",
                                 "repository", "repository_owner", "run_id", "sha", "workflow",
                                 "job_workflow_ref", "actor", "event_name", "environment"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
        })  # fmt: skip

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def run_issuer(
    *, issuer: str = GITHUB_ISSUER, lifetime: int = DEFAULT_LIFETIME_S, **claims: Any
) -> Iterator[IssuerHandle]:
    """Serve a fake GitHub OIDC issuer on a free port of 127.0.0.1 until the block ends.

    `claims` override GitHub's defaults for every token (repository, ref, environment, ...);
    `repository_owner` follows `repository` unless given.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    merged = {**DEFAULT_CLAIMS, **claims}
    if "repository" in claims and "repository_owner" not in claims:
        merged["repository_owner"] = str(claims["repository"]).split("/", 1)[0]

    def factory(server: _IssuerServer) -> IssuerHandle:
        host, port = server.server_address[:2]
        return IssuerHandle(f"http://{host!s}:{port}", issuer, secrets.token_urlsafe(24),
                            merged, lifetime, key, _kid(key))  # fmt: skip

    server = _IssuerServer(factory)
    thread = threading.Thread(target=server.serve_forever, name="oidc-issuer", daemon=True)
    thread.start()
    try:
        yield server.handle
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def _kid(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:40].upper()
