"""The Hugging Face protocol of Artifactory's `huggingfaceml` repositories, as `huggingface_hub` speaks it.

Under `api/huggingfaceml/{repo}` (the client's `HF_ENDPOINT`): `preupload` sorts files into regular
ones (sent base64 inside the commit) and LFS ones; the git LFS batch API answers, per sha256, either
nothing (the server has that content: nothing is sent) or a signed upload URL, PUT without our
credentials; the ndjson `commit` then creates the revision. Artifactory stores it as plain items
in `<kind>/<org>/<name>/<revision>_<time>/`, which `revision_items` finds as JFrog's CLI does.
All HTTP goes through `ArtifactoryClient` (retries, error mapping); no huggingface_hub here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.properties import Properties
from ml_artifactory_action.artifactory.search import Item, aql, items_query
from ml_artifactory_action.artifactory.storage import item_path
from ml_artifactory_action.errors import ArtifactoryError
from ml_artifactory_action.model.checksums import HashingReader

PACKAGE_TYPE = "huggingfaceml"
SAMPLE_BYTES = 512  # what preupload looks at to tell text from binary
LFS_HEADERS = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}
BATCH_SIZE = 256  # objects per LFS batch request, as huggingface_hub sends them
FOLDER_FIELDS = ("repo", "path", "name", "created")
FILE_FIELDS = ("repo", "path", "name", "size", "sha256", "actual_sha1", "actual_md5")


@dataclass(frozen=True)
class HfTarget:
    """A model (or dataset) revision in one Hugging Face repository of Artifactory."""

    repo: str
    repo_id: str  # organization/name
    revision: str
    kind: str = "models"

    @property
    def api(self) -> str:
        return f"api/huggingfaceml/{quote(self.repo, safe='')}"

    @property
    def base(self) -> str:
        """The folder holding every revision of the model."""
        return f"{self.kind}/{self.repo_id}"


@dataclass(frozen=True)
class HfFile:
    path: str  # in the model
    local: Path
    size: int
    sha256: str


def endpoint(client: ArtifactoryClient, repo: str) -> str:
    """`HF_ENDPOINT` for a repository."""
    return client.url("artifactory", f"api/huggingfaceml/{quote(repo, safe='')}")


def deployment_repo(client: ArtifactoryClient, key: str) -> str | None:
    """Where a commit to `key` lands: itself, or a virtual repository's default deployment repository
    (None when it has none), as JFrog's CLI resolves it before `hf upload`."""
    config = client.request("GET", f"api/repositories/{quote(key, safe='')}", action=f"reading repository {key}")
    body = _object(config.json(), f"api/repositories/{key}")
    if str(body.get("rclass", "local")) != "virtual":
        return key
    default = body.get("defaultDeploymentRepo")
    return str(default) if default else None


def upload_modes(client: ArtifactoryClient, target: HfTarget, files: Sequence[HfFile]) -> dict[str, str]:
    """`lfs` or `regular` for each file's path, as the server decides."""
    payload = {"files": [{"path": f.path, "sample": _sample(f.local), "size": f.size} for f in files]}
    path = f"{target.api}/api/{target.kind}/{target.repo_id}/preupload/{quote(target.revision, safe='')}"
    answer = client.request("POST", path, json=payload, action="asking how to upload the files (preupload)").json()
    modes = {str(f.get("path")): str(f.get("uploadMode")) for f in _list(answer, "files", path)}
    missing = [f.path for f in files if modes.get(f.path) not in ("lfs", "regular")]
    if missing:
        raise ArtifactoryError(f"preupload gave no upload mode for {', '.join(missing)}", fix=_FIX)
    return modes


def missing_objects(client: ArtifactoryClient, target: HfTarget, files: Sequence[HfFile]) -> dict[str, str]:
    """sha256 -> signed upload URL, for the contents the server does not hold yet."""
    prefix = "datasets/" if target.kind == "datasets" else ""
    path = f"{target.api}/{prefix}{target.repo_id}.git/info/lfs/objects/batch"
    wanted: dict[str, str] = {}
    for start in range(0, len(files), BATCH_SIZE):
        objects = [{"oid": f.sha256, "size": f.size} for f in files[start : start + BATCH_SIZE]]
        payload: dict[str, object] = {"operation": "upload", "transfers": ["basic"], "objects": objects}
        payload |= {"hash_algo": "sha256", "ref": {"name": target.revision}}
        answer = client.request("POST", path, json=payload, headers=LFS_HEADERS, action="asking which files to send")
        for obj in _list(answer.json(), "objects", path):
            if obj.get("error"):
                raise ArtifactoryError(f"LFS batch refused {obj.get('oid')}: {obj['error']}", fix=_FIX)
            actions = obj.get("actions")
            upload = actions.get("upload") if isinstance(actions, dict) else None
            href = upload.get("href") if isinstance(upload, dict) else None
            if isinstance(href, str) and href:
                wanted[str(obj.get("oid"))] = href
    return wanted


