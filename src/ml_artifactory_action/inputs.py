"""The only reader of the environment and of the command line.

Inputs come, first match wins, from a CLI flag (`--model-path`), the runner's `INPUT_MODEL-PATH`
(the hyphenated name, as Docker actions receive it), `INPUT_MODEL_PATH`, JFrog's own variables for
the connection (`JF_URL`, ...), and finally the default of the settings model. An empty value counts
as unset, because the runner passes every input, given or not.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ml_artifactory_action.errors import ConfigError, MissingInputsError
from ml_artifactory_action.settings import INPUT_NAMES, GitHubContext, Settings, SignMode, Stage

# JFrog's tools read these; we take them as defaults for the matching inputs.
JFROG_FALLBACKS = {
    "url": "JF_URL",
    "access-token": "JF_ACCESS_TOKEN",
    "user": "JF_USER",
    "password": "JF_PASSWORD",
    "project": "JF_PROJECT",
}
BOOLEAN_INPUTS = frozenset(
    alias for name, alias in INPUT_NAMES.items() if Settings.model_fields[name].annotation is bool
)
GLOB_CHARS = frozenset("*?[")
# Outside Actions, a model-version nobody gave is the time of the run: sortable, and printed.
LOCAL_VERSION_FORMAT = "%Y%m%d.%H%M%S"
_REPO_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$")


def build_parser(prog: str = "ml-artifactory") -> argparse.ArgumentParser:
    """`run` takes --stages; each stage is also a subcommand; `sandbox` is handed on untouched."""
    parser = argparse.ArgumentParser(
        prog=prog, description="Carry an ML model to production through JFrog Artifactory."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in ["run", *(s.value for s in Stage)]:
        helptext = "run the stages given by --stages" if command == "run" else f"run the {command} stage"
        _add_input_flags(commands.add_parser(command, help=helptext), with_stages=command == "run")
    commands.add_parser("sandbox", help="start the local Artifactory + Xray sandbox", add_help=False)
    return parser


def _add_input_flags(parser: argparse.ArgumentParser, *, with_stages: bool) -> None:
    for name, alias in INPUT_NAMES.items():
        if alias == "stages" and not with_stages:
            continue
        field = Settings.model_fields[name]
        if alias in BOOLEAN_INPUTS:
            parser.add_argument(f"--{alias}", nargs="?", const="true", help=field.description)
        else:
            parser.add_argument(f"--{alias}", help=field.description)


def flags_from_args(namespace: argparse.Namespace) -> dict[str, str]:
    """The inputs given as flags, by input name; a subcommand other than `run` selects its stage."""
    given = {alias: getattr(namespace, alias.replace("-", "_"), None) for alias in INPUT_NAMES.values()}
    flags = {alias: value for alias, value in given.items() if value is not None}
    if namespace.command != "run":
        flags["stages"] = namespace.command
    return flags


def load_settings(
    environ: Mapping[str, str], flags: Mapping[str, str] | None = None, *, now: datetime | None = None
) -> Settings:
    """Build the settings of this run; raise ConfigError naming the bad input (every missing one).

    Outside GitHub Actions there is no repository name or run number to default to: the model
    folder's name and the time of the run stand in (`Settings.local_defaults` lists what was chosen).
    """
    raw: dict[str, Any] = {}
    for alias in INPUT_NAMES.values():
        value = _raw_input(alias, environ, flags or {})
        if value is not None:
            raw[alias] = value
    github = github_context(environ)
    raw["github"] = github
    raw.setdefault("hash-cache-dir", default_cache_dir(environ))
    settings = _validated(raw, github.in_actions)
    if not github.in_actions:
        chosen = local_defaults(settings, now or datetime.now(UTC))
        if chosen:
            settings = _validated(raw | dict(chosen) | {"local_defaults": tuple(chosen.items())}, in_actions=False)
    check_combinations(settings)
    return settings


def _validated(raw: Mapping[str, Any], in_actions: bool) -> Settings:
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc, in_actions) from None


def local_defaults(settings: Settings, now: datetime) -> dict[str, str]:
    """Outside Actions, for what neither the user nor GITHUB_* gave: the model folder's name for
    model-name (and build-name), the run's time for model-version (and build-number) when uploading."""
    chosen: dict[str, str] = {}
    workspace = settings.github.workspace or Path.cwd()
    if not settings.effective_model_name and settings.model_path:
        chosen["model-name"] = model_folder_name(settings.model_path[0], workspace)
    model_name = settings.effective_model_name or chosen.get("model-name", "")
    if not settings.effective_build_name and model_name:
        chosen["build-name"] = model_name
    if Stage.UPLOAD in settings.stages:
        if not settings.effective_model_version:
            chosen["model-version"] = now.astimezone(UTC).strftime(LOCAL_VERSION_FORMAT)
        if not settings.effective_build_number:
            chosen["build-number"] = settings.effective_model_version or chosen["model-version"]
    return {name: value for name, value in chosen.items() if value}


