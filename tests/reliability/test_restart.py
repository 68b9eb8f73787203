"""The server killed (SIGKILL) and restarted on the same port and data while a run is under way.

A fault holds one request on the server (`delay`: before the handler runs, so nothing of it is
stored yet; `body_delay`: after the handler has committed and sent its status line), the test
kills the process at that moment and starts it again, and the run must still end complete: the
interrupted request is retried against the restarted server, and nothing is stored twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from artifactory_sandbox.testing import SandboxProcess
from tests.e2e.conftest import ActionHarness, ActionResult
from tests.reliability.conftest import (
    BUILD,
    FOLDER,
    NUMBER,
    PIPELINE,
    lay_out,
    model_files,
    pipeline_inputs,
    seed_shared_content,
)
from tests.reliability.registry import Registry, check_complete
from tests.reliability.test_faults import DEPLOY, PROMOTE, PUBLISH, XRAY_RESULT

HIT_TIMEOUT_S = 60.0
POLL_S = 0.05
# After the handler of a `body_delay` request committed: its status line is on the wire.
COMMITTED_S = 0.5


@dataclass(frozen=True)
class Crash:
    id: str
    stages: str
    endpoint: tuple[str, str]
    fault: dict[str, Any]
    hits: int  # kill once the fault has held this many requests
    settle: float = 0.0  # then wait this long before killing
    inputs: tuple[tuple[str, str], ...] = ()


CRASHES = [
    Crash("upload-killed-while-receiving-the-model", "upload", DEPLOY, {"delay": 3}, hits=1),
    Crash("pipeline-killed-while-publishing", PIPELINE, PUBLISH, {"delay": 3}, hits=1),
    Crash("pipeline-killed-while-scanning", PIPELINE, XRAY_RESULT, {"delay": 3}, hits=1),
    # The real promotion (the second request: the dry run is the first) is stored, and the server
    # dies before its answer arrives: the client cannot know, and its retry finds nothing to move.
    Crash(
        "pipeline-killed-after-moving-before-answering",
        PIPELINE,
        PROMOTE,
        {"body_delay": 3, "count": 2},
        hits=2,
        settle=COMMITTED_S,
        inputs=(("copy", "false"),),
    ),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SandboxProcess]:
    with SandboxProcess(tmp_path / "sandbox-data", extra_args=["--xray-index-delay", "0"]) as process:
        yield process


def kill_when_held(registry: Registry, server: SandboxProcess, crash: Crash) -> None:
    deadline = time.monotonic() + HIT_TIMEOUT_S
    while time.monotonic() < deadline:
        if sum(f["hits"] for f in registry.faults()) >= crash.hits:
            time.sleep(crash.settle)
            server.restart()
            return
        time.sleep(POLL_S)
    pytest.fail(f"no request reached {crash.endpoint} within {HIT_TIMEOUT_S} s")


def run_against(server: SandboxProcess, tmp_path: Path, inputs: dict[str, str], crash: Crash) -> ActionResult:
    harness = ActionHarness(None, tmp_path)
    lay_out(harness.workspace, model_files())
    registry = Registry(server)
    registry.fault(method=crash.endpoint[0], path=crash.endpoint[1], **crash.fault)
    env = {"JF_URL": server.url, "JF_ACCESS_TOKEN": server.admin_token}
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(harness.run, inputs, env)
        kill_when_held(registry, server, crash)
        return running.result()


@pytest.mark.slow
@pytest.mark.parametrize("crash", CRASHES, ids=lambda c: c.id)
def test_a_run_survives_the_server_being_killed_and_restarted(
    crash: Crash, server: SandboxProcess, tmp_path: Path
) -> None:
    registry = Registry(server)
    seed_shared_content(registry)
    port = server.port

    result = run_against(server, tmp_path, pipeline_inputs(crash.stages, **dict(crash.inputs)), crash)

    assert server.port == port
    assert result.returncode == 0, result.log
    assert result.errors == []
    assert "Retrying " in result.stdout
    published = "build-publish" in crash.stages
    check_complete(
        registry,
        model_files(),
        FOLDER,
        build_name=BUILD if published else "",
        number=NUMBER,
        promoted="promote" in crash.stages,
        moved=("copy", "false") in crash.inputs,
    )
    if ("copy", "false") in crash.inputs:  # the retried move was refused: nothing was left to move
        assert (
            "The answer to the promotion of build fraud-model #7 was lost; its status history shows it was done."
            in result.stdout
        )
