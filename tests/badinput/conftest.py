"""One sandbox for the whole bad-input table, holding a published, scanned and promoted build, and
one workspace holding the good model beside every kind of bad file the table points at.

Sharing them is what makes "the registry is untouched" a strong check: every case starts from the
same non-empty registry, and a write by any case would show up in its before/after comparison.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from tests.e2e.conftest import ActionHarness
from tests.reliability.conftest import lay_out, model_files, pipeline_inputs, seed_shared_content
from tests.reliability.registry import Registry

# Written as bytes: a pickle that would run os.system when loaded; nothing here loads it.
EXPLOIT = b"cos\nsystem\n(S'echo pwned'\ntR."
BIG_METRICS_BYTES = 11 * 1024 * 1024  # over the 10 MiB a metrics file may have (sparse: no disk used)


# What a run could change, read straight from the sandbox's database (docs/dev/sandbox-contract.md).
REGISTRY_TABLES = {
    "repos": "SELECT key, rclass, package_type, config FROM repos ORDER BY key",
    "items": "SELECT repo, path, name, type, sha256, modified, updated FROM items ORDER BY repo, path, name",
    "properties": "SELECT i.repo, i.path, i.name, p.key, p.value FROM properties p JOIN items i ON i.id = p.item_id"
    " ORDER BY 1, 2, 3, 4, 5",
    "builds": "SELECT project, name, number, started, info FROM builds ORDER BY project, name, number, started",
    "statuses": "SELECT b.name, b.number, s.status, s.repository, s.timestamp FROM build_statuses s"
    " JOIN builds b ON b.id = s.build_id ORDER BY 1, 2, 5",
}


@dataclass
class Setting:
    harness: ActionHarness
    registry: Registry
    read_only_token: str
    sandbox: SandboxHandle

    def snapshot(self) -> dict[str, list[tuple[object, ...]]]:
        """Every repository, item, property, build run and promotion status, as stored."""
        with self.sandbox.ctx.db.read() as conn:
            return {table: [tuple(row) for row in conn.execute(sql)] for table, sql in REGISTRY_TABLES.items()}


def bad_files(workspace: Path) -> None:
    """Every bad file or folder the table's cases point at, beside the good model."""
    (workspace / "metrics-notjson.json").write_text("accuracy = 0.9\n")
    (workspace / "metrics-bad.yaml").write_text("eval: [0.9,\n")
    (workspace / "metrics-list.json").write_text("[0.9, 0.1]")
    (workspace / "metrics-text.json").write_text(json.dumps({"eval": {"accuracy": "high"}}))
    (workspace / "metrics-latin1.json").write_bytes(b'{"accuracy": 0.9, "note": "\xe9t\xe9"}')
    (workspace / "metrics-deep.json").write_text('{"eval": ' * 5000 + "0.9" + "}" * 5000)
    with (workspace / "metrics-big.json").open("wb") as handle:
        handle.truncate(BIG_METRICS_BYTES)
    (workspace / "empty-folder").mkdir()
    (workspace / "outside.bin").symlink_to("/etc/hostname")
    (workspace / "broken.bin").symlink_to(workspace / "no-such-target")
    os.mkfifo(workspace / "model.fifo")
    for side in ("a", "b"):
        (workspace / "dup" / side).mkdir(parents=True)
        (workspace / "dup" / side / "model.onnx").write_bytes(f"onnx {side}".encode())
    (workspace / "unsafe").mkdir()
    (workspace / "unsafe" / "model.pkl").write_bytes(EXPLOIT)
    (workspace / "a-file").write_text("not a folder\n")


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setting]:
    root = tmp_path_factory.mktemp("badinput")
    with run_sandbox(
        root / "sandbox-data", xray_index_delay=0.2, read_only_token="read-only-token-0123456789"
    ) as sandbox:
        registry = Registry(sandbox)
        seed_shared_content(registry)
        harness = ActionHarness(sandbox, root)
        lay_out(harness.workspace, model_files())
        published = harness.run(pipeline_inputs())
        assert published.returncode == 0, published.log
        bad_files(harness.workspace)
        yield Setting(harness, registry, "read-only-token-0123456789", sandbox)
