"""Where a JFrog ML (`machinelearning`) repository keeps entity versions, and the names it takes.

The layout is the one `frogml` reads back (jfrog-api.md section 14): `models/<name>/<version>/`
(or `datasets/...`) holds the manifest (`model-manifest.json`, which frogml refuses to upload as
an artifact) beside the version's files; a model's dependency files and code archive sit in its
`dependencies/` and `code/` sub-folders. An open transaction's uploads go below
`models/<name>/tmp/<version>/<transactionId>/` (frogml reads the version back as the first segment
after `models/<name>/tmp/`) and move into place when the manifest is PUT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .http import HttpError

# frogml's own rule for names, namespaces and versions (storage/utils/_input_checks_utility.py).
SEGMENT = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
MAX_SEGMENT_CHARS = 60
TMP_FOLDER = "tmp"


@dataclass(frozen=True)
class EntityKind:
    """`model` or `dataset`: its folder, manifest file, multipart part and artifact list key."""

    entity_type: str
    folder: str
    manifest_name: str
    manifest_part: str
    artifacts_key: str


KINDS = {
    "model": EntityKind("model", "models", "model-manifest.json", "modelManifest", "model_artifacts"),
    "dataset": EntityKind("dataset", "datasets", "dataset-manifest.json", "datasetManifest", "dataset_artifacts"),
}
# Manifest sections -> (transaction sub-folder, sub-folder of the version folder).
SECTIONS = {
    "artifacts": ("files", ""),
    "dependency_artifacts": ("dependencies", "dependencies"),
    "code_artifacts": ("code", "code"),
}


def check_segment(value: str, what: str) -> str:
    if len(value) > MAX_SEGMENT_CHARS or not SEGMENT.fullmatch(value):
        raise HttpError(
            400,
            f"Invalid {what} '{value}': use letters, digits, '_' and '-', segments joined by single dots, "
            f"at most {MAX_SEGMENT_CHARS} characters",
        )
    return value


def check_name(name: str) -> str:
    """`name` or `namespace/name`."""
    segments = name.split("/")
    if len(segments) > 2:
        raise HttpError(400, f"Invalid name '{name}': at most one namespace ('namespace/name')")
    for segment in segments:
        check_segment(segment, "name")
    return name


@dataclass(frozen=True)
class EntityVersion:
    kind: EntityKind
    name: str
    version: str

    @classmethod
    def parse(cls, entity_type: str, name: str, version: str) -> EntityVersion:
        return cls(KINDS[entity_type], check_name(name), check_segment(version, "version"))

    @property
    def folder(self) -> str:
        return f"{self.kind.folder}/{self.name}/{self.version}"

    @property
    def manifest_path(self) -> str:
        return f"{self.folder}/{self.kind.manifest_name}"

    @property
    def label(self) -> str:
        return f"{self.kind.entity_type} '{self.name}' version '{self.version}'"

    def transaction_folder(self, transaction_id: str) -> str:
        return f"{self.kind.folder}/{self.name}/{TMP_FOLDER}/{self.version}/{transaction_id}"

    def upload_path(self, transaction_id: str, section: str) -> str:
        return f"{self.transaction_folder(transaction_id)}/{SECTIONS[section][0]}"

    def stored_path(self, section: str, artifact_path: str) -> str:
        sub = SECTIONS[section][1]
        return "/".join(part for part in (self.folder, sub, artifact_path) if part)
