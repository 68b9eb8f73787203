"""JFrog's `frogml` SDK (pinned, unchanged) against the sandbox's `machinelearning` repositories.

frogml lives in its own virtualenv named by `FROGML_VENV` (`make test` builds it: see the Makefile's
FROGML_PINS); without it these tests are skipped. frogml is configured through `JF_URL` and
`JF_ACCESS_TOKEN` (the last test: through the config file its own login writes), with `HOME` in a
temporary folder so no real `~/.frogml` or JFrog CLI config is read, and
`log_model(register_in_jml=False)` so it never calls the JFrog ML control plane (gRPC).

One driver run (tests/sandbox/frogml_driver.py) logs, reads back and loads two models and a
dataset; the tests below check what it saw and what the sandbox recorded.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox

VENV_VARIABLE = "FROGML_VENV"
DRIVER = Path(__file__).with_name("frogml_driver.py")
DEV, PROD = "ml-dev-local", "ml-prod-local"
RUN_TIMEOUT_S = 180
MODEL_FOLDER = "models/fraud-detector/1.0.0"


@dataclass
class Published:
    sandbox: SandboxHandle
    client: httpx.Client
    result: dict[str, Any]
    requests: list[dict[str, Any]]
    started: float
    finished: float
    work: Path


def _venv_python() -> Path:
    venv = os.environ.get(VENV_VARIABLE)
    if not venv:
        pytest.skip(f"{VENV_VARIABLE} is not set: it names the virtualenv with frogml (make test builds it)")
    python = Path(venv) / "bin" / "python"
    if not python.exists():
        pytest.fail(f"{VENV_VARIABLE}={venv} has no bin/python")
    return python


def run_frogml(sandbox: SandboxHandle, home: Path, *args: str) -> dict[str, Any]:
    """Run the driver in the frogml venv with only the settings frogml documents; its RESULT."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "JF_URL": sandbox.url,
           "JF_ACCESS_TOKEN": sandbox.admin_token, "NO_PROXY": "*"}  # fmt: skip
    done = subprocess.run([str(_venv_python()), str(DRIVER), *args], env=env, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.rsplit("RESULT ", 1)[1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    _venv_python()
    root = tmp_path_factory.mktemp("frogml")
    (root / "home").mkdir()
    (root / "work").mkdir()
    with run_sandbox(root / "data") as sandbox, httpx.Client(
        base_url=f"{sandbox.url}/artifactory", headers={"Authorization": f"Bearer {sandbox.admin_token}"}
    ) as client:  # fmt: skip
        for key in (DEV, PROD):
            created = client.put(f"/api/repositories/{key}", json={"rclass": "local", "packageType": "machinelearning"})
            assert created.status_code == 200, created.text
        started = time.time()
        result = run_frogml(sandbox, root / "home", "publish", DEV, str(root / "work"))
        finished = time.time()
        yield Published(sandbox, client, result, sandbox.ctx.requests.entries(), started, finished, root)


def _paths(published: Published, method: str, prefix: str = "") -> list[str]:
    return [e["path"] for e in published.requests if e["method"] == method and e["path"].startswith(prefix)]


def _listing(client: httpx.Client, repo: str, folder: str) -> list[str]:
    answer = client.get(f"/api/storage/{repo}/{folder}?list&deep=1")
    assert answer.status_code == 200, answer.text
    return sorted(entry["uri"] for entry in answer.json()["files"])


def test_log_model_get_model_info_and_load_model_round_trip(published: Published) -> None:
    result = published.result
    info = result["info"]
    assert result["loaded"] == {"model.pkl": result["model_sha256"]}
    assert info["id"] == "fraud-detector"
    assert info["version"] == "1.0.0"
    assert info["model_format"]["framework"] == "files"
    assert info["model_format"]["serialization_format"] == "pkl"
    [artifact] = info["model_artifacts"]
    assert artifact["checksums"]["sha2"] == result["model_sha256"]
    assert artifact["download_url"] == f"{published.sandbox.url}/artifactory/{DEV}/{MODEL_FOLDER}/model.pkl"


def test_the_transaction_id_is_epoch_milliseconds_and_dates_the_manifest(published: Published) -> None:
    [manifest_put] = _paths(
        published, "PUT", f"/artifactory/api/machinelearning/{DEV}/model/entity-manifest/fraud-detector/1.0.0/"
    )
    transaction_id = int(manifest_put.rsplit("/", 1)[1])
    assert published.started * 1000 <= transaction_id <= published.finished * 1000
    # frogml turns the id into created_date itself (milliseconds_to_iso_instant).
    expected = datetime.fromtimestamp(transaction_id / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]
    assert published.result["info"]["created_date"] == expected


def test_a_version_is_stored_as_plain_files_in_the_documented_layout(published: Published) -> None:
    client = published.client
    assert _listing(client, DEV, MODEL_FOLDER) == ["/code/code.zip", "/model-manifest.json", "/model.pkl"]
    assert client.get(f"/api/storage/{DEV}/models/fraud-detector/tmp").status_code == 404
    stored = client.get(f"/{DEV}/{MODEL_FOLDER}/model-manifest.json").json()
    assert stored["model_artifacts"][0]["artifact_path"] == "model.pkl"
    assert "download_url" not in stored["model_artifacts"][0]


def test_properties_parameters_and_metrics_become_item_properties(published: Published) -> None:
    answer = published.client.get(f"/api/storage/{DEV}/{MODEL_FOLDER}/model.pkl?properties")
    assert answer.json()["properties"] == {"team": ["risk"], "learning_rate": ["0.1"], "accuracy": ["0.93"]}


def test_files_are_offered_by_checksum_first_and_sent_only_when_unknown(published: Published) -> None:
    uploads = [e for e in published.requests if e["method"] == "PUT" and "/tmp/" in e["path"]]
    first_attempt: dict[str, dict[str, Any]] = {}
    for entry in sorted(uploads, key=lambda e: e["at"] - e["duration"]):  # by start: the log is by end
        first_attempt.setdefault(entry["path"], entry)
    assert all(entry["bytes_received"] == 0 for entry in first_attempt.values())
    # Version 1.0.1 has the same model bytes: the checksum deploy alone stores it.
    again = [e for e in uploads if "/tmp/1.0.1/" in e["path"] and e["path"].endswith("/files/model.pkl")]
    assert [(e["status"], e["bytes_received"]) for e in again] == [(201, 0)]


def test_frogml_checks_the_sha256_by_head_before_each_download(published: Published) -> None:
    # The log is written as each answer ends, so concurrent requests may be logged out of order:
    # compare when each request started (a GET follows its HEAD's answer).
    started: dict[tuple[str, str], float] = {}
    for e in published.requests:
        started.setdefault((e["method"], e["path"]), e["at"] - e["duration"])
    downloads = [path for method, path in started if method == "GET" and "/api/" not in path]
    assert downloads
    for path in downloads:
        assert started[("HEAD", path)] < started[("GET", path)]


def test_a_namespaced_folder_model_with_dependencies_and_code_and_a_server_chosen_version(published: Published) -> None:
    encoder = published.result["encoder"]
    assert encoder["downloaded"] == encoder["uploaded"]
    version = encoder["version"]
    assert datetime.strptime(version + "000", "%Y-%m-%d-%H-%M-%S-%f")
    assert _listing(published.client, DEV, f"models/nlp/encoder/{version}") == [
        "/code/code.zip",
        "/dependencies/requirements.txt",
        "/model-manifest.json",
        "/tokenizer/vocab.txt",
        "/weights.bin",
    ]


def test_a_dataset_round_trips(published: Published) -> None:
    dataset = published.result["dataset"]
    assert dataset["downloaded"] == dataset["uploaded"]
    assert _listing(published.client, DEV, "datasets/transactions/2026.1") == [
        "/2026/jan.csv",
        "/dataset-manifest.json",
        "/schema.json",
    ]


def test_aql_finds_a_version_and_frogml_loads_it_after_a_plain_copy_to_prod(published: Published) -> None:
    """The load runs with a config file only: frogml's login (user `admin`, the token as password)
    pings, mints a 30-day token through Access and writes ~/.frogml/config.json."""
    client = published.client
    query = f'items.find({{"repo":"{DEV}","path":"{MODEL_FOLDER}","@accuracy":"0.93"}})'
    found = client.post("/api/search/aql", content=query, headers={"Content-Type": "text/plain"}).json()
    assert sorted(row["name"] for row in found["results"]) == ["model-manifest.json", "model.pkl"]
    copied = client.post(f"/api/copy/{DEV}/{MODEL_FOLDER}?to=/{PROD}/{MODEL_FOLDER}")
    assert copied.status_code == 200, copied.text
    seen = len(published.sandbox.ctx.requests.entries())
    loaded = run_frogml(published.sandbox, published.work / "home", "login-load", PROD, "fraud-detector", "1.0.0",
                        str(published.work / "from-prod"))  # fmt: skip
    assert loaded == {
        "logged_in": True,
        "minted_token": True,
        "loaded": {"model.pkl": published.result["model_sha256"]},
    }
    calls = [(e["method"], e["path"], e["user"]) for e in published.sandbox.ctx.requests.entries()[seen:]]
    assert calls[:2] == [("GET", "/artifactory/api/system/ping", "admin"), ("POST", "/access/api/v1/tokens", "admin")]
