"""A real third-party Artifactory client, unchanged, against the sandbox: `dohq-artifactory`.

It lives in the third-party clients' virtualenv named by `DOHQ_ARTIFACTORY_VENV` (`make test` builds
it); without it the test is skipped. Set it up by hand with:

    python3 -m venv /tmp/clients-venv
    /tmp/clients-venv/bin/pip install "dohq-artifactory==1.0.2"
    export DOHQ_ARTIFACTORY_VENV=/tmp/clients-venv

The client uses the deploy API with checksum headers and matrix parameters, checksum deploy, the
storage API (stat, list, properties, download stats), copy/move, AQL and the repositories API.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from artifactory_sandbox.testing import run_sandbox

VENV_VARIABLE = "DOHQ_ARTIFACTORY_VENV"
RUN_TIMEOUT_S = 120

# Runs inside the clients' venv; prints one JSON object of what the client saw.
DRIVER = """
import json, os, sys
from artifactory import ArtifactoryPath
from dohq_artifactory import RepositoryLocal

base, token, src = sys.argv[1], sys.argv[2], sys.argv[3]
seen = {}
dev = ArtifactoryPath(f"{base}/ml-models-dev-local", token=token)
model = dev / "dohq" / "model.bin"

(dev / "dohq" / "folder").mkdir()
seen["folder_is_dir"] = (dev / "dohq" / "folder").is_dir()
model.deploy_file(src, parameters={"stage": "dev", "multi": ["a", "b"]})
stat = model.stat()
seen["stat"] = [stat.size, stat.sha256, stat.is_dir]
seen["props_after_deploy"] = model.properties
model.properties = {"stage": "staging", "owner": "ml"}
seen["props_after_set"] = model.properties
with model.open() as handle:
    seen["read_back_equal"] = handle.read() == open(src, "rb").read()
seen["listing"] = sorted(p.name for p in (dev / "dohq").iterdir())
seen["glob"] = sorted(p.name for p in dev.glob("dohq/*.bin"))
again = dev / "dohq" / "again.bin"
again.deploy_by_checksum(sha256=stat.sha256)
seen["checksum_deploy_exists"] = again.exists()
seen["download_count"] = model.download_stats().download_count
staged = ArtifactoryPath(f"{base}/ml-models-staging-local/dohq/model.bin", token=token)
model.copy(staged)
seen["copied"] = staged.exists()
moved = ArtifactoryPath(f"{base}/ml-models-prod-local/dohq/moved.bin", token=token)
again.move(moved)
seen["moved"] = [moved.exists(), again.exists()]
seen["aql_names"] = sorted(i["name"] for i in dev.aql("items.find", {"repo": "ml-models-dev-local", "type": "file"}))
bad = dev / "dohq" / "bad.bin"
try:
    with open(src, "rb") as handle:
        bad.deploy(handle, md5="0" * 32, sha1="0" * 40, sha256="0" * 64)
    seen["mismatch"] = "accepted"
except Exception as exc:
    seen["mismatch"] = [type(exc).__name__, "Checksum policy" in str(exc), bad.exists()]
model.unlink()
(dev / "dohq" / "folder").rmdir()
seen["deleted"] = [model.exists(), (dev / "dohq" / "folder").exists()]
art = ArtifactoryPath(base, token=token)
RepositoryLocal(art, "dohq-local", package_type=RepositoryLocal.GENERIC).create()
seen["repos"] = sorted(r.name for r in art.get_repositories())
print(json.dumps(seen))
"""


@pytest.fixture
def client_python() -> Path:
    venv = os.environ.get(VENV_VARIABLE)
    if not venv:
        pytest.skip(f"{VENV_VARIABLE} is not set: it names the virtualenv with dohq-artifactory (see the docstring)")
    return Path(venv) / "bin" / "python"


def test_dohq_artifactory_works_unchanged(client_python: Path, tmp_path: Path) -> None:
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(200_000))
    with run_sandbox(tmp_path / "data") as sandbox:
        done = subprocess.run(
            [str(client_python), "-c", DRIVER, sandbox.artifactory_url, sandbox.admin_token, str(src)],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["folder_is_dir"] is True
    assert seen["stat"][0] == 200_000
    assert seen["stat"][2] is False
    assert seen["props_after_deploy"] == {"stage": ["dev"], "multi": ["a", "b"]}
    assert seen["props_after_set"] == {"stage": ["staging"], "owner": ["ml"]}
    assert seen["read_back_equal"] is True
    assert seen["listing"] == ["folder", "model.bin"]
    assert seen["glob"] == ["model.bin"]
    assert seen["checksum_deploy_exists"] is True
    assert seen["download_count"] == 1
    assert seen["copied"] is True
    assert seen["moved"] == [True, False]
    assert seen["aql_names"] == ["model.bin"]
    assert seen["mismatch"] == ["ArtifactoryException", True, False]
    assert seen["deleted"] == [False, False]
    assert seen["repos"] == ["dohq-local", "ml-models-dev-local", "ml-models-prod-local", "ml-models-staging-local"]
