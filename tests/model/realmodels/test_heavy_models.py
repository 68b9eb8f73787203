"""The scan on files PyTorch, transformers and accelerate saved themselves (tests/data/heavy/).

scripts/gen_heavy_artefacts.py made them (versions.json says with what); each must pass. Then the
same files with a payload injected the way attackers do it (a call put right after the PROTO
opcode, so the checkpoint still loads) must be refused for it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from tests.model.realmodels.reviewed import REVIEWED

from ml_artifactory_action.model.pickle_policy import is_dangerous, rebuilds_ml_objects, refusal_advice
from ml_artifactory_action.model.safety import scan_files, scan_path

HEAVY = Path(__file__).resolve().parents[2] / "data" / "heavy"
FILES = sorted(path for path in HEAVY.rglob("*") if path.is_file())
PICKLED = [path for path in FILES if path.suffix in {".pt", ".pth", ".bin"}]
LAMBDA = "keras/lambda_layer.keras"  # refused on purpose: the Keras test below
HEAVY_ROOTS = frozenset({"torch", "transformers", "accelerate"})
# posix.system("true"), its result popped: what fickling's injection writes.
PAYLOAD = b"cposix\nsystem\n(X\x04\x00\x00\x00truetR0"


def test_the_committed_artefacts_cover_checkpoints_and_a_trainer_folder() -> None:
    versions = json.loads((HEAVY / "versions.json").read_text())

    assert {"torch", "transformers", "accelerate"} <= set(versions)
    assert {path.relative_to(HEAVY).as_posix() for path in FILES} >= {
        "torch/state_dict.pt",
        "torch/state_dict_legacy.pt",
        "torch/checkpoint.pt",
        "torch/whole_objects.pt",
        "trainer/training_args.bin",
        "trainer/optimizer.pt",
        "trainer/scheduler.pt",
        "trainer/rng_state.pth",
        "trainer/model.safetensors",
    }


def test_checkpoints_and_trainer_output_saved_by_the_libraries_pass() -> None:
    reports = scan_files([path for path in FILES if path.relative_to(HEAVY).as_posix() != LAMBDA])

    assert [(r.path.name, r.findings) for r in reports if not r.safe] == []
    assert {r.format for r in reports if r.path in PICKLED} == {"pytorch-zip", "pytorch-legacy"}


@pytest.mark.parametrize("path", PICKLED, ids=lambda p: p.relative_to(HEAVY).as_posix())
def test_the_same_file_with_an_injected_call_is_refused(path: Path, tmp_path: Path) -> None:
    infected = tmp_path / path.name
    if zipfile.is_zipfile(path):
        _rewrite_data_pkl(path, infected)
    else:
        infected.write_bytes(_inject(path.read_bytes()))

    report = scan_path(infected)

    assert ("posix.system", "dangerous") in [(f.global_name, f.severity) for f in report.findings]


def _inject(pickled: bytes) -> bytes:
    assert pickled[:1] == b"\x80", "a pickle starts with PROTO"
    return pickled[:2] + PAYLOAD + pickled[2:]


def _rewrite_data_pkl(source: Path, target: Path) -> None:
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as rewritten:
        for info in original.infolist():
            data = original.read(info)
            rewritten.writestr(info, _inject(data) if info.filename.endswith("/data.pkl") else data)


def test_a_keras_lambda_layer_is_refused_and_the_advised_rewrite_passes() -> None:
    """The refusal says to write a registered layer class; Keras' own file of that rewrite passes."""
    lambda_model, rewritten = scan_files(
        [HEAVY / "keras" / "lambda_layer.keras", HEAVY / "keras" / "registered_custom_layer.keras"]
    )

    assert ("keras.layers.Lambda", "dangerous") in [(f.global_name, f.severity) for f in lambda_model.findings]
    assert "register_keras_serializable" in refusal_advice(lambda_model.findings)
    assert "allowed-globals" not in refusal_advice(lambda_model.findings)
    assert rewritten.safe, rewritten.findings


def test_what_the_class_rule_passes_in_torch_and_transformers_is_theirs_or_reviewed() -> None:
    """scripts/gen_heavy_artefacts.py lists the class-like names these libraries import from elsewhere."""
    found = json.loads((HEAVY / "reexports.json").read_text())
    passed = [
        (module, name, origin)
        for module, name, origin in found
        if name != "<unimportable>" and rebuilds_ml_objects(module, name) and not is_dangerous(module, name)
    ]

    foreign = {
        f"{module}.{name} (from {origin})"
        for module, name, origin in passed
        if origin.split(".")[0] not in HEAVY_ROOTS and origin not in REVIEWED
    }
    dangerous_where_defined = {
        f"{module}.{name} (from {origin})"
        for module, name, origin in passed
        if is_dangerous(origin, name) and origin not in REVIEWED
    }

    assert len(found) > 100
    assert foreign == set()
    assert dangerous_where_defined == set()
