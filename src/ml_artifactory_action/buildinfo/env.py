"""Which environment variables build-info records (`buildInfo.env.<NAME>`).

JFrog's rule first: keep names matching `env-include`, then drop names matching `env-exclude`
(`;`-separated, case-insensitive wildcards; default `*password*;*psw*;*secret*;*key*;*token*;*auth*`).
Then ours, which no input can turn off: drop names that look like credentials, JFrog's connection
variables, and any value that looks like a secret (JWTs, GitHub / JFrog / cloud tokens, private
keys, URLs with credentials, long base64 or hex strings) or contains a value we were told to mask.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Mapping

ENV_PREFIX = "buildInfo.env."
# Names never recorded, whatever env-include says (JFrog's defaults, setup-jfrog-cli's list, more).
SECRET_NAME_PATTERNS = (
    "*password*",
    "*passwd*",
    "*psw*",
    "*secret*",
    "*key*",
    "*token*",
    "*auth*",
    "*credential*",
    "*private*",
    "*cookie*",
    "*session*",
    "*signature*",
    "JF_ARTIFACTORY_*",
    "JF_ENV_*",
    "JF_URL",
    "JF_USER",
)
SECRET_VALUE_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*",  # JWT (OIDC and JFrog access tokens)
        r"\bgh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
        r"\bgithub_pat_[A-Za-z0-9_]{20,}",
        r"\bAKCp[A-Za-z0-9]{10,}",  # JFrog API keys
        r"\bcmVmdGtuOj[A-Za-z0-9+/=]{10,}",  # JFrog reference tokens (base64 of "reftkn:")
        r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key ids
        r"\bxox[abprs]-[A-Za-z0-9-]{10,}",  # Slack
        r"\bsk-[A-Za-z0-9_-]{20,}",  # OpenAI-style API keys
        r"\bhf_[A-Za-z0-9]{20,}",  # Hugging Face tokens
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@",  # URL with user:password@
    )
)
_BASE64 = re.compile(r"^[A-Za-z0-9+/]{32,}={0,2}$|^[A-Za-z0-9_-]{32,}={0,2}$")
_HEX = re.compile(r"^[0-9a-fA-F]{32,}$")


def patterns(text: str) -> list[str]:
    return [p.strip() for p in text.split(";") if p.strip()]


def matches_any(name: str, wildcards: Collection[str]) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, w.lower()) for w in wildcards)


def looks_secret(value: str, *, known_secrets: Collection[str] = (), harmless: Collection[str] = ()) -> bool:
    """True when the value should never be written anywhere (build-info, properties, logs)."""
    if value in harmless:
        return False
    if any(secret and secret in value for secret in known_secrets):
        return True
    if any(p.search(value) for p in SECRET_VALUE_PATTERNS):
        return True
    text = value.strip()
    if _HEX.match(text):
        return True
    return bool(_BASE64.match(text)) and _mixed(text) and not text.startswith("/")


def _mixed(text: str) -> bool:
    """Upper case, lower case and digits together: random-looking, not a word or a path."""
    return any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)


def recorded_env(
    environ: Mapping[str, str],
    include: str,
    exclude: str,
    *,
    known_secrets: Collection[str] = (),
    harmless: Collection[str] = (),
) -> dict[str, str]:
    """`buildInfo.env.<NAME>` properties for the variables that may be recorded, sorted by name."""
    keep, drop = patterns(include), patterns(exclude)
    return {
        f"{ENV_PREFIX}{name}": value
        for name, value in sorted(environ.items())
        if matches_any(name, keep)
        and not matches_any(name, drop)
        and not matches_any(name, SECRET_NAME_PATTERNS)
        and not looks_secret(value, known_secrets=known_secrets, harmless=harmless)
    }
