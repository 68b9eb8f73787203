"""JFrog ML (`packageType: machinelearning`) repositories: a model version published the way
JFrog's `frogml` SDK publishes it (jfrog-api.md section 14), through the one ArtifactoryClient.

A version is one transaction: `start-transaction` hands out an upload folder, the files are
deployed there like any other file (checksum first), and the multipart `entity-manifest` PUT lists
them; the server then moves them into `models/<name>/<version>/` beside `model-manifest.json`, where
frogml's `load_model` (and AQL, properties, copy and build promotion) find them.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.errors import ArtifactoryError, ConfigError

PACKAGE_TYPE = "machinelearning"
MODELS_FOLDER = "models"
MANIFEST_NAME = "model-manifest.json"
# frogml's rule for model names and versions (storage/utils/_input_checks_utility.py).
NAME_RULE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
MAX_NAME_CHARS = 60
NAME_FIX = (
    "JFrog ML names and versions use letters, digits, '_' and '-', in segments joined by single dots, "
    f"at most {MAX_NAME_CHARS} characters (for example fraud-detector and 1.4.0)."
)
IMMUTABLE_FIX = "JFrog ML model versions cannot be replaced: set model-version to a new version."


@dataclass(frozen=True)
class Transaction:
    """An open upload: where files go, and the folder to delete if the upload is abandoned."""

    transaction_id: str
    files_path: str
    lead_path: str


@dataclass(frozen=True)
class ManifestFile:
    path: str  # relative to the version folder
    size: int
    sha256: str


def check_name(value: str, input_name: str) -> str:
    if len(value) > MAX_NAME_CHARS or not NAME_RULE.fullmatch(value):
        raise ConfigError(input_name, f"{value!r} cannot name a JFrog ML model version", fix=NAME_FIX)
    return value


def version_folder(name: str, version: str) -> str:
    return f"{MODELS_FOLDER}/{name}/{version}"


def manifest_path(name: str, version: str) -> str:
    return f"{version_folder(name, version)}/{MANIFEST_NAME}"


def _api(repo: str, *parts: str) -> str:
    return "/".join(["api/machinelearning", quote(repo, safe=""), "model", *(quote(p, safe="") for p in parts)])


def start_transaction(client: ArtifactoryClient, repo: str, name: str, version: str) -> Transaction:
    response = client.request(
        "POST",
        _api(repo, name, "start-transaction", version),
        action=f"starting the upload of model {name} version {version}",
    )
    body = response.json()
    try:
        return Transaction(str(body["transactionId"]), str(body["filesUploadPath"]), str(body["leadUploadPath"]))
    except (KeyError, TypeError):
        raise ArtifactoryError(
            f"start-transaction for model {name} version {version} answered without its upload paths: {body!r}",
            fix="Check that repo is a JFrog ML (machinelearning) repository on Artifactory 7.84 or later.",
        ) from None


def publish_manifest(
    client: ArtifactoryClient,
    repo: str,
    name: str,
    version: str,
    *,
    transaction: Transaction,
    manifest: Mapping[str, Any],
    properties: Mapping[str, str],
) -> None:
    """End the transaction: the server checks the listed files and makes the version visible."""
    body, content_type = multipart(
        [("modelManifest", json.dumps(manifest).encode()), ("additionalData", json.dumps(dict(properties)).encode())]
    )
    client.request(
        "PUT",
        _api(repo, "entity-manifest", name, version, transaction.transaction_id),
        body=body,
        headers={"Content-Type": content_type},
        action=f"publishing the manifest of model {name} version {version}",
    )


def read_manifest(client: ArtifactoryClient, repo: str, name: str, version: str) -> dict[str, Any] | None:
    """The version's manifest with a `download_url` per file; None when the version does not exist."""
    response = client.request(
        "GET",
        _api(repo, "entity-manifest", name, version),
        action=f"reading model {name} version {version}",
        expect=(404,),
    )
    if response.status_code == 404:
        return None
    body = response.json()
    return body if isinstance(body, dict) else {}


def build_manifest(files: Iterable[ManifestFile], transaction_id: str, serialization_format: str) -> dict[str, Any]:
    """The manifest frogml's `files` flavour writes (`created_date` from the transaction id)."""
    return {
        "created_date": created_date(transaction_id),
        "model_artifacts": [{"artifact_path": f.path, "size": f.size, "checksums": {"sha2": f.sha256}} for f in files],
        "model_format": {
            "framework": "files",
            "framework_version": "",
            "serialization_format": serialization_format,
            "runtime": "python",
            "runtime_version": platform.python_version(),
        },
    }


def manifest_files(manifest: Mapping[str, Any]) -> list[ManifestFile]:
    """The model files a manifest lists (dependencies and code archives are not model files)."""
    found = []
    for entry in manifest.get("model_artifacts") or []:
        if not isinstance(entry, dict):
            continue
        checksums, size = entry.get("checksums"), entry.get("size")
        checksums = checksums if isinstance(checksums, dict) else {}
        size = size if isinstance(size, int) else -1
        found.append(ManifestFile(str(entry.get("artifact_path", "")), size, str(checksums.get("sha2", ""))))
    return found


def download_urls(manifest: Mapping[str, Any]) -> dict[str, str]:
    return {
        str(entry.get("artifact_path")): str(entry.get("download_url", ""))
        for entry in manifest.get("model_artifacts") or []
        if isinstance(entry, dict)
    }


def serialization_format(paths: Iterable[tuple[str, int]]) -> str:
    """The extension of the largest file (frogml records the model file's extension)."""
    largest = max(paths, key=lambda item: item[1], default=("", 0))[0]
    return PurePosixPath(largest).suffix.lstrip(".")


def created_date(transaction_id: str) -> str:
    """Epoch milliseconds as frogml writes `created_date` (`2026-12-03T10:00:00.12`)."""
    moment = dt.datetime.fromtimestamp(int(transaction_id) / 1000, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]


def multipart(parts: Iterable[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of `(name, JSON bytes)` parts, as frogml sends the manifest."""
    boundary = secrets.token_hex(16)
    chunks = []
    for name, data in parts:
        chunks += [
            f"--{boundary}\r\n".encode(),
            f'Content-Disposition: form-data; name="{name}"; filename="{name}"\r\n'.encode(),
            b"Content-Type: application/octet-stream\r\n\r\n",
            data,
            b"\r\n",
        ]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
