"""The Hugging Face API of `huggingfaceml` repositories, spoken directly: what the client never tests.

Signed LFS upload URLs refuse tampering, objects the server has are not asked for again, read-only
callers cannot commit, and remote and virtual repositories resolve (the real client runs against
local ones in test_huggingface_client.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox

HF = "/artifactory/api/huggingfaceml"
WEIGHTS = b"\x00weights" * 5000


def _create(admin: httpx.Client, key: str, **config: object) -> None:
    body = {"rclass": "local", "packageType": "huggingfaceml"} | config
    response = admin.put(f"/artifactory/api/repositories/{key}", json=body)
    assert response.status_code == 200, response.text


def _batch(client: httpx.Client, key: str, data: bytes, repo_id: str = "acme/tiny") -> httpx.Response:
    objects = [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}]
    payload = {"operation": "upload", "transfers": ["basic"], "objects": objects, "hash_algo": "sha256"}
    return client.post(f"{HF}/{key}/{repo_id}.git/info/lfs/objects/batch", json=payload)


def _commit(client: httpx.Client, key: str, revision: str, files: dict[str, bytes]) -> httpx.Response:
    """preupload, LFS batch and PUT for binary files, then the ndjson commit."""
    lines = [{"key": "header", "value": {"summary": "test", "description": ""}}]
    for path, data in files.items():
        if b"\x00" in data:
            action = _batch(client, key, data).json()["objects"][0].get("actions")
            if action:
                put = httpx.put(action["upload"]["href"], content=data)
                assert put.status_code == 200, put.text
            value = {"path": path, "algo": "sha256", "oid": hashlib.sha256(data).hexdigest(), "size": len(data)}
            lines.append({"key": "lfsFile", "value": value})
        else:
            content = base64.b64encode(data).decode()
            lines.append({"key": "file", "value": {"path": path, "content": content, "encoding": "base64"}})
    body = "".join(json.dumps(line) + "\n" for line in lines)
    headers = {"Content-Type": "application/x-ndjson"}
    return client.post(f"{HF}/{key}/api/models/acme/tiny/commit/{revision}", content=body, headers=headers)


@pytest.fixture
def hf_local(admin: httpx.Client) -> str:
    _create(admin, "hf-local")
    return "hf-local"


def test_lfs_upload_url_is_signed_and_checked(admin: httpx.Client, anonymous: httpx.Client, hf_local: str) -> None:
    answer = _batch(admin, hf_local, WEIGHTS)
    href = answer.json()["objects"][0]["actions"]["upload"]["href"]
    parts = urlsplit(href)
    path = parts.path

    assert anonymous.put(path, content=WEIGHTS).status_code == 403  # no signature
    tampered = parts.query.replace(f"size={len(WEIGHTS)}", f"size={len(WEIGHTS) + 1}")
    assert anonymous.put(f"{path}?{tampered}", content=WEIGHTS + b"!").status_code == 403
    wrong = anonymous.put(f"{path}?{parts.query}", content=b"\x00other" * 5000)
    assert wrong.status_code == 400
    assert anonymous.put(f"{path}?{parts.query}", content=WEIGHTS).status_code == 200

    again = _batch(admin, hf_local, WEIGHTS).json()["objects"][0]
    assert again == {"oid": hashlib.sha256(WEIGHTS).hexdigest(), "size": len(WEIGHTS)}  # nothing to send


def test_commit_needs_uploaded_objects_and_write_permission(
    admin: httpx.Client, reader: httpx.Client, hf_local: str
) -> None:
    oid = hashlib.sha256(b"never sent").hexdigest()
    lines = [{"key": "header", "value": {"summary": "x"}}, {"key": "lfsFile", "value": {"path": "w.bin", "oid": oid}}]
    body = "".join(json.dumps(line) + "\n" for line in lines)
    refused = admin.post(f"{HF}/{hf_local}/api/models/acme/tiny/commit/main", content=body)
    assert refused.status_code == 400
    assert "was not uploaded" in refused.json()["errors"][0]["message"]

    assert _commit(reader, hf_local, "main", {"a.txt": b"a"}).status_code == 403
    assert reader.post(f"{HF}/{hf_local}/api/models/acme/tiny/preupload/main", json={"files": []}).status_code == 403
    assert _batch(reader, hf_local, WEIGHTS).status_code == 403
    assert admin.get(f"{HF}/{hf_local}/api/models/acme/tiny").headers["X-Error-Code"] == "RepoNotFound"


def test_revision_names_are_folder_names(admin: httpx.Client, hf_local: str) -> None:
    bad = admin.post(f"{HF}/{hf_local}/api/models/acme/tiny/commit/refs%2Fpr%2F1", content=b"")
    assert bad.status_code == 400
    assert "Invalid revision" in bad.json()["errors"][0]["message"]
    generic = admin.get(f"{HF}/ml-models-dev-local/api/models/acme/tiny")
    assert generic.status_code == 400


def test_resolve_serves_ranges_and_entry_errors(admin: httpx.Client, hf_local: str) -> None:
    sha = _commit(admin, hf_local, "main", {"model.bin": WEIGHTS, "config.json": b"{}"}).json()["commitOid"]

    part = admin.get(f"{HF}/{hf_local}/acme/tiny/resolve/main/model.bin", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.content == WEIGHTS[10:20]
    assert part.headers["X-Repo-Commit"] == sha
    missing = admin.head(f"{HF}/{hf_local}/acme/tiny/resolve/main/nope.bin")
    assert (missing.status_code, missing.headers["X-Error-Code"], missing.headers["X-Repo-Commit"]) == (
        404,
        "EntryNotFound",
        sha,
    )
    # A commit id resolves like the branch it was made on.
    by_sha = admin.get(f"{HF}/{hf_local}/acme/tiny/resolve/{sha}/config.json")
    assert by_sha.content == b"{}"


def test_virtual_repository_resolves_members_in_order(admin: httpx.Client) -> None:
    _create(admin, "hf-a")
    _create(admin, "hf-b")
    _create(admin, "hf-virtual", rclass="virtual", repositories=["hf-a", "hf-b"], defaultDeploymentRepo="hf-a")
    _commit(admin, "hf-b", "main", {"which.txt": b"b"})
    assert admin.get(f"{HF}/hf-virtual/acme/tiny/resolve/main/which.txt").content == b"b"
    _commit(admin, "hf-virtual", "main", {"which.txt": b"a"})  # deploys to hf-a, listed first

    assert admin.get(f"{HF}/hf-virtual/acme/tiny/resolve/main/which.txt").content == b"a"
    listed = admin.get(f"{HF}/hf-a/api/models/acme/tiny/tree/main").json()
    assert [entry["path"] for entry in listed] == ["which.txt"]
    missing = admin.get(f"{HF}/hf-virtual/api/models/acme/tiny/revision/v9")
    assert missing.headers["X-Error-Code"] == "RevisionNotFound"


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path / "upstream") as handle:
        yield handle


def test_remote_repository_caches_what_it_fetched(upstream: SandboxHandle, admin: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {upstream.admin_token}"}
    with httpx.Client(base_url=upstream.url, headers=headers, timeout=30) as hub:
        _create(hub, "hub")
        sha = _commit(hub, "hub", "main", {"model.bin": WEIGHTS, "config.json": b"{}"}).json()["commitOid"]
    url = f"{upstream.artifactory_url}/api/huggingfaceml/hub"
    _create(admin, "hf-remote", rclass="remote", url=url, password=upstream.admin_token)  # the hub token

    first = admin.get(f"{HF}/hf-remote/acme/tiny/resolve/main/model.bin")
    assert (first.content, first.headers["X-Repo-Commit"]) == (WEIGHTS, sha)
    seen_upstream = len(upstream.ctx.requests.entries())
    second = admin.get(f"{HF}/hf-remote/acme/tiny/resolve/main/model.bin")
    info = admin.get(f"{HF}/hf-remote/api/models/acme/tiny/revision/main").json()
    assert second.content == WEIGHTS
    assert sorted(s["rfilename"] for s in info["siblings"]) == ["config.json", "model.bin"]
    assert len(upstream.ctx.requests.entries()) == seen_upstream  # the cache answered

    upstream.stop()
    assert admin.get(f"{HF}/hf-remote/acme/tiny/resolve/{sha}/model.bin").content == WEIGHTS
    down = admin.get(f"{HF}/hf-remote/acme/tiny/resolve/main/config.json")  # never fetched
    assert down.status_code == 502
    cached = admin.post(
        "/artifactory/api/search/aql",
        content='items.find({"repo":"hf-remote","type":"file"}).include("path","name")',
    ).json()["results"]
    assert [(r["path"].rsplit("_", 1)[0], r["name"]) for r in cached] == [("models/acme/tiny/main", "model.bin")]


def test_every_single_character_change_of_a_signed_url_is_refused(
    admin: httpx.Client, anonymous: httpx.Client, hf_local: str
) -> None:
    """Mutation: the signature covers repository, oid, size and expiry; no altered URL stores anything."""
    href = _batch(admin, hf_local, WEIGHTS).json()["objects"][0]["actions"]["upload"]["href"]
    parts = urlsplit(href)
    query = dict(pair.split("=", 1) for pair in parts.query.split("&"))
    other_oid = hashlib.sha256(b"other").hexdigest()
    mutants = [
        f"{parts.path.replace(hf_local, 'hf-other')}?{parts.query}",
        f"{parts.path.rsplit('/', 1)[0]}/{other_oid}?{parts.query}",
        *(
            f"{parts.path}?" + "&".join(f"{k}={_flip(v) if k == name else v}" for k, v in query.items())
            for name in ("size", "expires", "sig")
        ),
        f"{parts.path}?size={query['size']}&expires={query['expires']}",
    ]
    _create(admin, "hf-other")
    for mutant in mutants:
        assert anonymous.put(mutant, content=WEIGHTS).status_code == 403, mutant
    assert _batch(admin, hf_local, WEIGHTS).json()["objects"][0].get("actions")  # still not stored


def _flip(value: str) -> str:
    last = value[-1]
    return value[:-1] + ("1" if last == "0" else "0")


@pytest.mark.parametrize("path", ["../escape.txt", "a/../../b.txt", "./c.txt", "d\\e.txt", "f/\x00.txt"])
def test_commit_paths_cannot_leave_the_revision(admin: httpx.Client, hf_local: str, path: str) -> None:
    line = {"key": "file", "value": {"path": path, "content": "eA==", "encoding": "base64"}}
    body = json.dumps({"key": "header", "value": {"summary": "x"}}) + "\n" + json.dumps(line) + "\n"

    refused = admin.post(f"{HF}/{hf_local}/api/models/acme/tiny/commit/main", content=body)

    assert refused.status_code == 400
    listing = admin.get(f"/artifactory/api/storage/{hf_local}?list&deep=1&listFolders=1").json()
    assert listing.get("files", []) == []


def test_a_remote_asks_again_for_a_branch_after_its_metadata_period(
    upstream: SandboxHandle, admin: httpx.Client
) -> None:
    headers = {"Authorization": f"Bearer {upstream.admin_token}"}
    url = f"{upstream.artifactory_url}/api/huggingfaceml/hub"
    with httpx.Client(base_url=upstream.url, headers=headers, timeout=30) as hub:
        _create(hub, "hub")
        old = _commit(hub, "hub", "main", {"config.json": b"1"}).json()["commitOid"]
        _create(admin, "hf-fresh", rclass="remote", url=url, password=upstream.admin_token)
        _create(admin, "hf-lazy", rclass="remote", url=url, password=upstream.admin_token)
        admin.post("/artifactory/api/repositories/hf-fresh", json={"metadataRetrievalCachePeriodSecs": 0})
        for key in ("hf-fresh", "hf-lazy"):
            assert admin.get(f"{HF}/{key}/acme/tiny/resolve/main/config.json").content == b"1"
        new = _commit(hub, "hub", "main", {"config.json": b"2"}).json()["commitOid"]

    fresh = admin.get(f"{HF}/hf-fresh/acme/tiny/resolve/main/config.json")
    lazy = admin.get(f"{HF}/hf-lazy/acme/tiny/resolve/main/config.json")
    assert (fresh.content, fresh.headers["X-Repo-Commit"]) == (b"2", new)
    assert (lazy.content, lazy.headers["X-Repo-Commit"]) == (b"1", old)  # within 7200 s: the cache
    upstream.stop()
    down = admin.get(f"{HF}/hf-fresh/acme/tiny/resolve/main/config.json")
    assert (down.status_code, down.content) == (200, b"2")  # the hub is down: the last answer stands
