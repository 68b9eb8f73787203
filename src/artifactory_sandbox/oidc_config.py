"""The `--oidc-config` file: trusted OIDC providers and their identity mappings (JSON or YAML).

Modelled on JFrog's OIDC integration and identity-mapping APIs:

    providers:
      - name: github-oidc                     # the exchange's provider_name
        provider_type: GitHub
        issuer_url: https://token.actions.githubusercontent.com
        audience: jfrog-github                # optional: the ID token's aud must contain it
        jwks_url: http://127.0.0.1:8123/.well-known/jwks   # or jwks: {...} or jwks_file: path
        identity_mappings:
          - name: release-from-main
            priority: 1                       # lower number wins
            claims: {"repository": "acme/models", "ref": "refs/heads/main"}   # `*` wildcards
            token_spec: {scope: applied-permissions/user, username: ci, expires_in: 3600}

JWKS URLs must be on loopback: the sandbox reaches no other network.
"""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

LOOPBACK_NAMES = frozenset({"localhost"})


class OidcConfigError(Exception):
    """The --oidc-config file is unreadable or invalid; the message names the problem."""


class TokenSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: str = "applied-permissions/user"
    username: str | None = None
    expires_in: int = Field(default=3600, ge=1)
    audience: str = "*@*"


class IdentityMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    priority: int = 1_000_000  # "no priority" is the lowest one
    description: str = ""
    claims: dict[str, Any]
    token_spec: TokenSpec = TokenSpec()

    def matches(self, token_claims: dict[str, Any]) -> bool:
        return all(claim_matches(want, token_claims.get(key)) for key, want in self.claims.items())


class Provider(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    provider_type: str = "GitHub"
    issuer_url: str
    audience: str | None = None
    description: str = ""
    jwks: dict[str, Any] | None = None
    jwks_file: Path | None = None
    jwks_url: str | None = None
    identity_mappings: list[IdentityMapping] = []

    @model_validator(mode="after")
    def _one_key_source(self) -> Provider:
        sources = [self.jwks, self.jwks_file, self.jwks_url]
        if sum(source is not None for source in sources) != 1:
            raise ValueError("give exactly one of jwks, jwks_file, jwks_url")
        if self.jwks_url is not None and not _is_loopback(self.jwks_url):
            raise ValueError(f"jwks_url must be on loopback (127.0.0.1/localhost): {self.jwks_url}")
        return self

    def ordered_mappings(self) -> list[IdentityMapping]:
        return sorted(self.identity_mappings, key=lambda mapping: mapping.priority)


class OidcConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    providers: list[Provider] = []

    def provider(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)


def load_config(path: Path) -> OidcConfig:
    """Parse and validate the file at `path` (YAML is a superset of JSON, so one parser reads both)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise OidcConfigError(f"cannot read OIDC config {path}: {err}") from err
    try:
        config = OidcConfig.model_validate(document or {})
    except ValidationError as err:
        raise OidcConfigError(f"invalid OIDC config {path}: {err}") from err
    return _resolve_files(config, path.parent)


def _resolve_files(config: OidcConfig, base: Path) -> OidcConfig:
    providers = [p.model_copy(update={"jwks_file": base / p.jwks_file}) if p.jwks_file else p for p in config.providers]
    return config.model_copy(update={"providers": providers})


def read_jwks_file(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise OidcConfigError(f"{path} is not a JWKS document")
    return document


def claim_matches(want: Any, actual: Any) -> bool:
    """One identity-mapping claim: strings may use `*`; a list accepts any of its values."""
    if isinstance(want, list):
        return any(claim_matches(option, actual) for option in want)
    if isinstance(want, str) and isinstance(actual, str):
        pattern = ".*".join(re.escape(part) for part in want.split("*"))
        return re.fullmatch(pattern, actual, flags=re.DOTALL) is not None
    return bool(want == actual)


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
