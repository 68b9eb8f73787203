"""A virtual `target-repo` against the sandbox: promote, gate and resolve find production there.

Artifactory promotes into a virtual target's default deployment repository and records that local
key in the build's `statuses` (jfrog-api.md 9.3: "a virtual target is replaced by its default
deployment repository before the status is stored", OSS BuildPromotionHelper.handleVirtualRepo).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.jfrog import make_context
from tests.fakes.sandbox_client import SandboxClient

from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from ml_artifactory_action.__main__ import make_client
from ml_artifactory_action.errors import ConfigError
from ml_artifactory_action.stages import gate, promote, resolve
from ml_artifactory_action.stages.context import StageContext

STAGE, PROD, VIRTUAL = "ml-models-staging-local", "ml-models-prod-local", "ml-models-prod"
MODELS = {"1": b'{"weights": [1]}', "2": b'{"weights": [2]}'}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path_factory.mktemp("virtual-target")) as handle:
        admin = {"Authorization": f"Bearer {handle.admin_token}"}
        for key, default in ((VIRTUAL, PROD), ("ml-models-nowhere", "")):
            config = {"rclass": "virtual", "packageType": "generic", "repositories": [PROD, STAGE]}
            config |= {"defaultDeploymentRepo": default} if default else {}
            httpx.put(f"{handle.artifactory_url}/api/repositories/{key}", json=config, headers=admin).raise_for_status()
        for number in MODELS:
            _ship(handle, number)
        yield handle


def _ship(sandbox: SandboxHandle, number: str) -> None:
    """Build `number` uploaded to staging (with metric.accuracy) and published."""
    data, path = MODELS[number], f"fraud-model/{number}/model.json"
    props = {"build.name": "fraud-model", "build.number": number, "metric.accuracy": f"0.9{number}"}
    SandboxClient(sandbox).deploy(STAGE, path, data, **props)
    sums = {kind: hashlib.new(kind, data, usedforsecurity=False).hexdigest() for kind in ("sha1", "md5", "sha256")}
    artifact = {"name": "model.json", "type": "json", "path": path, **sums}
    info = {"name": "fraud-model", "number": number, "started": f"2024-05-0{number}T10:00:00.000+0000",
            "modules": [{"type": "generic", "id": "fraud-model", "artifacts": [artifact]}]}  # fmt: skip
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    httpx.put(f"{sandbox.artifactory_url}/api/build", json=info, headers=headers).raise_for_status()


OPENED: list[StageContext] = []


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    while OPENED:
        client = OPENED.pop()._client
        if client is not None:
            client.http.close()


def context(tmp_path: Path, sandbox: SandboxHandle, **inputs: str) -> StageContext:
    server = {"JF_URL": sandbox.url, "JF_ACCESS_TOKEN": sandbox.admin_token}
    ctx = make_context(tmp_path, {"target-repo": VIRTUAL, "source-repo": STAGE} | inputs, env=server)
    ctx.client_factory = lambda: make_client(ctx.settings, ctx.runner)
    OPENED.append(ctx)
    return ctx


def promote_run(tmp_path: Path, sandbox: SandboxHandle, **inputs: str) -> Any:
    ctx = context(tmp_path, sandbox, stages="promote", **inputs)
    promote.preflight(ctx)
    return promote.run(ctx)


def test_production_behind_a_virtual_target_is_found_by_every_stage(tmp_path: Path, sandbox: SandboxHandle) -> None:
    assert promote_run(tmp_path / "p1", sandbox, **{"build-number": "1"}).changed
    assert promote_run(tmp_path / "p2", sandbox, **{"build-number": "2"}).changed
    statuses = SandboxClient(sandbox).build("fraud-model", "2")["statuses"]  # type: ignore[index]
    assert [s["repository"] for s in statuses] == [PROD]  # the server's own record: the local key

    again = promote_run(tmp_path / "p3", sandbox, **{"build-number": "2"})
    assert not again.changed  # production is #2 already: not promoted a second time

    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"accuracy": 0.95}')
    gate_inputs = {"metrics-file": str(metrics), "thresholds": "accuracy >= 0.9", "compare-to-production": "true"}
    production = gate.find_production(context(tmp_path / "g", sandbox, stages="gate", **gate_inputs))
    assert production is not None
    assert (production.build_number, production.metrics) == ("2", {"accuracy": 0.92})
    _, number, _ = resolve.select_items(context(tmp_path / "r", sandbox, stages="resolve"))
    assert number == "2"

    rollback = promote_run(tmp_path / "p4", sandbox, rollback="true")
    assert (rollback.build_number, rollback.rollback_of) == ("1", "2")


def test_a_virtual_target_without_a_deployment_repository_is_refused_before_anything(
    tmp_path: Path, sandbox: SandboxHandle
) -> None:
    ctx = context(tmp_path, sandbox, stages="promote", **{"target-repo": "ml-models-nowhere"})
    with pytest.raises(ConfigError, match="virtual repository without a default deployment repository") as caught:
        promote.preflight(ctx)
    assert caught.value.input_name == "target-repo"
