"""The upload stage against the in-process sandbox: what is stored, sent, reported and output."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina

from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from ml_artifactory_action.__main__ import make_client
from ml_artifactory_action.errors import (
    ArtifactoryError,
    AuthenticationError,
    ConfigError,
    ModelFilesError,
    TargetTakenError,
    UnsafeModelError,
)
from ml_artifactory_action.inputs import load_settings, secret_values
from ml_artifactory_action.model.hash_cache import CACHE_FILE
from ml_artifactory_action.runner import Runner
from ml_artifactory_action.settings import Stage
from ml_artifactory_action.stages import upload, uploader
from ml_artifactory_action.stages.context import RunState, StageContext
from ml_artifactory_action.stages.gate import GateResult
from ml_artifactory_action.stages.upload import UploadResult

REPO = "ml-models-staging-local"
FOLDER = "fraud-model/7"
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
HOLD_S = 1.5  # a held PUT: time enough for "another run" to write meanwhile
THEIRS = b'{"theirs": 1}'


class Exploit:
    """Pickles to a call of os.system: what a malicious model file holds."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("echo pwned",))


class Server:
    """What a test reads back from the sandbox: stored bytes, properties, the request log."""

    def __init__(self, handle: SandboxHandle) -> None:
        self.handle = handle
        self.http = httpx.Client(headers={"Authorization": f"Bearer {handle.admin_token}"}, timeout=30)

    def get(self, path: str, repo: str = REPO) -> bytes | None:
        response = self.http.get(f"{self.handle.url}/artifactory/{repo}/{path}")
        return response.content if response.status_code == 200 else None

    def put(self, path: str, data: bytes, repo: str = REPO) -> None:
        self.http.put(f"{self.handle.url}/artifactory/{repo}/{path}", content=data).raise_for_status()

    def files(self, repo: str = REPO) -> list[str]:
        response = self.http.get(f"{self.handle.url}/artifactory/api/storage/{repo}/?list&deep=1")
        return sorted(f["uri"].lstrip("/") for f in response.json().get("files", []))

    def properties(self, path: str) -> dict[str, list[str]]:
        response = self.http.get(f"{self.handle.url}/artifactory/api/storage/{REPO}/{path}?properties")
        return dict(response.json()["properties"])

    def requests(self) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.handle.url}/_sandbox/requests").json())

    def forget_requests(self) -> None:
        self.http.delete(f"{self.handle.url}/_sandbox/requests")

    def bytes_received(self) -> int:
        return sum(r["bytes_received"] for r in self.requests() if r["method"] == "PUT")

    def fault(self, **spec: Any) -> None:
        self.http.post(f"{self.handle.url}/_sandbox/faults", json=spec).raise_for_status()

    def faults(self) -> list[dict[str, Any]]:
        return list(self.http.get(f"{self.handle.url}/_sandbox/faults").json())


class Stage_:
    """Runs the upload stage the way the pipeline does, with inputs as the runner passes them."""

    def __init__(self, handle: SandboxHandle, workspace: Path, cache: Path) -> None:
        self.handle, self.workspace, self.cache = handle, workspace, cache
        self.log = io.StringIO()
        self.runner: Runner | None = None
        self.ctx: StageContext | None = None

    def environ(self, inputs: dict[str, str]) -> dict[str, str]:
        env = {
            "JF_URL": self.handle.url,
            "JF_ACCESS_TOKEN": self.handle.admin_token,
            "GITHUB_REPOSITORY": "acme/fraud-model",
            "GITHUB_RUN_NUMBER": "7",
            "GITHUB_RUN_ID": "90001",
            "GITHUB_SHA": SHA,
            "GITHUB_REF_NAME": "main",
            "GITHUB_WORKSPACE": str(self.workspace),
            "INPUT_HASH-CACHE-DIR": str(self.cache),
        }
        return env | {f"INPUT_{name.upper()}": value for name, value in inputs.items()}

    def run(self, gate: GateResult | None = None, **inputs: str) -> UploadResult:
        settings = load_settings(self.environ({"model-path": "model", **inputs}))
        self.log = io.StringIO()
        self.runner = Runner(settings.github, self.log)
        for secret in secret_values(self.environ(inputs), {}):
            self.runner.mask(secret)  # as the entrypoint does before anything else
        self.ctx = StageContext(settings, self.runner, RunState())
        self.ctx.client_factory = lambda: make_client(settings, self.runner)  # type: ignore[arg-type]
        if gate is not None:
            self.ctx.state.results[Stage.GATE] = gate
        try:
            result = upload.run(self.ctx)
        finally:
            if self.ctx._client is not None:
                self.ctx._client.http.close()
        assert isinstance(result, UploadResult)
        return result

    @property
    def outputs(self) -> dict[str, str]:
        assert self.runner is not None
        return self.runner.outputs