def send_object(client: ArtifactoryClient, href: str, file: HfFile) -> None:
    """PUT the file's content to the signed URL; a changed file fails before the server stores it."""
    reader = HashingReader(file.local, file.size)

    def body() -> Iterator[bytes]:
        return iter(reader)

    headers = {"Content-Length": str(file.size)}
    client.request("PUT", "", signed_url=href, body=body, headers=headers, action=f"uploading {file.path}")
    if reader.sha256 != file.sha256:
        raise ArtifactoryError(f"{file.path} changed while it was being uploaded", fix="Do not change model files.")


def commit(
    client: ArtifactoryClient, target: HfTarget, summary: str, regular: Sequence[HfFile], lfs: Sequence[HfFile]
) -> str:
    """Create the revision from regular files (inline) and uploaded LFS objects; its commit id."""
    lines: list[dict[str, object]] = [{"key": "header", "value": {"summary": summary, "description": ""}}]
    for f in regular:
        content = base64.b64encode(f.local.read_bytes()).decode()
        lines.append({"key": "file", "value": {"content": content, "path": f.path, "encoding": "base64"}})
    for f in lfs:
        lines.append({"key": "lfsFile", "value": {"path": f.path, "algo": "sha256", "oid": f.sha256, "size": f.size}})
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    path = f"{target.api}/api/{target.kind}/{target.repo_id}/commit/{quote(target.revision, safe='')}"
    answer = client.request(
        "POST", path, body=body, headers={"Content-Type": "application/x-ndjson"}, action="committing the revision"
    )
    oid = _object(answer.json(), path).get("commitOid")
    if not isinstance(oid, str) or not oid:
        raise ArtifactoryError(f"the commit answer of {path} has no commitOid", fix=_FIX)
    return oid


def revision_items(client: ArtifactoryClient, target: HfTarget) -> tuple[str, list[Item]]:
    """The newest stored folder of the revision (`<rev>_<time>`) and its files."""
    folders = aql(
        client,
        items_query(
            {"repo": target.repo, "type": "folder", "path": target.base, "name": {"$match": f"{target.revision}_*"}},
            FOLDER_FIELDS,
        ),
        action="finding the stored revision",
    )
    names = sorted(str(f.get("name", "")) for f in folders)
    if not names:
        raise ArtifactoryError(f"{target.repo} holds no revision {target.revision} of {target.repo_id}", fix=_FIX)
    folder = f"{target.base}/{names[-1]}"
    criteria = {"repo": target.repo, "type": "file", "$or": [{"path": folder}, {"path": {"$match": f"{folder}/*"}}]}
    found = aql(client, items_query(criteria, FILE_FIELDS), action="listing the stored revision")
    return folder, [Item.from_aql(row) for row in found]


def set_properties(client: ArtifactoryClient, repo: str, folder: str, props: Properties) -> None:
    """Attach `props` to every file below `folder` (the storage API, recursively)."""
    encoded = ";".join(f"{key}={','.join(_escape(v) for v in values)}" for key, values in props)
    client.request(
        "PUT",
        f"api/storage/{item_path(repo, folder)}",
        params={"properties": encoded, "recursive": "1"},
        action="setting the revision's properties",
    )


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")


def _sample(local: Path) -> str:
    with local.open("rb") as handle:
        return base64.b64encode(handle.read(SAMPLE_BYTES)).decode()


def _object(answer: object, path: str) -> dict[str, object]:
    if not isinstance(answer, dict):
        raise ArtifactoryError(f"the answer of {path} is not a JSON object", fix=_FIX)
    return answer


def _list(answer: object, key: str, path: str) -> list[dict[str, object]]:
    value = _object(answer, path).get(key)
    if not isinstance(value, list):
        raise ArtifactoryError(f"the answer of {path} has no '{key}' list", fix=_FIX)
    return [v for v in value if isinstance(v, dict)]


_FIX = "Check that repo is a Hugging Face (huggingfaceml) repository on a current Artifactory."
