"""The error hierarchy, named for what the user must fix.

Only the entrypoint (`__main__.py`) turns these into an annotation, a summary section and an exit
code. Every error carries a one-line `title` for the annotation, a `message` saying what is wrong,
and a `fix` saying what to do next.
"""

from __future__ import annotations


class ActionError(Exception):
    """Base class: something the user can act on. Anything else escaping is a bug in the action."""

    title = "ml-artifactory-action failed"

    def __init__(self, message: str, *, fix: str = "", title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        if title is not None:
            self.title = title


class ConfigError(ActionError):
    """An input is missing, malformed or conflicts with another: fix the workflow's `with:`."""

    title = "Invalid input"

    def __init__(self, input_name: str, message: str, *, fix: str = "") -> None:
        super().__init__(f"Input '{input_name}': {message}", fix=fix, title=f"Invalid input '{input_name}'")
        self.input_name = input_name


class MissingInputsError(ConfigError):
    """Several required inputs are missing: named all at once, so that one edit fixes the run."""

    title = "Missing inputs"

    def __init__(self, input_names: list[str], message: str, *, fix: str = "") -> None:
        ActionError.__init__(self, message, fix=fix)
        self.input_name = input_names[0]
        self.input_names = input_names


class ModelFilesError(ActionError):
    """The model files selected by `model-path` cannot be used (missing, empty, unreadable)."""

    title = "Model files not usable"


class TargetTakenError(ActionError):
    """A target path holds other content than this run's (a model version is written once), or
    another run wrote it while this one uploaded."""

    title = "Target path holds other content"


class UnsafeModelError(ActionError):
    """A model file runs code when loaded (pickle globals, Lambda layers); nothing was uploaded."""

    title = "Unsafe model file refused"


class GateFailedError(ActionError):
    """The candidate's metrics do not meet the thresholds or regress against production."""

    title = "Quality gate failed"


class MetricsError(ActionError):
    """The metrics could not be read (bad file, missing metric, MLflow run not found)."""

    title = "Metrics not readable"


class ArtifactoryError(ActionError):
    """Artifactory (or Xray / Access) answered with an error or could not be reached."""

    title = "Artifactory request failed"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str = "",
        request_id: str = "",
        fix: str = "",
        title: str | None = None,
    ) -> None:
        super().__init__(message, fix=fix, title=title)
        self.status = status
        self.url = url
        self.request_id = request_id


class AuthenticationError(ArtifactoryError):
    """The credentials were refused (401) or lack a permission (403)."""

    title = "Artifactory refused the credentials"


class OIDCError(ActionError):
    """The GitHub OIDC token could not be obtained or JFrog would not exchange it."""

    title = "OIDC login failed"


class IntegrityError(ActionError):
    """What the server stored does not match what we sent (checksums), or a download is corrupt."""

    title = "Checksum mismatch"


class SigningError(ActionError):
    """The model could not be signed (unusable key or certificate, no ID token, Sigstore unreachable); nothing was uploaded."""

    title = "Model not signed"


class SignatureError(ActionError):
    """A model's signature is missing, from someone else, or does not match its files; nothing was handed over."""

    title = "Model signature refused"


class ScanFailedError(ActionError):
    """Xray found policy violations that fail the build."""

    title = "Xray scan failed"


class ScanTimeoutError(ActionError):
    """Xray did not finish indexing or scanning within `scan-timeout`."""

    title = "Xray scan timed out"


class PromotionError(ActionError):
    """The build could not be promoted (missing build, conflicts, nothing to roll back to)."""

    title = "Promotion failed"


class ResolveError(ActionError):
    """No model matched what `resolve` was asked to fetch."""

    title = "Model not found"


class GitHubAPIError(ActionError):
    """GitHub's API refused a comment or deployment (token scope, permissions)."""

    title = "GitHub API request failed"