@pytest.fixture(autouse=True)
def instant_retries() -> Iterator[None]:
    with stamina.set_testing(True, attempts=100, cap=True):
        yield


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path / "sandbox") as handle:
        yield handle


@pytest.fixture
def server(sandbox: SandboxHandle) -> Iterator[Server]:
    server = Server(sandbox)
    yield server
    server.http.close()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def stage(sandbox: SandboxHandle, workspace: Path, tmp_path: Path) -> Stage_:
    return Stage_(sandbox, workspace, tmp_path / "cache")


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def model(workspace: Path) -> dict[str, bytes]:
    """A Hugging Face style folder: weights bigger than SMALL_FILE, config and tokenizer files."""
    files = {
        "config.json": b'{"model_type": "bert"}',
        "model.safetensors": os.urandom(upload.SMALL_FILE + 4321),
        "tokenizer/tokenizer.json": b'{"version": "1.0"}',
    }
    for name, data in files.items():
        write(workspace / "model" / name, data)
    return files


def digest(name: str, data: bytes) -> str:
    return hashlib.new(name, data).hexdigest()


# A first upload ------------------------------------------------------------------------------
def test_a_folder_is_stored_whole_with_its_structure(stage: Stage_, server: Server, model: dict[str, bytes]) -> None:
    result = stage.run()
    assert server.files() == [f"{FOLDER}/{name}" for name in sorted(model)]
    for name, data in model.items():
        assert server.get(f"{FOLDER}/{name}") == data
    assert [(a.path, a.size, a.sent) for a in result.artifacts] == [
        (f"{FOLDER}/{name}", len(data), True) for name, data in sorted(model.items())
    ]
    assert server.bytes_received() == sum(len(d) for d in model.values())


def test_the_checksums_come_from_the_server_and_match_the_files(stage: Stage_, model: dict[str, bytes]) -> None:
    result = stage.run()
    for artifact in result.artifacts:
        data = model[artifact.path.removeprefix(f"{FOLDER}/")]
        assert (artifact.sha1, artifact.sha256, artifact.md5) == (
            digest("sha1", data),
            digest("sha256", data),
            digest("md5", data),
        )
        assert artifact.download_uri == f"{stage.handle.url}/artifactory/{REPO}/{artifact.path}"


def test_every_file_carries_build_vcs_model_and_metric_properties(
    stage: Stage_, server: Server, model: dict[str, bytes]
) -> None:
    gate = GateResult(passed=True, metrics={"accuracy": 0.94, "val/loss": 0.21}, rows=(), source="metrics.json")
    stage.run(gate=gate, properties="team=fraud;labels=a,b;note=one\\, two")
    assert stage.ctx is not None
    assert server.properties(f"{FOLDER}/model.safetensors") == {
        "build.name": ["fraud-model"],
        "build.number": ["7"],
        "build.timestamp": [stage.ctx.state.build_timestamp],
        "vcs.provider": ["github"],
        "vcs.org": ["acme"],
        "vcs.repo": ["fraud-model"],
        "vcs.url": ["https://github.com/acme/fraud-model"],
        "vcs.revision": [SHA],
        "vcs.branch": ["main"],
        "ci.run.url": ["https://github.com/acme/fraud-model/actions/runs/90001"],
        "model.name": ["fraud-model"],
        "model.version": ["7"],
        "model.framework": ["safetensors"],
        "metric.accuracy": ["0.94"],
        "metric.val_loss": ["0.21"],
        "team": ["fraud"],
        "labels": ["a", "b"],
        "note": ["one, two"],  # a comma inside a value arrives as itself, not as `one\, two`
    }


