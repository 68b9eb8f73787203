"""The real `huggingface_hub`, unchanged, against a local `huggingfaceml` repository of the sandbox.

It lives in the third-party clients' virtualenv named by `HUGGINGFACE_HUB_VENV` (`make test` builds
it); without it the test is skipped. By hand:

    python3 -m venv /tmp/hf-venv && /tmp/hf-venv/bin/pip install "huggingface-hub==2.4.0"
    export HUGGINGFACE_HUB_VENV=/tmp/hf-venv

The client runs with `HF_ENDPOINT=<sandbox>/artifactory/api/huggingfaceml/<repo>` (JFrog's set-up)
and `HF_HUB_DISABLE_XET=1` (the sandbox offers no Xet storage). One driver run covers upload_folder
and upload_file with revisions (validate-yaml, preupload, LFS batch, the unauthenticated LFS PUT,
commit), model_info/repo_info, list_repo_files/list_repo_tree, HEAD of resolve, hf_hub_download,
snapshot_download with and without allow_patterns, the error codes the client maps, and datasets.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox

VENV_VARIABLE = "HUGGINGFACE_HUB_VENV"
RUN_TIMEOUT_S = 120
REPO = "hf-local"
COMMIT = "54ef2872d33bbff28eb09544bdecbf6699f5b0b8"
CARD = "---\nlicense: mit\ntags: [sandbox]\n---\n# tiny\n"

# Runs inside the clients' venv with HF_ENDPOINT/HF_TOKEN set; prints one JSON object of what it saw.
DRIVER = r"""
import hashlib, json, os, sys
from pathlib import Path
from huggingface_hub import (HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download)
from huggingface_hub.errors import (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError)

model, dataset, cache, commit = sys.argv[1:5]
api = HfApi()
seen = {}

def digests(root):
    root = Path(root)
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".cache" not in p.parts}

info = api.upload_folder(folder_path=model, repo_id="acme/tiny", revision=commit, repo_type="model")
seen["commit_oid"] = info.oid
seen["commit_repo"] = info.repo_url.repo_id
extra = api.upload_file(path_or_fileobj=b"second commit\n", path_in_repo="notes/extra.txt",
                        repo_id="acme/tiny", revision="v1")
seen["v1_oid"] = extra.oid
again = api.upload_file(path_or_fileobj=b"third\n", path_in_repo="more.txt", repo_id="acme/tiny", revision="v1")
seen["v1_second_oid"] = again.oid

mi = api.model_info("acme/tiny", revision=commit, files_metadata=True)
seen["model_info"] = [mi.id, mi.sha, sorted((s.rfilename, s.size) for s in mi.siblings)]
seen["repo_info_sha"] = api.repo_info("acme/tiny", revision="v1").sha
seen["v1_files"] = sorted(api.list_repo_files("acme/tiny", revision="v1"))
seen["files"] = sorted(api.list_repo_files("acme/tiny", revision=commit))
seen["top_tree"] = sorted((type(e).__name__, e.path) for e in api.list_repo_tree("acme/tiny", revision=commit))
seen["sub_tree"] = sorted(e.path for e in api.list_repo_tree("acme/tiny", path_in_repo="sub", revision=commit))

