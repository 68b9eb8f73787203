"""The typed, frozen settings of one run, and how each input is checked.

Every action input is a field here: its alias is the input's name (`model-path`), its description
and default are what `action.yml` shows (a test keeps them in step). Values arrive as strings from
`inputs.py` and are parsed by the validators below, so bad input fails before anything happens.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.functional_validators import BeforeValidator

from ml_artifactory_action.artifactory.properties import Properties, parse_properties
from ml_artifactory_action.model.pickle_policy import parse_allowed_global
from ml_artifactory_action.model.thresholds import Threshold, parse_thresholds


class Stage(enum.StrEnum):
    """Pipeline stages, declared in the order they always run."""

    CONFIGURE = "configure"
    GATE = "gate"
    UPLOAD = "upload"
    BUILD_PUBLISH = "build-publish"
    SCAN = "scan"
    PROMOTE = "promote"
    RESOLVE = "resolve"


class ModelCardMode(enum.StrEnum):
    """When upload adds a README.md model card to a model without one (`model-card`)."""

    AUTO = "auto"  # Hugging Face repositories, where the Hub shows it
    ALWAYS = "always"
    NONE = "none"


class SignMode(enum.StrEnum):
    """How upload signs the model folder (`sign`)."""

    NONE = "none"
    SIGSTORE = "sigstore"
    KEY = "key"
    CERTIFICATE = "certificate"


TRUE_WORDS = frozenset({"true", "True", "TRUE"})
FALSE_WORDS = frozenset({"false", "False", "FALSE"})
DEFAULT_ENV_EXCLUDE = "*password*;*psw*;*secret*;*key*;*token*;*auth*"
STAGING_REPO = "ml-models-staging-local"
PROD_REPO = "ml-models-prod-local"
MAX_WORKERS_LIMIT = 32
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _boolean(value: Any) -> Any:
    """YAML 1.2 core-schema booleans, as actions/toolkit's getBooleanInput accepts them."""
    if isinstance(value, str):
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        raise ValueError(f"{value!r} is not a boolean; use true or false")
    return value


def _lines(value: Any) -> Any:
    """One item per line (or comma-separated), blanks dropped."""
    if isinstance(value, str):
        return tuple(p.strip() for line in value.splitlines() for p in line.split(",") if p.strip())
    return value


def _path_lines(value: Any) -> Any:
    """Paths and globs one per line; commas are legal in file names, so only new lines split."""
    if isinstance(value, str):
        return tuple(line.strip() for line in value.splitlines() if line.strip())
    return value


def _empty_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Bool = Annotated[bool, BeforeValidator(_boolean)]
Secret = Annotated[SecretStr | None, BeforeValidator(_empty_is_none)]
OptionalPath = Annotated[Path | None, BeforeValidator(_empty_is_none)]


def input_name(field: str) -> str:
    """An input's name is its field's with hyphens (`dry_run` is `dry-run`), unless it says `alias=`."""
    return field.replace("_", "-")


def _input(default: Any, description: str, *, action_default: str | None = None, **kw: Any) -> Any:
    extra: dict[str, Any] | None = {"action_default": action_default} if action_default is not None else None
    return Field(default, description=description, json_schema_extra=extra, **kw)