def test_the_users_properties_win_over_ours(stage: Stage_, server: Server, model: dict[str, bytes]) -> None:
    stage.run(properties="model.framework=transformers")
    assert server.properties(f"{FOLDER}/config.json")["model.framework"] == ["transformers"]


def test_outputs_describe_the_upload(stage: Stage_, model: dict[str, bytes]) -> None:
    result = stage.run()
    artifacts = json.loads(stage.outputs["artifacts"])
    assert artifacts == [a.as_output() for a in result.artifacts]
    assert artifacts[0] == {
        "repo": REPO,
        "path": f"{FOLDER}/config.json",
        "size": len(model["config.json"]),
        "sha256": digest("sha256", model["config.json"]),
        "download_url": f"{stage.handle.url}/artifactory/{REPO}/{FOLDER}/config.json",
    }
    assert stage.outputs["model-url"] == f"{stage.handle.url}/artifactory/{REPO}/{FOLDER}"
    assert stage.outputs["uploaded-bytes"] == str(sum(len(d) for d in model.values()))
    assert stage.outputs["deduplicated-files"] == "0"
    assert "model-sha256" not in stage.outputs


def test_a_single_file_gets_its_sha256_as_output(stage: Stage_, workspace: Path) -> None:
    write(workspace / "out" / "model.onnx", b"onnx-bytes")
    stage.run(**{"model-path": "out/model.onnx"})
    assert stage.outputs["model-sha256"] == digest("sha256", b"onnx-bytes")
    assert stage.outputs["model-url"].endswith(f"/{REPO}/{FOLDER}")


def test_a_target_without_trailing_slash_names_a_single_file(stage: Stage_, server: Server, workspace: Path) -> None:
    write(workspace / "out" / "model.onnx", b"onnx-bytes")
    stage.run(**{"model-path": "out/model.onnx", "target-path": "models/{model-name}-{model-version}.onnx"})
    assert server.files() == ["models/fraud-model-7.onnx"]
    assert stage.outputs["model-url"] == f"{stage.handle.url}/artifactory/{REPO}/models/fraud-model-7.onnx"


def test_the_summary_table_lists_every_file(stage: Stage_, model: dict[str, bytes]) -> None:
    result = stage.run()
    sha = digest("sha256", model["model.safetensors"])[:12]
    url = f"{stage.handle.url}/artifactory/{REPO}/{FOLDER}"
    assert result.summary_markdown().splitlines() == [
        f"### Model files uploaded to `{REPO}/{FOLDER}`",
        "",
        "| File | Size | SHA-256 | Transfer |",
        "| --- | ---: | --- | --- |",
        f"| [config.json]({url}/config.json) | 22 B | `{digest('sha256', model['config.json'])[:12]}` | sent |",
        f"| [model.safetensors]({url}/model.safetensors) | 1.0 MiB | `{sha}` | sent |",
        f"| [tokenizer/tokenizer.json]({url}/tokenizer/tokenizer.json) | 18 B | "
        f"`{digest('sha256', model['tokenizer/tokenizer.json'])[:12]}` | sent |",
        "",
        f"3 files, 1.0 MiB sent, 0 deduplicated. [Browse]({url})",
    ]


def test_files_go_one_at_a_time_with_one_worker(stage: Stage_, server: Server, workspace: Path) -> None:
    for index in range(5):
        write(workspace / "model" / f"shard-{index}.bin", os.urandom(1000 + index))
    result = stage.run(**{"max-workers": "1"})
    assert len(result.artifacts) == 5
    assert len(server.files()) == 5


