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
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ml_artifactory_action.errors import ConfigError
from ml_artifactory_action.settings import INPUT_NAMES, GitHubContext, Settings, Stage

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


def load_settings(environ: Mapping[str, str], flags: Mapping[str, str] | None = None) -> Settings:
    """Build the settings of this run; raise ConfigError naming the first bad input."""
    raw: dict[str, Any] = {}
    for alias in INPUT_NAMES.values():
        value = _raw_input(alias, environ, flags or {})
        if value is not None:
            raw[alias] = value
    raw["github"] = github_context(environ)
    raw.setdefault("hash-cache-dir", default_cache_dir(environ))
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(exc) from None
    check_combinations(settings)
    return settings


def _raw_input(alias: str, environ: Mapping[str, str], flags: Mapping[str, str]) -> str | None:
    candidates = [
        flags.get(alias),
        environ.get(f"INPUT_{alias.upper()}"),
        environ.get(f"INPUT_{alias.upper().replace('-', '_')}"),
        environ.get(JFROG_FALLBACKS.get(alias, "")),
    ]
    return next((c for c in candidates if c is not None and c.strip() != ""), None)


def _config_error(exc: ValidationError) -> ConfigError:
    error = exc.errors()[0]
    loc = error["loc"][0] if error["loc"] else ""
    name = INPUT_NAMES.get(str(loc), str(loc))
    message = str(error["msg"]).removeprefix("Value error, ")
    return ConfigError(name, message, fix=_fix_for(name))


def _fix_for(input_name: str) -> str:
    description = Settings.model_fields[_field_of(input_name)].description or ""
    return f"Set `{input_name}` in the step's `with:`. {description}"


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
    _check_connection(settings, stages)
    _check_repo_keys(settings)
    if Stage.UPLOAD in stages:
        _check_upload(settings)
    if Stage.GATE in stages:
        _check_gate(settings)
    if _needs_build_name(settings, stages):
        _require(settings.effective_build_name, "build-name", "is empty and GITHUB_REPOSITORY is not set")
    if stages & {Stage.BUILD_PUBLISH, Stage.SCAN} or (Stage.PROMOTE in stages and not settings.rollback):
        _require(settings.effective_build_number, "build-number", "is empty and GITHUB_RUN_NUMBER is not set")
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


def _require(value: str, input_name: str, why: str) -> None:
    if not value:
        raise ConfigError(input_name, why, fix=_fix_for(input_name))


def _check_connection(settings: Settings, stages: set[Stage]) -> None:
    needs_server = bool(stages - {Stage.GATE}) or settings.compare_to_production
    if needs_server:
        _require(settings.url, "url", "is empty and JF_URL is not set")
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
    _require(",".join(settings.model_path), "model-path", "is empty: nothing to upload")
    _require(settings.effective_model_name, "model-name", "is empty and GITHUB_REPOSITORY is not set")
    _require(settings.effective_model_version, "model-version", "is empty and GITHUB_RUN_NUMBER is not set")
    parts = settings.target_path.replace("\\", "/").split("/")
    if ".." in parts:
        raise ConfigError(
            "target-path",
            f"{settings.target_path!r} climbs out of the repository with '..'",
            fix="Give a path inside the repository, e.g. {model-name}/{model-version}/.",
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
        _require(settings.mlflow_tracking_uri, "mlflow-tracking-uri", "is empty but mlflow-run-id is set")
        _require(settings.mlflow_run_id, "mlflow-run-id", "is empty but mlflow-tracking-uri is set")
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


SECRET_INPUTS = ("access-token", "password", "github-token")
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