def model_folder_name(line: str, workspace: Path) -> str:
    """The folder a model-path line names, or the folder holding the file or glob it names."""
    literal = Path(*_literal_parts(line)) if line else Path()
    path = (workspace / literal).resolve()
    return (path if path.is_dir() else path.parent).name


def _literal_parts(line: str) -> list[str]:
    parts = []
    for part in Path(line).parts:
        if GLOB_CHARS & set(part):
            break
        parts.append(part)
    return parts


def _raw_input(alias: str, environ: Mapping[str, str], flags: Mapping[str, str]) -> str | None:
    candidates = [
        flags.get(alias),
        environ.get(f"INPUT_{alias.upper()}"),
        environ.get(f"INPUT_{alias.upper().replace('-', '_')}"),
        environ.get(JFROG_FALLBACKS.get(alias, "")),
    ]
    return next((c for c in candidates if c is not None and c.strip() != ""), None)


def _config_error(exc: ValidationError, in_actions: bool) -> ConfigError:
    error = exc.errors()[0]
    loc = error["loc"][0] if error["loc"] else ""
    name = INPUT_NAMES.get(str(loc), str(loc))
    message = str(error["msg"]).removeprefix("Value error, ")
    return ConfigError(shown(name, in_actions), message, fix=_fix_for(name, in_actions))


def shown(input_name: str, in_actions: bool) -> str:
    """An input as the user gave it: `model-path` in a workflow's `with:`, `--model-path` at a terminal."""
    return input_name if in_actions else f"--{input_name}"


def _fix_for(input_name: str, in_actions: bool) -> str:
    description = Settings.model_fields[_field_of(input_name)].description or ""
    where = f"Set `{input_name}` in the step's `with:`." if in_actions else f"Give --{input_name}."
    return f"{where} {description}"


def _field_of(input_name: str) -> str:
    return next(name for name, alias in INPUT_NAMES.items() if alias == input_name)


