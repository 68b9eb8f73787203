"""JFrog's MLflow artifact store plugin (`mlflow-jfrog-plugin`), unchanged, against the sandbox.

mlflow is large, so it lives in its own virtualenv named by `MLFLOW_JFROG_VENV`; without it the
test is skipped. Set it up with:

    python3 -m venv /tmp/mlflow-venv
    /tmp/mlflow-venv/bin/pip install "mlflow-jfrog-plugin==1.0.2" "mlflow==3.17.2"
    export MLFLOW_JFROG_VENV=/tmp/mlflow-venv

The plugin calls: `PUT /artifactory/{repo}/{path}` (log), `GET /artifactory/api/storage/{repo}/{path}`
and `...?list&deep=0&depth=1&listFolders=1` (list), `GET /artifactory/{repo}/{path}` (download) and
`DELETE /artifactory/{repo}/{path}` (delete), with `Authorization: Bearer $ARTIFACTORY_AUTH_TOKEN`.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

from artifactory_sandbox.testing import run_sandbox

VENV_VARIABLE = "MLFLOW_JFROG_VENV"
REPO = "ml-models-dev-local"
RUN_TIMEOUT_S = 180

# Runs inside the mlflow venv: a real MLflow run whose artifact location is the sandbox.
DRIVER = """
import json, pathlib, sys
import mlflow
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

host, work = sys.argv[1], pathlib.Path(sys.argv[2])
src = work / "src"
(src / "sub").mkdir(parents=True)
(src / "model.pkl").write_bytes(b"weights" * 1000)
(src / "sub" / "card.md").write_text("# card")
(work / "metrics.json").write_text('{"accuracy": 0.93}')
mlflow.set_tracking_uri((work / "mlruns").as_uri())
location = f"artifactory://{host}/artifactory/ml-models-dev-local/mlflow/fraud"
experiment = mlflow.create_experiment("fraud", artifact_location=location)
with mlflow.start_run(experiment_id=experiment) as run:
    mlflow.log_param("lr", 0.1)
    mlflow.log_artifact(str(work / "metrics.json"))
    mlflow.log_artifacts(str(src), artifact_path="model")
client = mlflow.MlflowClient()
out = {"artifact_uri": run.info.artifact_uri,
       "root": sorted((f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run.info.run_id)),
       "model": sorted((f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run.info.run_id, "model"))}
repo = get_artifact_repository(run.info.artifact_uri)
target = work / "downloaded.pkl"
repo.download_artifacts("model/model.pkl", dst_path=str(target))
out["downloaded"] = target.read_bytes() == (src / "model.pkl").read_bytes()
repo.delete_artifacts("model/sub")
out["after_delete"] = sorted(f.path for f in repo.list_artifacts("model"))
print("RESULT " + json.dumps(out))
"""


def _venv_python() -> Path:
    venv = os.environ.get(VENV_VARIABLE)
    if not venv:
        pytest.skip(f"{VENV_VARIABLE} is not set: it names the virtualenv with mlflow-jfrog-plugin "
                    "(see this module's docstring for the pip command)")  # fmt: skip
    python = Path(venv) / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{VENV_VARIABLE}={venv} has no bin/python")
    return python


def test_plugin_logs_lists_downloads_and_deletes(tmp_path: Path) -> None:
    python = _venv_python()
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    with run_sandbox(tmp_path / "data") as sandbox:
        env = {**os.environ, "ARTIFACTORY_AUTH_TOKEN": sandbox.admin_token,
               "ARTIFACTORY_NO_SSL": "true", "MLFLOW_ALLOW_FILE_STORE": "true"}  # fmt: skip
        done = subprocess.run([str(python), str(driver), sandbox.url.removeprefix("http://"), str(tmp_path)],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
                              check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
        result = json.loads(done.stdout.rsplit("RESULT ", 1)[1])
        run_path = result["artifact_uri"].split(f"/artifactory/{REPO}/", 1)[1]
        stored = httpx.get(f"{sandbox.artifactory_url}/api/storage/{REPO}/{run_path}?list&deep=1",
                           headers={"Authorization": f"Bearer {sandbox.admin_token}"}).json()  # fmt: skip
    assert result["root"] == [["metrics.json", False, 18], ["model", True, -1]]
    assert result["model"] == [["model/model.pkl", False, 7000], ["model/sub", True, -1]]
    assert result["downloaded"] is True
    assert result["after_delete"] == ["model/model.pkl"]
    assert sorted(entry["uri"] for entry in stored["files"]) == ["/metrics.json", "/model/model.pkl"]
