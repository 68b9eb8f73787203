"""`make demo-hf`: the example model through every stage into Hugging Face repositories, then
huggingface_hub's snapshot_download through Artifactory returns it and it scores."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_TIMEOUT_S = 120


def test_the_hugging_face_demo_ends_with_snapshot_download_through_artifactory(tmp_path: Path) -> None:
    venv = os.environ.get("HUGGINGFACE_HUB_VENV")
    if not venv:
        pytest.skip("HUGGINGFACE_HUB_VENV is not set: it names the virtualenv with huggingface-hub")
    out = tmp_path / "demo-out-hf"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "JF_", "HF_"))}

    proc = subprocess.run(
        ["bash", "scripts/demo_hf.sh"],
        cwd=ROOT,
        env=env | {"DEMO_OUT": str(out), "HF_PYTHON": f"{venv}/bin/python"},
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(
        rf"^sandbox at http://127\.0\.0\.1:\d+ \(data in {re.escape(str(out))}/sandbox\)$", proc.stdout, re.M
    )
    assert "### Model files uploaded to `hf-dev-local/models/example/fraud-model/" in proc.stdout
    assert "promoted to `hf-prod-local` as **Production**" in proc.stdout
    snapshot = next((out / "hf-home" / "hub" / "models--example--fraud-model" / "snapshots").iterdir())
    # the model card upload added (model-card: auto), downloaded by huggingface_hub like the model's files
    assert sorted(p.name for p in snapshot.iterdir()) == [
        "README.md",
        "config.json",
        "fraud-model.cdx.json",  # the AI-BOM the upload writes into the revision
        "model.safetensors",
    ]
    assert (snapshot / "README.md").read_text(encoding="utf-8").startswith("---\nlicense: ")
    uploaded = out / "workspace" / "model"
    for name in ("config.json", "model.safetensors"):
        assert (snapshot / name).read_bytes() == (uploaded / name).read_bytes()
    assert "large night purchase, new merchant, foreign card: p(fraud)=1.000 -> fraud" in proc.stdout