def default_cache_dir(environ: Mapping[str, str]) -> str:
    """Where checksums are remembered: under HOME, which the runner keeps for every step of a job
    (a Docker action's HOME is /github/home, mounted from the host)."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or tempfile.gettempdir(), ".cache")
    return os.path.join(base, "ml-artifactory-action")


def github_context(environ: Mapping[str, str]) -> GitHubContext:
    """What the runner says about the run, from the GITHUB_* and ACTIONS_* variables."""
    get = environ.get
    values: dict[str, Any] = {
        "repository": get("GITHUB_REPOSITORY", ""),
        "server_url": get("GITHUB_SERVER_URL") or "https://github.com",
        "api_url": get("GITHUB_API_URL") or "https://api.github.com",
        "run_id": get("GITHUB_RUN_ID", ""),
        "run_number": get("GITHUB_RUN_NUMBER", ""),
        "run_attempt": get("GITHUB_RUN_ATTEMPT", ""),
        "sha": get("GITHUB_SHA", ""),
        "ref": get("GITHUB_REF", ""),
        "ref_name": get("GITHUB_REF_NAME", ""),
        "head_ref": get("GITHUB_HEAD_REF", ""),
        "workflow": get("GITHUB_WORKFLOW", ""),
        "job": get("GITHUB_JOB", ""),
        "actor": get("GITHUB_ACTOR", ""),
        "event_name": get("GITHUB_EVENT_NAME", ""),
        "event_path": get("GITHUB_EVENT_PATH") or None,
        "workspace": get("GITHUB_WORKSPACE") or None,
        "output_path": get("GITHUB_OUTPUT") or None,
        "env_path": get("GITHUB_ENV") or None,
        "summary_path": get("GITHUB_STEP_SUMMARY") or None,
        "debug": get("RUNNER_DEBUG") == "1" or get("ACTIONS_STEP_DEBUG") == "true",
        "actions": get("GITHUB_ACTIONS") == "true",
        "id_token_request_url": get("ACTIONS_ID_TOKEN_REQUEST_URL", ""),
        "id_token_request_token": get("ACTIONS_ID_TOKEN_REQUEST_TOKEN") or None,
        "environment": dict(environ),
        "event": read_event(get("GITHUB_EVENT_PATH") or None),
    }
    return GitHubContext.model_validate(values)


def read_event(path: str | None) -> dict[str, Any]:
    """The webhook payload of the run; {} when there is none or it cannot be read."""
    if path is None:
        return {}
    try:
        event = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return event if isinstance(event, dict) else {}


def check_combinations(settings: Settings) -> None:
    """Checks that span several inputs, in the order a user would fix them."""
    stages = set(settings.stages)
    _check_missing(settings, stages)
    _check_connection(settings, stages)
    _check_repo_keys(settings)
    if Stage.UPLOAD in stages:
        _check_upload(settings)
    check_signing(settings, stages)
    if Stage.GATE in stages:
        _check_gate(settings)
    if Stage.CONFIGURE in stages and not (settings.pypi_repo or settings.hf_repo):
        raise ConfigError(
            "pypi-repo",
            "configure needs pypi-repo, hf-repo or both",
            fix="Name the repositories later steps should use.",
        )


def _needs_build_name(settings: Settings, stages: set[Stage]) -> bool:
    """Stages that find builds by name: the production model is looked up by it too."""
    by_build = {Stage.BUILD_PUBLISH, Stage.SCAN, Stage.PROMOTE}
    resolves_by_build = Stage.RESOLVE in stages and not settings.resolve_properties
    compares = Stage.GATE in stages and settings.compare_to_production
    return bool(stages & by_build) or resolves_by_build or compares


def _required(settings: Settings, stages: set[Stage]) -> list[tuple[str, bool, str, str]]:
    """(input, needed by this run, its value, where its default comes from) for each required input."""
    upload = Stage.UPLOAD in stages
    by_number = stages & {Stage.BUILD_PUBLISH, Stage.SCAN} or (Stage.PROMOTE in stages and not settings.rollback)
    return [
        ("url", bool(stages - {Stage.GATE}) or settings.compare_to_production, settings.url, "JF_URL"),
        ("model-path", upload, ",".join(settings.model_path), ""),
        ("model-name", upload, settings.effective_model_name, "GITHUB_REPOSITORY"),
        ("model-version", upload, settings.effective_model_version, "GITHUB_RUN_NUMBER"),
        ("build-name", _needs_build_name(settings, stages), settings.effective_build_name, "GITHUB_REPOSITORY"),
        ("build-number", bool(by_number), settings.effective_build_number, "GITHUB_RUN_NUMBER"),
    ]


# Outside Actions these default from model-path: asking for them too would send the user the wrong way.
FROM_MODEL_PATH = frozenset({"model-name", "build-name"})


def _check_missing(settings: Settings, stages: set[Stage]) -> None:
    """Every required input this run lacks, in one error."""
    in_actions = settings.github.in_actions
    missing = [(name, source) for name, needed, value, source in _required(settings, stages) if needed and not value]
    if not in_actions and any(name == "model-path" for name, _ in missing):
        missing = [(name, source) for name, source in missing if name not in FROM_MODEL_PATH]
    if not missing:
        return
    if len(missing) == 1:
        name, source = missing[0]
        raise ConfigError(
            shown(name, in_actions), _why_missing(name, source, in_actions), fix=_fix_for(name, in_actions)
        )
    names = [shown(name, in_actions) for name, _ in missing]
    listed = "; ".join(
        f"{shown(name, in_actions)} {_why_missing(name, source, in_actions)}" for name, source in missing
    )
    fix = (
        f"Set {', '.join(f'`{n}`' for n in names)} in the step's `with:`."
        if in_actions
        else f"Give {', '.join(names)} (`ml-artifactory run --help` describes each)."
    )
    raise MissingInputsError(names, f"{len(missing)} inputs are missing: {listed}", fix=fix)


def _why_missing(name: str, source: str, in_actions: bool) -> str:
    empty = "is empty" if in_actions else "is not given"
    if name == "model-path":
        return f"{empty}: nothing to upload"
    if not source or (source.startswith("GITHUB_") and not in_actions):
        return empty
    return f"{empty} and {source} is not set"


def _require(value: str, input_name: str, why: str, in_actions: bool) -> None:
    if not value:
        raise ConfigError(shown(input_name, in_actions), why, fix=_fix_for(input_name, in_actions))


def _check_connection(settings: Settings, stages: set[Stage]) -> None:
    if settings.user and settings.password is None:
        raise ConfigError(
            "password",
            "user is set but password is empty",
            fix="Set password (or use access-token, or OIDC with oidc-provider-name).",
        )
    if settings.password is not None and not settings.user:
        raise ConfigError(
            "user", "password is set but user is empty", fix="Set user to the JFrog user the password belongs to."
        )
    ways = [
        n
        for n, v in (
            ("access-token", settings.access_token),
            ("user", settings.user),
            ("oidc-provider-name", settings.oidc_provider_name),
        )
        if v
    ]
    # access-token + oidc-provider-name is allowed: auth.py picks one by whether the job has an ID token.
    if len(ways) > 1 and set(ways) != {"access-token", "oidc-provider-name"}:
        raise ConfigError(
            ways[1],
            f"conflicts with {ways[0]}",
            fix="Give only one way to log in: access-token, user + password, or oidc-provider-name.",
        )


def _check_repo_keys(settings: Settings) -> None:
    for alias, key in (
        ("repo", settings.repo),
        ("source-repo", settings.source_repo),
        ("target-repo", settings.target_repo),
        ("pypi-repo", settings.pypi_repo),
        ("hf-repo", settings.hf_repo),
    ):
        if key and not _REPO_KEY.match(key):
            raise ConfigError(
                alias,
                f"{key!r} is not a repository key",
                fix="Use the key shown in Artifactory: letters, digits, '.', '_' and '-', at most 64 characters.",
            )


def _check_upload(settings: Settings) -> None:
    parts = settings.target_path.replace("\\", "/").split("/")
    if ".." in parts:
        raise ConfigError(
            "target-path",
            f"{settings.target_path!r} climbs out of the repository with '..'",
            fix="Give a path inside the repository, e.g. {model-name}/{model-version}/.",
        )


def check_signing(settings: Settings, stages: set[Stage]) -> None:
    """sign's key material, and verify-signature's: exactly what the chosen way needs."""
    in_actions = settings.github.in_actions
    if Stage.UPLOAD in stages and settings.sign in (SignMode.KEY, SignMode.CERTIFICATE):
        if settings.signing_key is None:
            raise ConfigError(
                shown("signing-key", in_actions),
                f"is empty but sign is {settings.sign.value}",
                fix="Pass the PEM private key from a secret: signing-key: ${{ secrets.MODEL_SIGNING_KEY }}.",
            )
        if settings.sign == SignMode.CERTIFICATE and not settings.signing_certificate_chain.strip():
            raise ConfigError(
                shown("signing-certificate-chain", in_actions),
                "is empty but sign is certificate",
                fix="Give the PEM signing certificate (then its intermediates) that holds signing-key's public key.",
            )
    ways = [
        name
        for name, value in (
            ("verify-public-key", settings.verify_public_key),
            ("verify-certificate-chain", settings.verify_certificate_chain),
            ("verify-identity", settings.verify_identity or settings.verify_issuer),
        )
        if value.strip()
    ]
    if not settings.verify_signature:
        if ways:
            raise ConfigError(
                shown("verify-signature", in_actions),
                f"is false but {ways[0]} is set, so nothing would be verified",
                fix="Set verify-signature: true to refuse models whose signature does not verify, or drop the verification inputs.",
            )
        return
    if len(ways) != 1:
        raise ConfigError(
            shown("verify-signature", in_actions),
            "needs exactly one of verify-public-key, verify-certificate-chain, or verify-identity + verify-issuer"
            + (f" (got {', '.join(ways)})" if ways else ""),
            fix="Give the public key (sign: key), the CA chain (sign: certificate) or the Sigstore identity and issuer (sign: sigstore) the model must be signed with.",
        )
    if ways == ["verify-identity"] and not (settings.verify_identity.strip() and settings.verify_issuer.strip()):
        missing = "verify-issuer" if settings.verify_identity.strip() else "verify-identity"
        raise ConfigError(
            shown(missing, in_actions),
            "is empty: Sigstore verification needs both verify-identity and verify-issuer",
            fix="For GitHub Actions keyless signatures the issuer is https://token.actions.githubusercontent.com.",
        )


def _check_gate(settings: Settings) -> None:
    has_mlflow = bool(settings.mlflow_tracking_uri or settings.mlflow_run_id)
    if settings.metrics_file is not None and has_mlflow:
        raise ConfigError(
            "metrics-file",
            "conflicts with mlflow-run-id",
            fix="Read metrics from one place: metrics-file, or mlflow-tracking-uri + mlflow-run-id.",
        )
    if has_mlflow:
        in_actions = settings.github.in_actions
        _require(settings.mlflow_tracking_uri, "mlflow-tracking-uri", "is empty but mlflow-run-id is set", in_actions)
        _require(settings.mlflow_run_id, "mlflow-run-id", "is empty but mlflow-tracking-uri is set", in_actions)
    elif settings.metrics_file is None:
        raise ConfigError(
            "metrics-file",
            "the gate needs metrics",
            fix="Set metrics-file to a JSON or YAML file, or mlflow-tracking-uri + mlflow-run-id.",
        )
    if not settings.thresholds and not settings.compare_to_production:
        raise ConfigError(
            "thresholds",
            "the gate has nothing to check",
            fix="Give thresholds such as 'accuracy >= 0.90', or set compare-to-production: true.",
        )


SECRET_INPUTS = ("access-token", "password", "github-token", "signing-key")
SECRET_VARIABLES = ("JF_ACCESS_TOKEN", "JF_PASSWORD", "ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GITHUB_TOKEN")


def secret_values(environ: Mapping[str, str], flags: Mapping[str, str]) -> list[str]:
    """Every secret given to this run, to be masked before anything else is printed."""
    values = [flags.get(alias, "") for alias in SECRET_INPUTS]
    for alias in SECRET_INPUTS:
        values += [
            environ.get(f"INPUT_{alias.upper()}", ""),
            environ.get(f"INPUT_{alias.upper().replace('-', '_')}", ""),
        ]
    values += [environ.get(name, "") for name in SECRET_VARIABLES]
    return [v.strip() for v in values if v.strip()]
