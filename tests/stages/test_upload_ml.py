"""The upload stage into a JFrog ML repository when answers get lost on the way back (the happy
paths run through the entrypoint in tests/e2e/test_ml_repo.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stamina

from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from ml_artifactory_action.__main__ import make_client
from ml_artifactory_action.errors import ArtifactoryError
from ml_artifactory_action.inputs import load_settings
from ml_artifactory_action.runner import Runner
from ml_artifactory_action.stages import upload
from ml_artifactory_action.stages.context import RunState, StageContext

REPO = "ml-dev-local"
FILES = {"model.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ", "config.json": b"{}"}


class LosesAnswers(httpx.HTTPTransport):
    """Forwards every request; the answers of the first `count` manifest PUTs are lost after the
    server has acted on them (a connection reset on the way back)."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "PUT" and "/entity-manifest/" in request.url.path and self.count > 0:
            self.count -= 1
            response.close()
            raise httpx.ReadError("connection reset after the server answered", request=request)
        return response


@pytest.fixture(autouse=True)
def instant_retries() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path / "sandbox") as handle:
        config = {"rclass": "local", "packageType": "machinelearning"}
        auth = {"Authorization": f"Bearer {handle.admin_token}"}
        assert (
            httpx.put(f"{handle.url}/artifactory/api/repositories/{REPO}", json=config, headers=auth).status_code == 200
        )
        yield handle


def run_upload(
    sandbox: SandboxHandle, workspace: Path, transport: httpx.BaseTransport
) -> tuple[upload.UploadResult, str]:
    for name, data in FILES.items():
        (workspace / "model").mkdir(parents=True, exist_ok=True)
        (workspace / "model" / name).write_bytes(data)
    env = {"JF_URL": sandbox.url, "JF_ACCESS_TOKEN": sandbox.admin_token, "GITHUB_REPOSITORY": "acme/fraud-model",
           "GITHUB_RUN_NUMBER": "7", "GITHUB_WORKSPACE": str(workspace), "INPUT_MODEL-PATH": "model", "INPUT_REPO": REPO,
           "INPUT_MODEL-NAME": "fraud", "INPUT_MODEL-VERSION": "1.0", "INPUT_HASH-CACHE-DIR": str(workspace / "cache")}  # fmt: skip
    settings = load_settings(env)
    log = io.StringIO()
    runner = Runner(settings.github, log)
    ctx = StageContext(settings, runner, RunState())
    ctx.client_factory = lambda: make_client(settings, runner, transport)
    try:
        return upload.run(ctx), log.getvalue()
    finally:
        ctx.client.http.close()


def test_a_manifest_answer_lost_after_publishing_is_recovered_by_reading_the_version_back(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    result, log = run_upload(sandbox, tmp_path, LosesAnswers(count=1))

    retries = [line for line in log.splitlines() if line.startswith("Retrying PUT")]
    assert len(retries) == 1
    assert "/entity-manifest/fraud/1.0/" in retries[0]
    assert retries[0].endswith("after ReadError")
    assert sorted(a.path for a in result.artifacts) == [
        "models/fraud/1.0/config.json",
        "models/fraud/1.0/fraud.cdx.json",  # the AI-BOM, written into the version by the upload
        "models/fraud/1.0/model-manifest.json",
        "models/fraud/1.0/model.safetensors",
    ]


def test_when_every_answer_is_lost_the_run_fails_and_says_so(sandbox: SandboxHandle, tmp_path: Path) -> None:
    with pytest.raises(ArtifactoryError) as failed:
        run_upload(sandbox, tmp_path, LosesAnswers(count=99))

    assert "publishing the manifest of model fraud version 1.0" in failed.value.message
    assert "ReadError" in failed.value.message
