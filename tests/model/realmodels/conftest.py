"""Real models saved by the real libraries, generated once per test session.

The light libraries (scikit-learn, SciPy, pandas, LightGBM, XGBoost, CatBoost) live in their own
virtualenv named by `ML_MODELS_VENV` (`make test` builds `.venv-models` and sets it); without it
these tests are skipped. By hand: `make models-venv && export ML_MODELS_VENV=$PWD/.venv-models`.
The heavy ones (PyTorch, transformers, accelerate) are committed under tests/data/heavy/ by
scripts/gen_heavy_artefacts.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

VENV_VARIABLE = "ML_MODELS_VENV"
GENERATOR = Path(__file__).with_name("generate_light.py")
GENERATOR_TIMEOUT = 900


@pytest.fixture(scope="session")
def light_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The manifest of what generate_light.py wrote: files, controls, counts, the libraries' inventory."""
    venv = os.environ.get(VENV_VARIABLE)
    if not venv:
        pytest.skip(f"{VENV_VARIABLE} is not set: it names the virtualenv with the ML libraries (see the docstring)")
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of one run: the models are generated once
    out = root / "light-models"
    with (root / "light-models.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "manifest.json").exists():
            _generate(Path(venv), out)
    manifest: dict[str, Any] = json.loads((out / "manifest.json").read_text())
    return manifest


def _generate(venv: Path, out: Path) -> None:
    done = subprocess.run(
        [str(venv / "bin" / "python"), str(GENERATOR), str(out)],
        capture_output=True,
        text=True,
        timeout=GENERATOR_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"generate_light.py failed:\n{done.stderr[-4000:]}"