meta = get_hf_file_metadata(hf_hub_url("acme/tiny", "model.safetensors", revision=commit))
seen["head"] = [meta.commit_hash, meta.etag, meta.size]
path = hf_hub_download("acme/tiny", "model.safetensors", revision=commit, cache_dir=cache)
seen["hf_hub_download"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
seen["snapshot"] = digests(snapshot_download("acme/tiny", revision=commit, cache_dir=cache + "/all"))
seen["snapshot_json"] = sorted(digests(snapshot_download("acme/tiny", revision=commit, allow_patterns=["*.json"],
                                                         local_dir=cache + "/json")))
seen["snapshot_v1"] = sorted(digests(snapshot_download("acme/tiny", revision="v1", cache_dir=cache + "/v1")))

def error(call):
    try:
        call()
        return "no error"
    except Exception as exc:
        return type(exc).__name__

seen["errors"] = {
    "missing_file": error(lambda: hf_hub_download("acme/tiny", "nope.bin", revision=commit, cache_dir=cache)),
    "missing_revision": error(lambda: api.model_info("acme/tiny", revision="nope")),
    "missing_repo": error(lambda: api.model_info("acme/missing")),
    "bad_card": error(lambda: api.upload_file(path_or_fileobj=b"---\n[unclosed\n---\n", path_in_repo="README.md",
                                              repo_id="acme/tiny", revision="bad")),
}
seen["errors_are_hf_errors"] = [issubclass(c, Exception) for c in (EntryNotFoundError, RevisionNotFoundError,
                                                                    RepositoryNotFoundError)]

api.delete_file("more.txt", "acme/tiny", revision="v1")
seen["v1_after_delete"] = sorted(api.list_repo_files("acme/tiny", revision="v1"))
seen["exists"] = [api.repo_exists("acme/tiny"), api.repo_exists("acme/none"), api.revision_exists("acme/tiny", "v1"),
                  api.revision_exists("acme/tiny", "v9"), api.file_exists("acme/tiny", "config.json", revision=commit),
                  api.file_exists("acme/tiny", "nope.json", revision=commit)]
seen["bare_id"] = Path(hf_hub_download("tiny2", "w.bin", cache_dir=cache + "/bare")).read_bytes().hex()

ds = api.upload_folder(folder_path=dataset, repo_id="acme/rows", repo_type="dataset", revision="v2")
seen["dataset_info"] = api.dataset_info("acme/rows", revision="v2").sha == ds.oid
seen["dataset_snapshot"] = digests(snapshot_download("acme/rows", repo_type="dataset", revision="v2",
                                                     cache_dir=cache + "/ds"))
print(json.dumps(seen))
"""


@pytest.fixture
def client_python() -> Path:
    venv = os.environ.get(VENV_VARIABLE)
    if not venv:
        pytest.skip(f"{VENV_VARIABLE} is not set: it names the virtualenv with huggingface-hub (see the docstring)")
    return Path(venv) / "bin" / "python"


def _folder(root: Path, files: dict[str, bytes]) -> dict[str, str]:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}


def _commit_bare_id(admin: httpx.Client) -> None:
    """`tiny2`, a model id without organization (JFrog: the organization is optional; the Hub has
    `gpt2`). huggingface_hub 2.4.0 commits to one but then cannot parse its own commit URL, so the
    commit is made here and the client only downloads it."""
    value = {"path": "w.bin", "content": base64.b64encode(b"\x00bare").decode(), "encoding": "base64"}
    lines = [{"key": "header", "value": {"summary": "bare"}}, {"key": "file", "value": value}]
    body = "".join(json.dumps(line) + "\n" for line in lines)
    response = admin.post(f"/artifactory/api/huggingfaceml/{REPO}/api/models/tiny2/commit/main", content=body)
    assert response.status_code == 200, response.text


def _admin(sandbox: SandboxHandle) -> httpx.Client:
    return httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {sandbox.admin_token}"}, timeout=30)


def _run(python: Path, sandbox: SandboxHandle, tmp_path: Path, *args: str) -> dict[str, Any]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "HF_ENDPOINT": f"{sandbox.artifactory_url}/api/huggingfaceml/{REPO}",
        "HF_TOKEN": sandbox.admin_token,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_ETAG_TIMEOUT": "86400",
        "HF_HUB_DOWNLOAD_TIMEOUT": "86400",
    }
    done = subprocess.run(
        [str(python), "-c", DRIVER, *args], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_huggingface_hub_works_unchanged(client_python: Path, tmp_path: Path) -> None:
    weights = b"\x00safetensors" + os.urandom(300_000)
    model = _folder(
        tmp_path / "model",
        {
            "config.json": b'{"model_type": "tiny"}',
            "README.md": CARD.encode(),
            "model.safetensors": weights,
            "sub/tokenizer.json": b'{"vocab": {}}',
        },
    )
    rows = _folder(tmp_path / "rows", {"train.csv": b"a,b\n1,2\n", "data/part-0.parquet": b"PAR1\x00" * 100})
    with run_sandbox(tmp_path / "data") as sandbox, _admin(sandbox) as admin:
        admin.put(f"/artifactory/api/repositories/{REPO}", json={"rclass": "local", "packageType": "huggingfaceml"})
        _commit_bare_id(admin)
        seen = _run(
            client_python, sandbox, tmp_path, str(tmp_path / "model"), str(tmp_path / "rows"), str(tmp_path), COMMIT
        )
        log = sandbox.ctx.requests.entries()
        aql = admin.post(
            "/artifactory/api/search/aql",
            content=f'items.find({{"repo":"{REPO}","name":"model.safetensors"}}).include("path","name","sha256")',
        ).json()["results"]

    assert seen["commit_oid"] == COMMIT
    assert seen["commit_repo"] == "acme/tiny"
    assert len(seen["v1_oid"]) == 40
    assert seen["v1_second_oid"] != seen["v1_oid"]
    assert seen["model_info"] == [
        "acme/tiny",
        COMMIT,
        [
            ["README.md", len(CARD)],
            ["config.json", 22],
            ["model.safetensors", len(weights)],
            ["sub/tokenizer.json", 13],
        ],
    ]
    assert seen["repo_info_sha"] == seen["v1_second_oid"]
    assert seen["v1_files"] == ["more.txt", "notes/extra.txt"]
    assert seen["files"] == sorted(model)
    assert seen["top_tree"] == [
        ["RepoFile", "README.md"],
        ["RepoFile", "config.json"],
        ["RepoFile", "model.safetensors"],
        ["RepoFolder", "sub"],
    ]
    assert seen["sub_tree"] == ["sub/tokenizer.json"]
    assert seen["head"] == [COMMIT, model["model.safetensors"], len(weights)]
    assert seen["hf_hub_download"] == model["model.safetensors"]
    assert seen["snapshot"] == model
    assert seen["snapshot_json"] == ["config.json", "sub/tokenizer.json"]
    assert seen["snapshot_v1"] == ["more.txt", "notes/extra.txt"]
    assert seen["errors"] == {
        "missing_file": "RemoteEntryNotFoundError",
        "missing_revision": "RevisionNotFoundError",
        "missing_repo": "RepositoryNotFoundError",
        "bad_card": "ValueError",
    }
    assert seen["v1_after_delete"] == ["notes/extra.txt"]
    assert seen["exists"] == [True, False, True, False, True, False]
    assert seen["bare_id"] == b"\x00bare".hex()
    assert seen["dataset_info"] is True
    assert seen["dataset_snapshot"] == rows

    # The weights went through LFS: one batch call, one unauthenticated PUT to the signed URL.
    lfs_puts = [e for e in log if e["method"] == "PUT" and "/api/lfs-upload/" in e["path"]]
    assert len(lfs_puts) == 2  # the model's weights and the dataset's parquet file
    assert all(e["user"] == "anonymous" and e["status"] == 200 for e in lfs_puts)
    # Generic tools see the files in the Machine Learning layout.
    assert [(r["path"].rsplit("_", 1)[0], r["sha256"]) for r in aql] == [
        (f"models/acme/tiny/{COMMIT}", model["model.safetensors"])
    ]
