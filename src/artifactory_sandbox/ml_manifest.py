"""Entity manifests of JFrog ML repositories: the multipart PUT that ends a transaction, and the
manifest read back with a `download_url` per artifact (jfrog-api.md section 14).

The manifest as frogml sends it: `{"created_date", "model_artifacts"|"dataset_artifacts": [{"artifact_path",
"size", "checksums": {"sha2"}}], "model_format": {...}, "dependency_artifacts": [...],
"code_artifacts": {...}}`; `id` and `version` are added by the server.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import quote

from .http import HttpError, Request
from .ml_layout import EntityKind, EntityVersion
from .paths import DOT_SEGMENTS, FORBIDDEN_IN_SEGMENT
from .props import Properties, check_key

MAX_MULTIPART_BYTES = 16 * 1024 * 1024  # a manifest lists files; it never carries one
SHA256_HEX_CHARS = 64


@dataclass(frozen=True)
class ManifestFile:
    """One artifact a manifest lists: its section, path inside it, size and sha256."""

    section: str
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Submission:
    manifest: dict[str, Any]
    files: list[ManifestFile]
    properties: Properties


def read_submission(req: Request, kind: EntityKind) -> Submission:
    """The multipart body of `PUT .../entity-manifest/...`: the manifest part and `additionalData`."""
    parts = _multipart(req)
    if kind.manifest_part not in parts:
        raise HttpError(400, f"Missing multipart part '{kind.manifest_part}'")
    manifest = _json_part(parts[kind.manifest_part], kind.manifest_part)
    if not isinstance(manifest, dict):
        raise HttpError(400, f"Part '{kind.manifest_part}' must be a JSON object")
    return Submission(manifest, manifest_files(manifest, kind), _properties(parts.get("additionalData")))


def manifest_files(manifest: dict[str, Any], kind: EntityKind) -> list[ManifestFile]:
    """Every artifact of the manifest, checked; 400 naming the first malformed entry."""
    if not isinstance(manifest.get("created_date"), str):
        raise HttpError(400, "Manifest field 'created_date' must be a string")
    if kind.entity_type == "model" and not isinstance(manifest.get("model_format"), dict):
        raise HttpError(400, "Manifest field 'model_format' must be an object")
    files = [_file("artifacts", entry, kind.artifacts_key) for entry in _list(manifest, kind.artifacts_key, True)]
    files += [_file("dependency_artifacts", e, "dependency_artifacts") for e in _list(manifest, "dependency_artifacts")]
    code = manifest.get("code_artifacts")
    if code is not None:
        files.append(_file("code_artifacts", code, "code_artifacts"))
    return files


def with_download_urls(manifest: dict[str, Any], entity: EntityVersion, repo: str, base_url: str) -> dict[str, Any]:
    """The stored manifest as the GET answers it: every artifact gains its `download_url`."""
    shown = dict(manifest)
    sections = {entity.kind.artifacts_key: "artifacts", "dependency_artifacts": "dependency_artifacts"}
    for key, section in sections.items():
        if isinstance(shown.get(key), list):
            shown[key] = [_with_url(entry, entity, section, repo, base_url) for entry in shown[key]]
    if isinstance(shown.get("code_artifacts"), dict):
        shown["code_artifacts"] = _with_url(shown["code_artifacts"], entity, "code_artifacts", repo, base_url)
    return shown


def _with_url(entry: dict[str, Any], entity: EntityVersion, section: str, repo: str, base_url: str) -> dict[str, Any]:
    path = quote(entity.stored_path(section, entry["artifact_path"]), safe="/")
    return entry | {"download_url": f"{base_url}/artifactory/{quote(repo)}/{path}"}


def _list(manifest: dict[str, Any], key: str, required: bool = False) -> list[Any]:
    value = manifest.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise HttpError(400, f"Manifest field '{key}' must be a list")
    return value


def _file(section: str, entry: Any, key: str) -> ManifestFile:
    if not isinstance(entry, dict):
        raise HttpError(400, f"Manifest field '{key}' holds a non-object entry")
    path, size, checksums = entry.get("artifact_path"), entry.get("size"), entry.get("checksums")
    sha256 = checksums.get("sha2") if isinstance(checksums, dict) else None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise HttpError(400, f"Manifest entry '{path}' of '{key}' needs a non-negative integer 'size'")
    if not isinstance(sha256, str) or len(sha256) != SHA256_HEX_CHARS:
        raise HttpError(400, f"Manifest entry '{path}' of '{key}' needs 'checksums.sha2' (64 hex digits)")
    return ManifestFile(section, _artifact_path(path, key), size, sha256.lower())


def _artifact_path(path: Any, key: str) -> str:
    if not isinstance(path, str) or not path or path.startswith("/"):
        raise HttpError(400, f"Manifest entry of '{key}' has an invalid 'artifact_path' {path!r}")
    for segment in path.split("/"):
        if not segment or segment in DOT_SEGMENTS or any(ch in segment for ch in FORBIDDEN_IN_SEGMENT):
            raise HttpError(400, f"Manifest entry of '{key}' has an invalid 'artifact_path' {path!r}")
    return path


def _multipart(req: Request) -> dict[str, bytes]:
    content_type = req.headers.get("Content-Type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise HttpError(415, "Expected a multipart/form-data body")
    body = req.body.read(MAX_MULTIPART_BYTES + 1)
    if len(body) > MAX_MULTIPART_BYTES:
        raise HttpError(413, "Request body too large")
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body)
    if not message.is_multipart():
        raise HttpError(400, "Malformed multipart/form-data body")
    return {name: _payload(part) for part in message.iter_parts() if (name := _part_name(part))}


def _part_name(part: Message) -> str | None:
    name = part.get_param("name", header="content-disposition")
    return name if isinstance(name, str) else None


def _payload(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _json_part(data: bytes, name: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise HttpError(400, f"Part '{name}' is not valid JSON: {err}") from err


def _properties(data: bytes | None) -> Properties:
    """`additionalData`: a JSON object of string values (frogml's merged properties), or `null`."""
    value = None if data is None else _json_part(data, "additionalData")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HttpError(400, "Part 'additionalData' must be a JSON object or null")
    return {check_key(str(key)): [_scalar(val)] for key, val in value.items()}


def _scalar(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