class GitHubContext(BaseModel):
    """What the runner tells us about the run (GITHUB_* variables and the event file)."""

    model_config = ConfigDict(frozen=True)

    repository: str = ""
    server_url: str = "https://github.com"
    api_url: str = "https://api.github.com"
    run_id: str = ""
    run_number: str = ""
    run_attempt: str = ""
    sha: str = ""
    ref: str = ""
    ref_name: str = ""
    head_ref: str = ""
    workflow: str = ""
    job: str = ""
    actor: str = ""
    event_name: str = ""
    event_path: Path | None = None
    workspace: Path | None = None
    output_path: Path | None = None
    env_path: Path | None = None
    summary_path: Path | None = None
    debug: bool = False
    # GITHUB_ACTIONS=true: a runner started this process (else a person at a terminal, or a script).
    actions: bool = False
    id_token_request_url: str = ""
    id_token_request_token: SecretStr | None = None
    # The whole environment, for build-info's filtered `env` section only; never printed.
    environment: dict[str, str] = Field(default_factory=dict, repr=False)
    # The event that triggered the run (GITHUB_EVENT_PATH), {} when absent or unreadable.
    event: dict[str, Any] = Field(default_factory=dict, repr=False)

    @property
    def pull_request_number(self) -> int | None:
        """The pull request this run belongs to (pull_request / pull_request_target events)."""
        pull = self.event.get("pull_request")
        number = pull.get("number") if isinstance(pull, dict) else None
        return number if isinstance(number, int) and not isinstance(number, bool) else None

    @property
    def commit_message(self) -> str:
        """The pushed head commit's message (push events), or ''."""
        head = self.event.get("head_commit")
        message = head.get("message") if isinstance(head, dict) else None
        return message if isinstance(message, str) else ""

    @property
    def can_request_id_token(self) -> bool:
        """The job may ask the runner for a GitHub ID token (it has `permissions: id-token: write`)."""
        return bool(self.id_token_request_url and self.id_token_request_token)

    @property
    def in_actions(self) -> bool:
        """Run by GitHub Actions (GITHUB_ACTIONS, or the runner's file commands are there)."""
        return self.actions or self.output_path is not None

    @property
    def run_url(self) -> str:
        if not (self.repository and self.run_id):
            return ""
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @property
    def repository_url(self) -> str:
        return f"{self.server_url}/{self.repository}" if self.repository else ""


