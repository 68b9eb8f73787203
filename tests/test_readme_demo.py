"""README's first command, `make demo`, carries the example model through every stage and shows the report."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_TIMEOUT_S = 120


def test_the_demo_runs_every_stage_on_the_example_and_prints_the_report(tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "JF_"))}

    proc = subprocess.run(
        ["bash", "scripts/demo.sh"],
        cwd=ROOT,
        env=env | {"DEMO_OUT": str(out)},
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )

    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(
        rf"^sandbox at http://127\.0\.0\.1:\d+ \(data in {re.escape(str(out))}/sandbox\)$", proc.stdout, re.M
    )
    report = (out / "summary.md").read_text(encoding="utf-8")
    assert report in proc.stdout
    for section in (
        "### :white_check_mark: Quality gate passed",
        "### Model files uploaded to `ml-models-staging-local/fraud-model/1`",
        "### Build-info",
        "### :white_check_mark: Xray scan passed",
        "### Promotion",
        "### Resolved model",
    ):
        assert section in report
    assert "scan-result          pass" in proc.stdout
    resolved = sorted(p.name for p in (out / "workspace" / "resolved").rglob("*") if p.is_file())
    # The AI-BOM and the signature travel with the model.
    assert resolved == ["config.json", "fraud-model.cdx.json", "model.safetensors", "model.sig"]
    assert re.search(r"Signature verified \(`model.sig`\): signed by key sha256:[0-9a-f]{64}\.", report)
    # OpenSSF's own command, run by the demo on what resolve handed over, accepts the signature.
    assert (
        "== model_signing verify (OpenSSF's command, run on the resolved folder)\nVerification succeeded\n"
        in proc.stdout
    )
    assert re.search(r"^  file model\.safetensors +sha256 [0-9a-f]{64}$", proc.stdout, re.M)
    assert "AI-BOM (CycloneDX 1.6): [fraud-model.cdx.json](" in report
    assert "large night purchase, new merchant, foreign card: p(fraud)=1.000 -> fraud" in proc.stdout
    assert proc.stdout.rstrip().endswith(f"demo: done. Everything is in {out}/.")
