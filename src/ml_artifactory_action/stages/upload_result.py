"""What the upload stage produced: the stored files, the summary table and the outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ml_artifactory_action.artifactory.properties import Properties
from ml_artifactory_action.artifactory.search import Item
from ml_artifactory_action.runner import Runner, human_size

# A file uploaded with allow-unsafe-pickle carries this property, one value per global it imports,
# so whoever promotes the build (or searches by property) sees what loading it would run.
UNSAFE_GLOBALS_PROPERTY = "model.unsafe-globals"
CANNOT_BE_CHECKED = "(cannot be checked)"


@dataclass(frozen=True)
class UploadedArtifact:
    """One file of the model as it is (or, in a dry run, would be) stored."""

    local_path: str
    repo: str
    path: str
    size: int
    sha1: str
    sha256: str
    md5: str
    download_uri: str
    sent: bool  # bytes were sent; False: deployed by checksum (deduplicated)
    already_present: bool = False  # the target held this content before the run
    unsafe_globals: tuple[str, ...] = ()  # uploaded with allow-unsafe-pickle: what loading it imports

    @classmethod
    def stored(cls, item: Item, url: str, *, local_path: str, sent: bool, present: bool = False) -> UploadedArtifact:
        """A file as the server reports it after a Hugging Face commit or a JFrog ML publish."""
        return cls(
            local_path, item.repo, item.repo_path, item.size, item.sha1, item.sha256, item.md5, url, sent, present
        )

    def as_output(self) -> dict[str, Any]:
        output: dict[str, Any] = {
            "repo": self.repo,
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "download_url": self.download_uri,
        }
        if self.unsafe_globals:
            output["unsafe_globals"] = list(self.unsafe_globals)
        return output


@dataclass(frozen=True)
class UploadResult:
    """What the upload stage did, for outputs, the report and build-publish."""

    repo: str
    folder: str
    model_url: str
    artifacts: tuple[UploadedArtifact, ...]
    properties: Properties
    build_timestamp: str
    dry_run: bool = False
    signed_by: str = ""  # who signed model.sig (sign), as people read it

    @property
    def uploaded_bytes(self) -> int:
        return sum(a.size for a in self.artifacts if a.sent)

    @property
    def deduplicated_files(self) -> int:
        return sum(not a.sent for a in self.artifacts)

    @property
    def unsafe(self) -> tuple[UploadedArtifact, ...]:
        return tuple(a for a in self.artifacts if a.unsafe_globals)

    def summary_markdown(self) -> str:
        """The step summary's upload section: one row per file."""
        verb = "would be uploaded" if self.dry_run else "uploaded"
        lines = [
            f"### Model files {verb} to `{self.repo}/{self.folder}`",
            "",
            "| File | Size | SHA-256 | Transfer |",
            "| --- | ---: | --- | --- |",
        ]
        lines += [_summary_row(a, self.folder, dry_run=self.dry_run) for a in self.artifacts]
        sent = human_size(self.uploaded_bytes)
        lines += [
            "",
            f"{len(self.artifacts)} files, {sent} {'to send' if self.dry_run else 'sent'}, "
            f"{self.deduplicated_files} deduplicated. [Browse]({self.model_url})",
        ]
        if self.signed_by:
            lines += ["", f"Signed (OpenSSF model signing, `model.sig`) by {self.signed_by}."]
        return "\n".join(lines) + "\n"


def unsafe_markdown(result: UploadResult) -> str:
    """The warning for whoever approves the promotion: files that run code when loaded."""
    if not result.unsafe:
        return ""
    count = len(result.unsafe)
    files = "1 model file that runs" if count == 1 else f"{count} model files that run"
    verb = ("would be" if result.dry_run else "was" if count == 1 else "were") + " uploaded"
    lines = [
        f"### :warning: {files} code when loaded {verb} (allow-unsafe-pickle)",
        "",
        f"Each carries the property `{UNSAFE_GLOBALS_PROPERTY}`. Review them before approving the promotion.",
        "",
        "| File | Loading it imports |",
        "| --- | --- |",
    ]
    lines += [
        f"| [{a.path}]({a.download_uri}) | {', '.join(f'`{g}`' for g in a.unsafe_globals)} |" for a in result.unsafe
    ]
    return "\n".join(lines) + "\n"


def unsafe_globals_properties(unsafe: Mapping[Path, tuple[str, ...]]) -> dict[str, Properties]:
    """The extra property of each unsafe file, by local path (as `UploadedArtifact.local_path`)."""
    return {str(path): ((UNSAFE_GLOBALS_PROPERTY, names),) for path, names in unsafe.items()}


def flag_unsafe(artifact: UploadedArtifact, unsafe: Mapping[Path, tuple[str, ...]]) -> UploadedArtifact:
    names = unsafe.get(Path(artifact.local_path), ())
    return replace(artifact, unsafe_globals=names) if names else artifact


def _summary_row(artifact: UploadedArtifact, folder: str, *, dry_run: bool) -> str:
    name = artifact.path.removeprefix(folder.rstrip("/") + "/") if folder else artifact.path
    if dry_run:
        transfer = (
            "already there" if artifact.already_present else "would send" if artifact.sent else "would deduplicate"
        )
    else:
        transfer = "sent" if artifact.sent else "deduplicated"
    short = f"`{artifact.sha256[:12]}`" if artifact.sha256 else "-"
    if artifact.unsafe_globals:
        transfer += " :warning: runs code when loaded"
    return f"| [{name}]({artifact.download_uri}) | {human_size(artifact.size)} | {short} | {transfer} |"


def dry_verb(artifact: UploadedArtifact) -> str:
    if artifact.already_present:
        return "already there with the same content"
    return "would be sent" if artifact.sent else "would be deduplicated (the server has its content)"


def set_outputs(runner: Runner, result: UploadResult) -> None:
    runner.set_output("artifacts", json.dumps([a.as_output() for a in result.artifacts]))
    runner.set_output("model-url", result.model_url)
    if len(result.artifacts) == 1:
        runner.set_output("model-sha256", result.artifacts[0].sha256)
    runner.set_output("uploaded-bytes", str(result.uploaded_bytes))
    runner.set_output("deduplicated-files", str(result.deduplicated_files))