class Settings(BaseModel):
    """Every input of the action, parsed and checked. Field aliases are the input names (`input_name`)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="forbid", alias_generator=input_name)

    # Connection
    url: str = _input(
        "", "JFrog Platform URL, e.g. https://acme.jfrog.io (Artifactory is under /artifactory). Defaults to JF_URL."
    )
    access_token: Secret = _input(None, "JFrog access token. Defaults to JF_ACCESS_TOKEN. Prefer OIDC.")
    user: str = _input("", "User for basic authentication (with password). Defaults to JF_USER.")
    password: Secret = _input(None, "Password or token for basic authentication. Defaults to JF_PASSWORD.")
    oidc_provider_name: str = _input(
        "",
        "Name of the OIDC integration configured in JFrog; logs in with the job's GitHub ID token (needs permissions: id-token: write). With access-token too, OIDC is used when the job can request an ID token, else the token.",
    )
    oidc_audience: str = _input(
        "",
        "Audience of the GitHub ID token requested for OIDC (the one set on the JFrog integration).",
    )
    ca_bundle: OptionalPath = _input(None, "PEM file of CA certificates for a JFrog server with a private CA.")

    # Run
    stages: tuple[Stage, ...] = _input(
        (Stage.UPLOAD,),
        "Stages to run, comma or newline separated: configure, gate, upload, build-publish, scan, promote, resolve. They always run in that order.",
        action_default="upload",
    )
    dry_run: Bool = _input(False, "Show what each stage would do without changing anything.", action_default="false")
    github_token: Secret = _input(
        None,
        "GitHub token for the PR comment and deployments.",
        action_default="${{ github.token }}",
    )
    pr_comment: Bool = _input(
        True,
        "Post the model report as a comment on pull requests (updated in place).",
        action_default="true",
    )

    # Upload
    model_path: tuple[str, ...] = _input(
        (),
        "Model files, folders or globs, one per line, relative to the workspace (in GitHub Actions they must stay inside it).",
    )
    model_name: str = _input(
        "",
        "Model name; defaults to the repository name (outside GitHub Actions: the model folder's name).",
    )
    model_version: str = _input(
        "",
        "Model version; defaults to the run number (outside GitHub Actions: the time of the run, UTC, as YYYYMMDD.HHMMSS).",
    )
    repo: str = _input(
        STAGING_REPO,
        "Repository the model is uploaded to. A Hugging Face (huggingfaceml) repository gets one revision through the"
        " Hugging Face protocol: model-name is then 'organization/name', the revision model-version or the commit."
        " A JFrog ML (machinelearning) repository gets version model-version of model-name with its manifest, as"
        " frogml's log_model writes it (models/<name>/<version>/); versions cannot be replaced.",
        action_default=STAGING_REPO,
    )
    target_path: str = _input(
        "{model-name}/{model-version}/",
        "Path in the repository; {model-name} and {model-version} are replaced; folder structure is kept under it.",
        action_default="{model-name}/{model-version}/",
    )
    properties: Properties = _input(
        (), "Extra properties for every uploaded file: key=value pairs separated by ';' or new lines."
    )
    overwrite: Bool = _input(
        False,
        "Replace files at the target path that hold other content. Without it a model version is written once: an upload that would replace other content stops before sending anything.",
        action_default="false",
    )
    max_workers: int = _input(4, "Files uploaded in parallel.", ge=1, le=MAX_WORKERS_LIMIT, action_default="4")
    allow_unsafe_pickle: Bool = _input(
        False,
        "Upload even when a file would run code when loaded (pickle globals, Lambda layers). Dangerous.",
        action_default="false",
    )
    allowed_globals: tuple[str, ...] = _input(
        (),
        "Pickle globals the unsafe-model scan also accepts, one per line: 'module.Name' (e.g. mypkg.models.Net) or 'module.*' for a package of yours. Names that run code are never accepted here (see allow-unsafe-pickle).",
    )
    hash_cache_dir: OptionalPath = _input(
        None,
        "Folder where file checksums are remembered between steps and runs (by path, size, mtime, ctime and inode), so unchanged files are not hashed again. Default: $XDG_CACHE_HOME or $HOME/.cache, under ml-artifactory-action.",
    )

    # Signing (OpenSSF model signing, OMS format)
    sign: SignMode = _input(
        SignMode.NONE,
        "Sign the model folder before upload (OpenSSF model signing, the OMS file model.sig uploaded with it): none,"
        " sigstore (keyless with the job's GitHub identity; needs permissions: id-token: write), key (signing-key)"
        " or certificate (signing-key + signing-certificate-chain).",
        action_default="none",
    )
    signing_key: Secret = _input(
        None,
        "PEM private key (elliptic curve P-256/384/521) for sign: key or certificate. Pass it from a secret; it is masked.",
    )
    signing_certificate_chain: str = _input(
        "",
        "PEM certificates for sign: certificate: the signing certificate first (it must hold signing-key's public key), then its intermediates.",
    )
    verify_signature: Bool = _input(
        False,
        "resolve (before handing the files over) and promote (model.sig against the checksums Artifactory holds) refuse a model whose model.sig does not verify with verify-public-key, verify-certificate-chain or verify-identity + verify-issuer.",
        action_default="false",
    )
    verify_public_key: str = _input("", "PEM public key that must have signed the model (sign: key).")
    verify_certificate_chain: str = _input(
        "",
        "PEM CA certificates the signing certificate must chain to (sign: certificate).",
    )
    verify_identity: str = _input(
        "",
        "Sigstore: the identity that must have signed, e.g. https://github.com/acme/models/.github/workflows/train.yml@refs/heads/main.",
    )
    verify_issuer: str = _input(
        "",
        "Sigstore: the OIDC issuer of that identity, e.g. https://token.actions.githubusercontent.com.",
    )

    sigstore_trust_config: OptionalPath = _input(
        None,
        "Sigstore ClientTrustConfig JSON (Fulcio, Rekor, trusted root) for a private Sigstore deployment; empty: the public instance.",
    )

    # Gate
    metrics_file: OptionalPath = _input(
        None, "JSON or YAML file with the candidate's metrics (nested keys by dotted path)."
    )
    mlflow_tracking_uri: str = _input(
        "",
        "MLflow tracking server to read the run's metrics from (instead of metrics-file).",
    )
    mlflow_run_id: str = _input("", "MLflow run whose metrics are gated.")
    thresholds: tuple[Threshold, ...] = _input((), "One per line: '<metric> <op> <number>', e.g. 'accuracy >= 0.90'.")
    compare_to_production: Bool = _input(
        False,
        "Also fail when the candidate is worse than the model now in production by more than max-regression.",
        action_default="false",
    )
    max_regression: float = _input(
        0.0,
        "Largest allowed drop (absolute) of a thresholded metric against production.",
        ge=0.0,
        action_default="0",
    )

    # Build info
    build_name: str = _input(
        "",
        "Build name used by every stage; defaults to the repository name (outside GitHub Actions: the model name).",
    )
    build_number: str = _input(
        "",
        "Build number used by every stage; defaults to the run number (outside GitHub Actions, when uploading: the model version).",
    )
    project: str = _input("", "JFrog project key.")
    dependencies_file: OptionalPath = _input(
        None, "Python dependencies to record: requirements, lock or pip freeze file."
    )
    license: str = _input(
        "",
        "The model's license for the AI-BOM and the model card: an SPDX id or expression (Apache-2.0, MIT OR Apache-2.0) or a name.",
    )
    base_model: str = _input(
        "",
        "The model this one was fine-tuned from (e.g. google-bert/bert-base-uncased), for the AI-BOM and the model card.",
    )
    task: str = _input("", "What the model does (e.g. text-classification), for the AI-BOM and the model card.")
    model_card: ModelCardMode = _input(
        ModelCardMode.AUTO,
        "Add a README.md model card (Hugging Face metadata: license, tags, datasets, base_model, model-index with the gate's metrics) to a model that has none: auto (Hugging Face repositories), always, or none. A README.md among the model's files is never replaced.",
        action_default="auto",
    )
    datasets: tuple[str, ...] = _input(
        (),
        "Data sets the model was trained and evaluated on, one per line, for the AI-BOM and the model card. Default: the MLflow run's dataset inputs when the metrics come from MLflow.",
    )
    env_include: str = _input(
        "*",
        "Environment variables to record in build-info, ';'-separated wildcards.",
        action_default="*",
    )
    env_exclude: str = _input(
        DEFAULT_ENV_EXCLUDE,
        "Environment variables never recorded, ';'-separated wildcards (secrets are always dropped).",
        action_default=DEFAULT_ENV_EXCLUDE,
    )

    # Scan
    scan_timeout: int = _input(
        600,
        "Seconds to wait for Xray to index and scan the build.",
        ge=1,
        le=86_400,
        action_default="600",
    )
    fail_on_violations: Bool = _input(True, "Fail when Xray's policy says the build fails.", action_default="true")

    # Promote
    source_repo: str = _input("", "Repository promoted from; defaults to repo.")
    target_repo: str = _input(PROD_REPO, "Repository promoted to.", action_default=PROD_REPO)
    status: str = _input("Production", "Build status set by the promotion.", action_default="Production")
    comment: str = _input("", "Promotion comment.")
    copy_artifacts: Bool = _input(
        True, "Copy artifacts on promotion (false moves them).", alias="copy", action_default="true"
    )
    rollback: Bool = _input(
        False, "Promote the build that was in production before the current one.", action_default="false"
    )
    deployment_environment: str = _input(
        "production",
        "GitHub deployment environment recorded on promotion.",
        action_default="production",
    )
    create_deployment: Bool = _input(
        True,
        "Record the promotion as a GitHub deployment. Set false in a job with `environment:`: GitHub records that job's deployment itself (give the environment's `url:` this step's build-url output).",
        action_default="true",
    )

    # Resolve
    download_dir: Path = _input(Path("model"), "Where resolve downloads the model.", action_default="model")
    resolve_build: str = _input("", "Build number to fetch; empty fetches the latest build with the promotion status.")
    resolve_properties: Properties = _input(
        (), "Fetch the files in target-repo that carry these properties instead of a build."
    )

    # Configure
    pypi_repo: str = _input("", "PyPI repository (remote or virtual) that pip should install from.")
    hf_repo: str = _input("", "Hugging Face repository that huggingface_hub should pull models through.")

    # Not inputs: what the runner says about the run, and (outside Actions) the defaults chosen
    # for inputs nobody gave, as (input, value), for the log.
    github: GitHubContext = Field(default_factory=GitHubContext, exclude=True)
    local_defaults: tuple[tuple[str, str], ...] = Field(default=(), exclude=True)

    @field_validator("stages", mode="before")
    @classmethod
    def _parse_stages(cls, value: Any) -> Any:
        names = _lines(value)
        known = ", ".join(s.value for s in Stage)
        for name in names:
            if name not in {s.value for s in Stage}:
                raise ValueError(f"unknown stage {name!r}; choose from {known}")
        if not names:
            raise ValueError(f"no stage given; choose from {known}")
        return tuple(sorted({Stage(n) for n in names}, key=list(Stage).index))

    @field_validator("model_path", mode="before")
    @classmethod
    def _parse_paths(cls, value: Any) -> Any:
        return _path_lines(value)

    @field_validator("datasets", mode="before")
    @classmethod
    def _parse_datasets(cls, value: Any) -> Any:
        return _path_lines(value)

    @field_validator("allowed_globals", mode="before")
    @classmethod
    def _parse_globals(cls, value: Any) -> Any:
        return tuple(parse_allowed_global(entry) for entry in _lines(value))

    @field_validator("properties", "resolve_properties", mode="before")
    @classmethod
    def _parse_properties(cls, value: Any) -> Any:
        return parse_properties(value) if isinstance(value, str) else value

    @field_validator("thresholds", mode="before")
    @classmethod
    def _parse_thresholds(cls, value: Any) -> Any:
        return parse_thresholds(value) if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value.endswith("/artifactory"):
            value = value.removesuffix("/artifactory")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL; give the platform URL, e.g. https://acme.jfrog.io")
        if "@" in urlsplit(value).netloc:  # the value itself is not shown: it holds a password
            raise ValueError(
                "carries a user name or password (user:password@host), which would be shown in every link "
                "of the report and the outputs; give the URL without them, and the credentials in "
                "user + password or access-token, which are masked"
            )
        return value

    @field_validator("build_name", "build_number", "model_name", "model_version")
    @classmethod
    def _check_name(cls, value: str) -> str:
        """Names that end up in URL path segments, properties and the report, each whole."""
        value = value.strip()
        if _CONTROL_CHARS.search(value):
            raise ValueError(f"{value!r} contains a control character (a new line or tab); give it on one line")
        if value in (".", ".."):
            raise ValueError(f"{value!r} is not a name: it would be read as a folder of the URL")
        return value

    # Derived values: the same pair is used by every stage.
    @property
    def effective_model_name(self) -> str:
        return self.model_name or self.github.repository.rpartition("/")[2]

    @property
    def effective_model_version(self) -> str:
        return self.model_version or self.github.run_number

    @property
    def effective_build_name(self) -> str:
        return self.build_name or self.github.repository.rpartition("/")[2]

    @property
    def effective_build_number(self) -> str:
        return self.build_number or self.github.run_number

    @property
    def effective_source_repo(self) -> str:
        return self.source_repo or self.repo

    @property
    def artifactory_url(self) -> str:
        return f"{self.url}/artifactory"


NOT_INPUTS = frozenset({"github", "local_defaults"})
# Which model field a validator error belongs to, by input name (for the error message).
INPUT_NAMES: dict[str, str] = {
    name: (field.alias or name) for name, field in Settings.model_fields.items() if name not in NOT_INPUTS
}
