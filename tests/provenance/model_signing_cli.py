"""OpenSSF's own `model_signing` command, run in a child process: the reference verifier of what we sign."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MODEL_SIGNING_CLI = Path(sys.executable).parent / "model_signing"


def model_signing_verify(method: str, folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`model_signing verify <method> <folder> --signature <folder>/model.sig <options>`, its output captured."""
    return subprocess.run(
        [str(MODEL_SIGNING_CLI), "verify", method, str(folder), "--signature", str(folder / "model.sig"), *options],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
