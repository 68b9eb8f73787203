"""Fixtures of the reliability tests: the e2e harness, a model laid out in the workspace, the registry.

The model has the three ways a file reaches the server: `model.safetensors` (2 MiB, streamed while
it is hashed), `config.json` (small: hashed first, then sent with its checksum) and `vocab.txt`
(small, and its content is already on the server elsewhere: deployed by checksum, no bytes sent).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from tests.e2e.conftest import ActionHarness, ActionResult, action  # noqa: F401  the fixture
from tests.reliability.registry import DEV, Registry

BUILD, NUMBER, MODEL_NAME = "fraud-model", "7", "fraud-model"
FOLDER = f"{MODEL_NAME}/{NUMBER}"
WEIGHTS_FLOATS = 512 * 1024  # 2 MiB of float32: streamed, and long enough to cut half-way
PIPELINE = "gate,upload,build-publish,scan,promote"
VOCAB = b"".join(f"token{i}\n".encode() for i in range(2000))


def safetensors(count: int, seed: int = 7) -> bytes:
    """A valid safetensors file of `count` float32 weights (bytes derived from `seed`)."""
    data = hashlib.shake_256(f"weights-{seed}".encode()).digest(4 * count)
    header = json.dumps({"weights": {"dtype": "F32", "shape": [count], "data_offsets": [0, len(data)]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data


def model_files(seed: int = 7) -> dict[str, bytes]:
    return {
        "model.safetensors": safetensors(WEIGHTS_FLOATS, seed),
        "config.json": json.dumps({"features": 4, "seed": seed}).encode(),
        "vocab.txt": VOCAB,
    }


def lay_out(workspace: Path, files: Mapping[str, bytes], metrics: Mapping[str, float] | None = None) -> None:
    """The model under workspace/model, the metrics file and the requirements file."""
    model = workspace / "model"
    model.mkdir(exist_ok=True)
    for name, content in files.items():
        (model / name).write_bytes(content)
    (workspace / "metrics.json").write_text(json.dumps({"eval": dict(metrics or {"accuracy": 0.94, "loss": 0.21})}))
    (workspace / "requirements.txt").write_text("numpy==2.1.0\n")


def pipeline_inputs(stages: str = PIPELINE, **inputs: str) -> dict[str, str]:
    """Inputs of a run; no github-token, so no GitHub API is called (the leak hunt covers that)."""
    given = {
        "stages": stages,
        "model-path": "model",
        "metrics-file": "metrics.json",
        "thresholds": "eval.accuracy >= 0.9\neval.loss <= 0.3",
        "dependencies-file": "requirements.txt",
        "scan-timeout": "60",
        "github-token": "",
    }
    return given | inputs


def seed_shared_content(registry: Registry) -> None:
    """vocab.txt's content already stored (by another model), so the upload deploys it by checksum."""
    registry.deploy(DEV, "shared/tokenizer/vocab.txt", VOCAB)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    """A fresh sandbox per test that indexes builds for Xray at once (the waiting is tested in e2e)."""
    with run_sandbox(tmp_path / "sandbox-data", xray_index_delay=0.0) as handle:
        yield handle


@pytest.fixture
def registry(sandbox: SandboxHandle) -> Registry:
    seeded = Registry(sandbox)
    seed_shared_content(seeded)
    return seeded


@pytest.fixture
def model(action: ActionHarness) -> dict[str, bytes]:  # noqa: F811
    files = model_files()
    lay_out(action.workspace, files)
    return files


def one_error(result: ActionResult) -> tuple[str, str]:
    """Exactly one error annotation, its section in the summary, exit 1."""
    assert result.returncode == 1, result.log
    assert len(result.errors) == 1, result.errors
    title, message = result.errors[0]
    assert f"### :x: {title}" in result.summary
    assert "**How to fix:**" in result.summary
    assert "Traceback" not in result.log
    return title, message