def test_big_files_report_progress(stage: Stage_, model: dict[str, bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uploader, "PROGRESS_MIN_SIZE", upload.SMALL_FILE)
    monkeypatch.setattr(uploader, "PROGRESS_INTERVAL", 0.0)
    stage.run()
    lines = [line for line in stage.log.getvalue().splitlines() if line.startswith("Uploading model.safetensors")]
    assert lines[-1].startswith("Uploading model.safetensors: 1.0 MiB of 1.0 MiB (100%) at ")
    assert lines[-1].endswith("/s")


# Re-runs and deduplication ------------------------------------------------------------------
def test_a_rerun_sends_no_bytes_and_hashes_nothing_again(
    stage: Stage_, server: Server, model: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    stage.run()
    server.forget_requests()
    hashed: list[Path] = []
    real_hash = uploader.sha256_file
    monkeypatch.setattr(uploader, "sha256_file", lambda path, *a: hashed.append(path) or real_hash(path, *a))
    result = stage.run()
    assert server.bytes_received() == 0
    assert hashed == []
    assert [a.sent for a in result.artifacts] == [False, False, False]
    assert [a.already_present for a in result.artifacts] == [True, True, True]
    assert stage.outputs["uploaded-bytes"] == "0"
    assert stage.outputs["deduplicated-files"] == "3"
    assert "| deduplicated |" in result.summary_markdown()


def test_a_rerun_refreshes_the_properties(stage: Stage_, server: Server, model: dict[str, bytes]) -> None:
    stage.run(properties="attempt=1")
    stage.run(properties="attempt=2")
    assert server.properties(f"{FOLDER}/model.safetensors")["attempt"] == ["2"]


def test_without_a_cache_a_rerun_still_sends_no_bytes(stage: Stage_, server: Server, model: dict[str, bytes]) -> None:
    stage.run(**{"hash-cache-dir": ""})
    server.forget_requests()
    stage.run(**{"hash-cache-dir": ""})
    assert server.bytes_received() == 0
    assert not (stage.cache / CACHE_FILE).exists()


def test_the_same_content_under_a_new_version_is_deployed_by_checksum(
    stage: Stage_, server: Server, model: dict[str, bytes]
) -> None:
    stage.run()
    server.forget_requests()
    result = stage.run(**{"model-version": "8", "hash-cache-dir": ""})
    assert server.bytes_received() == 0
    assert server.get("fraud-model/8/model.safetensors") == model["model.safetensors"]
    assert [(a.sent, a.already_present) for a in result.artifacts] == [(False, False)] * 3


def test_content_new_to_the_server_is_streamed_without_hashing_first(
    stage: Stage_, server: Server, model: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[Path] = []
    real_hash = uploader.sha256_file
    monkeypatch.setattr(uploader, "sha256_file", lambda path, *a: hashed.append(path) or real_hash(path, *a))
    stage.run()
    # Only the small files were hashed up front; the big one was hashed while it was sent.
    assert sorted(p.name for p in hashed) == ["config.json", "tokenizer.json"]
    assert server.get(f"{FOLDER}/model.safetensors") == model["model.safetensors"]


def test_a_file_of_a_known_size_but_new_content_is_hashed_then_sent(
    stage: Stage_, server: Server, workspace: Path, model: dict[str, bytes]
) -> None:
    stage.run()
    write(workspace / "model" / "model.safetensors", os.urandom(len(model["model.safetensors"])))
    server.forget_requests()
    result = stage.run(**{"model-version": "8"})
    sent = {a.path: a.sent for a in result.artifacts}
    assert sent == {
        "fraud-model/8/config.json": False,
        "fraud-model/8/model.safetensors": True,
        "fraud-model/8/tokenizer/tokenizer.json": False,
    }
    assert server.bytes_received() == len(model["model.safetensors"])


def test_a_target_holding_other_content_stops_the_upload_before_a_byte_is_sent(
    stage: Stage_, server: Server, model: dict[str, bytes]
) -> None:
    server.put(f"{FOLDER}/config.json", b'{"old": true}')
    server.forget_requests()

    with pytest.raises(TargetTakenError) as caught:
        stage.run()

    assert caught.value.message == (
        f"1 of 3 target paths already hold other content, so nothing was uploaded: {FOLDER}/config.json"
    )
    assert caught.value.fix.startswith("A model version is written once: give a new model-version")
    assert server.files() == [f"{FOLDER}/config.json"]
    assert server.get(f"{FOLDER}/config.json") == b'{"old": true}'
    assert [r["method"] for r in server.requests() if r["method"] in ("PUT", "DELETE")] == []


def test_with_overwrite_a_target_holding_other_content_is_replaced(
    stage: Stage_, server: Server, model: dict[str, bytes]
) -> None:
    server.put(f"{FOLDER}/config.json", b'{"old": true}')
    result = stage.run(overwrite="true")
    assert server.get(f"{FOLDER}/config.json") == model["config.json"]
    assert not any(a.already_present for a in result.artifacts)
    assert f"overwrite is set: replacing 1 files that hold other content: {FOLDER}/config.json" in stage.log.getvalue()


def storage_lookups_and_puts(server: Server) -> tuple[int, int]:
    requests = server.requests()
    lookups = sum(r["method"] == "GET" and "/api/storage/" in r["path"] for r in requests)
    puts = sum(r["method"] == "PUT" for r in requests)
    return lookups, puts


@pytest.mark.parametrize(("overwrite", "lookups_per_file"), [("false", 1), ("true", 0)])
def test_each_path_is_looked_at_again_before_its_put_only_when_it_must_not_be_replaced(
    stage: Stage_, server: Server, workspace: Path, overwrite: str, lookups_per_file: int
) -> None:
    """Artifactory has no conditional PUT, so without overwrite each path is read once more just
    before its PUT (a path filled since the AQL query is not replaced). With overwrite whatever it
    holds is replaced anyway: one PUT per file and no lookup."""
    for index in range(4):
        write(workspace / "model" / f"shard-{index}.bin", os.urandom(1000 + index))
    server.forget_requests()
    stage.run(overwrite=overwrite)
    assert storage_lookups_and_puts(server) == (4 * lookups_per_file, 4)


def held_at_the_weights(
    stage: Stage_, server: Server, meanwhile: Callable[[], None], **inputs: str
) -> TargetTakenError:
    """Run the upload with its weights' PUT held on the server; `meanwhile` is another run's write."""
    server.fault(method="PUT", path=r"model\.safetensors$", delay=HOLD_S)
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(stage.run, **{"max-workers": "1", **inputs})
        deadline = time.monotonic() + HOLD_S
        while not any(f["hits"] for f in server.faults()):
            assert time.monotonic() < deadline, "the weights never reached the server"
            time.sleep(0.02)
        meanwhile()
        with pytest.raises(TargetTakenError) as caught:
            running.result()
    return caught.value


def test_a_path_another_run_writes_before_ours_is_deployed_is_not_replaced(
    stage: Stage_, server: Server, model: dict[str, bytes]
) -> None:
    theirs = f"{FOLDER}/tokenizer/tokenizer.json"

    error = held_at_the_weights(stage, server, lambda: server.put(theirs, THEIRS))

    assert error.message.startswith(
        f"{stage.workspace / 'model' / 'tokenizer' / 'tokenizer.json'}: {REPO}/{theirs} was written by another run "
        f"while this one uploaded (it now holds sha256 {digest('sha256', THEIRS)}); this run did not replace it. "
    )
    assert error.message.endswith(
        f"Removed 2 files ({FOLDER}/config.json, {FOLDER}/model.safetensors) this run had created; {theirs} holds "
        "content this run did not store (another run's, or an upload cut short) and was left alone; every other "
        "target path is as it was before the run."
    )
    assert server.files() == [theirs]


def test_a_path_another_run_writes_after_ours_makes_this_run_the_loser_and_keeps_theirs(
    stage: Stage_, server: Server, model: dict[str, bytes]
) -> None:
    theirs = f"{FOLDER}/config.json"

    error = held_at_the_weights(stage, server, lambda: server.put(theirs, THEIRS))

    assert error.message == (
        f"{theirs} was replaced by another run after this one uploaded them. Removed 2 files "
        f"({FOLDER}/model.safetensors, {FOLDER}/tokenizer/tokenizer.json) this run had created; {theirs} holds "
        "content this run did not store (another run's, or an upload cut short) and was left alone; every other "
        "target path is as it was before the run."
    )
    assert server.files() == [theirs]
    assert server.get(theirs) == THEIRS


# Dry run -------------------------------------------------------------------------------------
def test_a_dry_run_changes_nothing_and_shows_the_plan(stage: Stage_, server: Server, model: dict[str, bytes]) -> None:
    server.put(f"{FOLDER}/config.json", model["config.json"])
    server.forget_requests()
    result = stage.run(**{"dry-run": "true"})
    assert server.files() == [f"{FOLDER}/config.json"]
    assert [r["method"] for r in server.requests() if r["method"] not in ("GET", "POST")] == []
    assert stage.outputs == {}
    rows = result.summary_markdown().splitlines()
    assert rows[0] == f"### Model files would be uploaded to `{REPO}/{FOLDER}`"
    assert rows[4].endswith("| already there |")
    assert rows[5].endswith("| would send |")
    assert rows[-1].startswith("3 files, 1.0 MiB to send, 1 deduplicated.")
    assert "Dry run: fraud-model/7/config.json (22 B): already there with the same content" in stage.log.getvalue()


# Refusals before anything is sent -----------------------------------------------------------
def test_a_malicious_pickle_stops_everything(
    stage: Stage_, server: Server, workspace: Path, model: dict[str, bytes]
) -> None:
    write(workspace / "model" / "extra.pkl", pickle.dumps(Exploit()))
    with pytest.raises(UnsafeModelError) as caught:
        stage.run()
    assert f"{workspace / 'model' / 'extra.pkl'}: " in caught.value.message
    assert "os.system" in caught.value.message or "posix.system" in caught.value.message
    assert caught.value.message.startswith("1 of 4 model files would run code when loaded, so nothing was uploaded")
    assert server.requests() == []


def test_allow_unsafe_pickle_uploads_with_a_warning(
    stage: Stage_, server: Server, workspace: Path, model: dict[str, bytes]
) -> None:
    write(workspace / "model" / "extra.pkl", pickle.dumps(Exploit()))
    stage.run(**{"allow-unsafe-pickle": "true"})
    assert f"{FOLDER}/extra.pkl" in server.files()
    assert stage.runner is not None
    [(level, title, message)] = stage.runner.annotations
    assert (level, title) == ("warning", "Unsafe model files uploaded")
    assert "extra.pkl" in message
    assert server.properties(f"{FOLDER}/extra.pkl")["model.unsafe-globals"] == ["posix.system"]
    assert "model.unsafe-globals" not in server.properties(f"{FOLDER}/config.json")


def test_an_unknown_repository_is_a_config_error(stage: Stage_, server: Server, model: dict[str, bytes]) -> None:
    with pytest.raises(ConfigError) as caught:
        stage.run(repo="no-such-repo")
    assert caught.value.input_name == "repo"
    assert caught.value.message == f"Input 'repo': repository 'no-such-repo' does not exist on {stage.handle.url}"
    assert server.files() == []


def test_a_wrong_token_is_refused_before_any_upload(stage: Stage_, server: Server, model: dict[str, bytes]) -> None:
    with pytest.raises(AuthenticationError) as caught:
        stage.run(**{"access-token": "wrong-token-123"})
    assert caught.value.status == 401
    assert server.files() == []


def test_a_target_climbing_out_of_the_repository_is_refused(stage: Stage_, model: dict[str, bytes]) -> None:
    with pytest.raises(ConfigError) as caught:
        stage.run(**{"model-version": "../../../etc"})
    assert caught.value.input_name == "target-path"
    assert "climbs out of the repository with '..'" in caught.value.message


def test_a_secret_in_the_properties_is_refused(stage: Stage_, server: Server, model: dict[str, bytes]) -> None:
    with pytest.raises(ConfigError) as caught:
        stage.run(properties=f"token={stage.handle.admin_token}")
    assert (
        caught.value.message == "Input 'properties': the value of 'token' contains a secret (it is masked in this run)"
    )
    assert server.files() == []


def test_missing_files_are_refused_before_connecting(stage: Stage_, server: Server) -> None:
    with pytest.raises(ModelFilesError, match="no such file or folder"):
        stage.run()
    assert server.requests() == []


# Failures halfway: nothing half-uploaded ----------------------------------------------------
def test_a_failing_file_removes_what_this_run_created_and_says_what_is_left(
    stage: Stage_, server: Server, workspace: Path, model: dict[str, bytes]
) -> None:
    server.put(f"{FOLDER}/config.json", model["config.json"])
    server.fault(method="PUT", path="tokenizer\\.json$", status=500, count=100)
    with pytest.raises(ArtifactoryError) as caught:
        stage.run(**{"max-workers": "1"})
    message = caught.value.message
    assert message.startswith(f"{workspace / 'model' / 'tokenizer' / 'tokenizer.json'}: ")
    assert "answered 500" in message
    assert message.endswith(
        f"Removed {FOLDER}/model.safetensors this run had created; {FOLDER}/config.json already held this content "
        "and keeps it; the files this run deployed carry its properties; every other target path is as it was "
        "before the run."
    )
    assert server.files() == [f"{FOLDER}/config.json"]


def test_a_failure_after_overwriting_says_the_replaced_file_keeps_the_new_content(
    stage: Stage_, server: Server, model: dict[str, bytes]
) -> None:
    server.put(f"{FOLDER}/config.json", b'{"old": true}')
    server.fault(method="PUT", path="tokenizer\\.json$", status=500, count=100)
    with pytest.raises(ArtifactoryError) as caught:
        stage.run(overwrite="true", **{"max-workers": "1"})
    assert caught.value.message.endswith(
        f"Removed {FOLDER}/model.safetensors this run had created; {FOLDER}/config.json replaced by this run "
        "(overwrite) keeps its content: what was there before is not restored; the files this run deployed carry "
        "its properties; every other target path is as it was before the run."
    )
    assert server.get(f"{FOLDER}/config.json") == model["config.json"]


def test_a_failing_file_among_parallel_workers_leaves_nothing(stage: Stage_, server: Server, workspace: Path) -> None:
    for index in range(8):
        write(workspace / "model" / f"shard-{index}.bin", os.urandom(upload.SMALL_FILE + index))
    server.fault(method="PUT", path="shard-3\\.bin$", status=503, count=100)
    with pytest.raises(
        ArtifactoryError,
        match=r"shard-3\.bin: uploading it: PUT .*/fraud-model/7/shard-3\.bin answered 503: Injected fault",
    ):
        stage.run(**{"max-workers": "4"})
    assert server.files() == []


def test_a_transient_failure_is_retried_and_the_file_sent_whole(
    stage: Stage_, server: Server, model: dict[str, bytes]
) -> None:
    server.fault(method="PUT", path="model\\.safetensors$", status=503, count=1)
    result = stage.run()
    assert server.get(f"{FOLDER}/model.safetensors") == model["model.safetensors"]
    assert all(a.sent for a in result.artifacts)
    assert f"Retrying PUT {stage.handle.url}/artifactory/{REPO}/{FOLDER}/model.safetensors" in stage.log.getvalue()


def test_an_unwritable_cache_only_warns(stage: Stage_, model: dict[str, bytes], tmp_path: Path) -> None:
    blocker = write(tmp_path / "not-a-folder", b"")
    stage.run(**{"hash-cache-dir": str(blocker)})
    assert stage.runner is not None
    [(level, title, _)] = stage.runner.annotations
    assert (level, title) == ("warning", "Hash cache not saved")


def test_a_token_without_deploy_permission_names_the_file_and_leaves_nothing(
    tmp_path: Path, workspace: Path, model: dict[str, bytes]
) -> None:
    with run_sandbox(tmp_path / "read-only", read_only_token="read-only-token-0123") as handle:
        stage = Stage_(handle, workspace, tmp_path / "cache")
        with pytest.raises(AuthenticationError) as caught:
            stage.run(**{"access-token": "read-only-token-0123", "max-workers": "1"})
        server = Server(handle)
        files = server.files()
        server.http.close()
    assert caught.value.status == 403
    assert caught.value.message.startswith(f"{workspace / 'model' / 'config.json'}: uploading it: PUT ")
    assert "lack a permission" in caught.value.fix
    assert files == []
