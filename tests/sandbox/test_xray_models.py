"""The sandbox Xray's own malicious-model detection (`xray_models`), alone and through a build scan.

JFrog documents the feature this stands in for (jfrog.com/help/r/jfrog-security-documentation/
scanning-malicious-ai-models): "JFrog's Xray detects malicious machine learning models based on
artifact scanning", for "PyTorch (.bin, .pt, .pth, .ckpt), Pickle (.pkl, .dat), Numpy (.npy),
JobLib (.joblib), Dill (.dill)" among others; and Hugging Face, which runs JFrog's scanner on the
Hub (huggingface.co/docs/hub/security-jfrog): "JFrog's scanner is built with the goal to reduce
false positives ... When code is detected in a file, JFrog's scanner will parse it and analyze to
check for potential malicious usage." So: known-malicious behaviour is Critical, an unusual but
harmless callable is not, and ordinary models (real scikit-learn estimators saved by joblib) pass.

Malicious samples are written by `pickle` itself from objects whose `__reduce__` names the payload
(dumping never runs it); nothing here ever loads one.
"""

from __future__ import annotations

import ast
import bz2
import gzip
import hashlib
import importlib
import io
import json
import lzma
import operator
import os
import pickle
import re
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import httpx
import joblib
import numpy as np
import pytest
from tests.sandbox.recording_loader import NATURAL_LOADER, RECORDING_LOADER, unpacked

import artifactory_sandbox
from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from artifactory_sandbox.xray_getattr import imported_globals
from artifactory_sandbox.xray_models import LAMBDA_FINDING, ModelScanError, scan_stored

REPO = "ml-models-dev-local"
STARTED = "2025-04-06T09:00:00.000+0000"
PACKAGE_DIR = Path(artifactory_sandbox.__file__).parent
CLIENTS_VENV = "MLFLOW_JFROG_VENV"  # has scikit-learn, numpy and joblib (mlflow depends on them)


class Payload:
    """Pickles as a call of `target(*args)`; dumping it never calls anything."""

    def __init__(self, target: Callable[..., Any], *args: Any) -> None:
        self.target, self.args = target, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.target, self.args


def dumps(target: Callable[..., Any], *args: Any, protocol: int = 4) -> bytes:
    return pickle.dumps({"weights": [0.5, 1.5], "hook": Payload(target, *args)}, protocol=protocol)


OS_SYSTEM = dumps(os.system, "echo pwned")
PLAIN = pickle.dumps({"weights": [0.5, 1.5, 2.5], "bias": 0.1}, protocol=4)


def verdict_names(tmp_path: Path, name: str, data: bytes) -> set[str]:
    blob = tmp_path / hashlib.sha256(data).hexdigest()  # stored binaries are named by checksum
    blob.write_bytes(data)
    verdict = scan_stored(blob, name)
    assert verdict.scanned
    return {finding.global_name for finding in verdict.findings}


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("model.pkl", OS_SYSTEM, "posix.system"),
        ("model.pkl", dumps(os.system, "id", protocol=0), "posix.system"),
        ("model.dat", dumps(eval, "1"), "builtins.eval"),
        ("model.pkl", dumps(__import__, "os"), "builtins.__import__"),
        ("model.pkl", dumps(subprocess.check_output, ["id"]), "subprocess.check_output"),
        ("model.pkl", dumps(exec, "print(1)", protocol=2), "__builtin__.exec"),  # protocol 2 names
        ("model.pkl", dumps(importlib.import_module, "os"), "importlib.import_module"),
        ("model.pkl", dumps(operator.getitem, {"run": exec}, "run"), "_operator.getitem"),
        ("model.joblib", zlib.compress(OS_SYSTEM), "posix.system"),
        ("model.pkl.gz", gzip.compress(OS_SYSTEM), "posix.system"),
        ("model.pkl", bz2.compress(OS_SYSTEM), "posix.system"),
        ("model.joblib", lzma.compress(OS_SYSTEM), "posix.system"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_known_malicious_behaviour_is_found(tmp_path: Path, name: str, data: bytes, expected: str) -> None:
    assert expected in verdict_names(tmp_path, name, data)


def joblib_dump(value: object, compress: int = 0) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(value, buffer, compress=compress)
    return buffer.getvalue()


def test_a_joblib_payload_after_an_inline_array_is_found(tmp_path: Path) -> None:
    """joblib writes array bytes inside its pickle stream; picklescan stops reading at the first."""
    model = {"coef": np.arange(12.0).reshape(3, 4), "classes": np.array([0, 1]), "hook": Payload(os.system, "id")}
    for compress in (0, 3):
        assert verdict_names(tmp_path, "model.joblib", joblib_dump(model, compress)) == {"posix.system"}
    assert verdict_names(tmp_path, "model.joblib", joblib_dump({"coef": np.arange(12.0), "bias": 0.5})) == set()


def torch_style_zip(data_pkl: bytes) -> bytes:
    """The layout `torch.save` writes: `<name>/data.pkl` plus tensor storages under `<name>/data/`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model/data.pkl", data_pkl)
        archive.writestr("model/data/0", b"\x00" * 16)
        archive.writestr("model/version", b"3\n")
    return buffer.getvalue()


def test_a_pickle_inside_a_torch_style_zip_is_found(tmp_path: Path) -> None:
    assert verdict_names(tmp_path, "pytorch_model.bin", torch_style_zip(OS_SYSTEM)) == {"posix.system"}
    assert verdict_names(tmp_path, "pytorch_model.bin", torch_style_zip(PLAIN)) == set()


def test_an_object_array_in_npy_is_scanned(tmp_path: Path) -> None:
    out = io.BytesIO()
    np.save(out, np.array([Payload(os.system, "id")], dtype=object), allow_pickle=True)
    assert verdict_names(tmp_path, "features.npy", out.getvalue()) == {"posix.system"}
    out = io.BytesIO()
    np.save(out, np.arange(12, dtype=np.float32).reshape(3, 4))
    assert verdict_names(tmp_path, "features.npy", out.getvalue()) == set()


def keras_archive(layers: list[dict[str, Any]]) -> bytes:
    config = {"class_name": "Sequential", "config": {"name": "seq", "layers": layers}}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    return buffer.getvalue()


def test_a_keras_lambda_layer_is_found(tmp_path: Path) -> None:
    dense = {"class_name": "Dense", "config": {"units": 4}}
    lambda_layer = {"class_name": "Lambda", "config": {"function": {"class_name": "__lambda__", "config": {
        "code": "4wEAAAAAAAAA", "defaults": None, "closure": None}}}}  # fmt: skip
    assert verdict_names(tmp_path, "model.keras", keras_archive([dense, lambda_layer])) == {LAMBDA_FINDING}
    assert verdict_names(tmp_path, "model.keras", keras_archive([dense])) == set()


def keras_h5(tmp_path: Path, layers: list[dict[str, Any]]) -> bytes:
    """An H5 file as Keras 2 writes one: the architecture as JSON in the root attribute model_config."""
    path = tmp_path / "written.h5"
    with h5py.File(path, "w") as model:
        model.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": layers}})
        model.attrs["keras_version"] = "2.15.0"
        model.create_dataset("model_weights/dense/kernel", data=np.ones((4, 2), dtype=np.float32))
    return path.read_bytes()


def test_a_keras_h5_lambda_layer_is_found(tmp_path: Path) -> None:
    dense = {"class_name": "Dense", "config": {"units": 2}}
    lambda_layer = {
        "class_name": "Lambda",
        "config": {"function": ["4wEAAAAAAAAA", None, None], "function_type": "lambda"},
    }
    assert verdict_names(tmp_path, "model.h5", keras_h5(tmp_path, [dense, lambda_layer])) == {LAMBDA_FINDING}
    assert verdict_names(tmp_path, "model.h5", keras_h5(tmp_path, [dense])) == set()
    with pytest.raises(ModelScanError, match=r"cannot read the HDF5 model model\.h5"):
        verdict_names(tmp_path, "model.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 500)


def test_unusual_but_harmless_callables_and_plain_data_pass(tmp_path: Path) -> None:
    import glob  # noqa: PLC0415  the callable pickled, not used

    assert verdict_names(tmp_path, "model.pkl", dumps(glob.glob, "*")) == set()  # suspicious, not malicious
    assert verdict_names(tmp_path, "model.pkl", PLAIN) == set()
    assert verdict_names(tmp_path, "model.joblib", zlib.compress(PLAIN)) == set()


def test_files_that_are_not_models_are_not_scanned(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(OS_SYSTEM)
    for name in ("config.json", "model.safetensors", "README.md", "metrics.txt.gz"):
        assert scan_stored(blob, name).scanned is False


def test_ordinary_binaries_with_model_names_are_not_errors(tmp_path: Path) -> None:
    for name, data in {
        "model.pb": b"\x08\x01\x12\x04test" * 20,
        "empty.pkl": b"",
        "tokens.dat": b"x\x9c\xff\xff" + b"\x00" * 40,  # starts like a zlib header, is none
    }.items():
        assert verdict_names(tmp_path, name, data) == set(), name


def test_content_that_cannot_be_read_to_its_end_is_a_scan_error(tmp_path: Path) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(zlib.compress(OS_SYSTEM)[:-4])
    with pytest.raises(ModelScanError, match=r"cannot decompress model.joblib \(zlib\): the zlib stream ends early"):
        scan_stored(blob, "model.joblib")
    blob.write_bytes(gzip.compress(OS_SYSTEM)[:-6])
    with pytest.raises(ModelScanError, match=r"cannot decompress model.pkl.gz \(gzip\)"):
        scan_stored(blob, "model.pkl.gz")


def broken_off(canary: Path, *, imported_first: bool = True, breaks: int = 1) -> bytes:
    """A harmless import (or none), then `I0x1`: the C unpickler reads the INT with base 0 and
    pickletools cannot, so picklescan and the walk stop there while pickle.load goes on to
    os.mkdir(canary). Each further break stops a reader that resumes after the first."""
    target = str(canary).encode()
    harmless = b"\x8c\x08zoneinfo\x8c\x08ZoneInfo\x93" + b"0" if imported_first else b""
    return (b"\x80\x04" + harmless + b"I0x1\n0" * breaks
            + b"\x8c\x02os\x8c\x05mkdir\x93\x8c" + bytes([len(target)]) + target + b"\x85R.")  # fmt: skip


def npy_of_objects(pickled: bytes) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    return out.getvalue() + pickled


def torch_legacy(pickled: bytes) -> bytes:
    """torch's legacy layout: the magic number, the protocol, sys info, then the object's pickle."""
    return (
        b"".join(pickle.dumps(value, 2) for value in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True})) + pickled
    )


def unreadable_models(canary: Path) -> dict[str, bytes]:
    """Each kind of file the engine reads, with a payload where neither picklescan nor the walk reach."""
    record = np.zeros(3, dtype=[("a", "f8", (2,))])  # a subarray field: the walk does not size it
    return {
        "model.pkl": broken_off(canary / "pkl"),
        "early.pkl": broken_off(canary / "early", imported_first=False),  # picklescan: "no pickle"
        "model.joblib": joblib_dump({"w": record, "hook": Payload(os.mkdir, str(canary / "joblib"))}),
        "pytorch_model.bin": torch_style_zip(broken_off(canary / "bin", imported_first=False)),
        # picklescan reads torch's legacy pickles one at a time, dropping their errors
        "model.pt": torch_legacy(broken_off(canary / "pt", breaks=3)),
        "features.npy": npy_of_objects(broken_off(canary / "npy", imported_first=False)),
    }


def test_a_stream_the_engine_cannot_read_to_its_end_is_a_scan_error_though_its_payload_runs(tmp_path: Path) -> None:
    folder, canaries = tmp_path / "models", tmp_path / "canaries"
    folder.mkdir()
    canaries.mkdir()
    errors = {}
    for name, data in unreadable_models(canaries).items():
        (folder / name).write_bytes(data)
        with pytest.raises(ModelScanError) as raised:
            scan_stored(folder / name, name)
        errors[name] = str(raised.value)
    int_stop = r"the pickle walk stops near byte \d+: pickletools cannot read the INT at byte \d+ \(invalid literal for int\(\) with base 10: b'0x1'\), which an unpickler may read"
    expected = {
        "model.pkl": int_stop,
        "early.pkl": int_stop,
        "model.joblib": r"the pickle walk stops near byte \d+: a joblib array of a subarray or unknown dtype",
        "pytorch_model.bin": int_stop,
        "model.pt": int_stop,
        "features.npy": int_stop,
    }
    assert {name: re.fullmatch(f"cannot read {re.escape(name)} to its end: {expected[name]}", error) is not None
            for name, error in errors.items()} == dict.fromkeys(expected, True), errors  # fmt: skip
    done = subprocess.run([sys.executable, "-c", NATURAL_LOADER, str(folder)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in canaries.iterdir()) == ["bin", "early", "joblib", "npy", "pkl", "pt"], done.stderr


SKLEARN_DRIVER = """
import io, json, pickle, sys, zlib
from pathlib import Path
import joblib
import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

X, y = make_classification(n_samples=60, n_features=5, random_state=0)
estimators = {
    "logreg": LogisticRegression(max_iter=200),
    "forest": RandomForestClassifier(n_estimators=5, random_state=0),
    "hgb": HistGradientBoostingClassifier(max_iter=5),
    "gb": GradientBoostingClassifier(n_estimators=5),
    "sgd": SGDClassifier(),
    "mlp": MLPClassifier(hidden_layer_sizes=(4,), max_iter=50),
    "pipeline": make_pipeline(FunctionTransformer(np.log1p), StandardScaler(), LogisticRegression()),
}
out = Path(sys.argv[1])
for name, estimator in estimators.items():
    estimator.fit(np.abs(X), y)
    joblib.dump(estimator, out / f"{name}.joblib")
    joblib.dump(estimator, out / f"{name}-zlib.joblib", compress=3)
    joblib.dump(estimator, out / f"{name}-gzip.joblib.gz", compress=("gzip", 3))
    (out / f"{name}.pkl").write_bytes(pickle.dumps(estimator))
"""


@pytest.fixture(scope="module")
def sklearn_models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    venv = os.environ.get(CLIENTS_VENV)
    if not venv:
        pytest.skip(f"{CLIENTS_VENV} is not set (make test sets it up)")
    folder = tmp_path_factory.mktemp("sklearn-models")
    subprocess.run([str(Path(venv) / "bin" / "python"), "-c", SKLEARN_DRIVER, str(folder)], check=True, timeout=180)
    return sorted(folder.iterdir())


def test_real_scikit_learn_models_pass(sklearn_models: list[Path]) -> None:
    assert len(sklearn_models) == 28
    flagged = {path.name: scan_stored(path, path.name).findings for path in sklearn_models}
    assert {name: findings for name, findings in flagged.items() if findings} == {}


def test_the_walk_reads_real_dumps_to_their_end_as_their_loaders_do(sklearn_models: list[Path], tmp_path: Path) -> None:
    """The opcode walk (xray_getattr) imports what joblib.load and pickle.load import: it skipped
    each inline array (tree nodes are records) exactly as joblib reads it."""
    venv = Path(os.environ[CLIENTS_VENV])
    done = subprocess.run([str(venv / "bin" / "python"), "-c", RECORDING_LOADER, str(sklearn_models[0].parent)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    real = {name: {tuple(pair) for pair in pairs} for name, pairs in json.loads(done.stdout).items()}
    walked = {
        path.name: imported_globals(unpacked(path, tmp_path), lambda module, attr: False) for path in sklearn_models
    }
    assert walked == real


HEAVY = Path(__file__).resolve().parents[1] / "data" / "heavy"  # made by torch, transformers and keras (versions.json)


def test_real_torch_trainer_and_keras_files_pass_and_a_real_lambda_layer_is_found() -> None:
    models = sorted(p for p in HEAVY.rglob("*") if p.suffix in {".pt", ".pth", ".bin", ".keras"})
    names = {f"{p.parent.name}/{p.name}" for p in models}
    assert {
        "torch/state_dict.pt",
        "torch/checkpoint.pt",
        "trainer/training_args.bin",
        "keras/lambda_layer.keras",
    } <= names
    flagged = {f"{p.parent.name}/{p.name}": [f.global_name for f in scan_stored(p, p.name).findings] for p in models}
    assert {name: found for name, found in flagged.items() if found} == {"keras/lambda_layer.keras": [LAMBDA_FINDING]}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path_factory.mktemp("xray-models"), xray_index_delay=0) as handle:
        yield handle


def publish(sandbox: SandboxHandle, name: str, files: dict[str, bytes]) -> None:
    headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
    artifacts = []
    for file_name, data in files.items():
        url = f"{sandbox.artifactory_url}/{REPO}/{name}/{file_name}"
        assert httpx.put(url, content=data, headers=headers).status_code == 201
        artifacts.append({"name": file_name, "path": f"{name}/{file_name}", "sha256": hashlib.sha256(data).hexdigest()})
    info = {"name": name, "number": "1", "started": STARTED,
            "modules": [{"id": name, "type": "generic", "artifacts": artifacts}]}  # fmt: skip
    assert httpx.put(f"{sandbox.artifactory_url}/api/build", json=info, headers=headers).status_code == 204


def scan(sandbox: SandboxHandle, name: str) -> dict[str, Any]:
    response = httpx.post(f"{sandbox.url}/xray/api/v2/ci/build/scanResult",
                          json={"build_name": name, "build_number": "1"},
                          headers={"Authorization": f"Bearer {sandbox.admin_token}"})  # fmt: skip
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_a_malicious_model_fails_the_build_as_critical(sandbox: SandboxHandle) -> None:
    publish(sandbox, "evil", {"model.pkl": OS_SYSTEM, "config.json": b"{}"})
    body = scan(sandbox, "evil")
    assert body["fail_build"] is True
    [violation] = body["violations"]
    assert violation["severity"] == "Critical"
    assert violation["issue_id"] == f"SANDBOX-MALICIOUS-MODEL-{hashlib.sha256(OS_SYSTEM).hexdigest()[:12]}"
    assert violation["summary"] == "Malicious model file model.pkl: loading it calls posix.system"


def test_a_plain_model_passes(sandbox: SandboxHandle) -> None:
    publish(sandbox, "plain", {"model.pkl": PLAIN, "model.joblib": zlib.compress(PLAIN)})
    body = scan(sandbox, "plain")
    assert (body["fail_build"], body["violations"]) == (False, [])


def test_a_model_that_cannot_be_read_fails_the_scan(sandbox: SandboxHandle) -> None:
    publish(sandbox, "truncated", {"model.joblib": zlib.compress(OS_SYSTEM)[:-4]})
    body = scan(sandbox, "truncated")
    assert body["status"] == "failed"
    assert body["info"] == "Xray build scan failed: cannot decompress model.joblib (zlib): the zlib stream ends early"


def test_a_model_whose_pickle_breaks_off_fails_the_scan(sandbox: SandboxHandle, tmp_path: Path) -> None:
    publish(sandbox, "broken-off", {"model.pkl": broken_off(tmp_path / "never-made")})
    body = scan(sandbox, "broken-off")
    assert body["status"] == "failed"
    assert body["info"] == (
        "Xray build scan failed: cannot read model.pkl to its end: the pickle walk stops near byte 29: "
        "pickletools cannot read the INT at byte 24 (invalid literal for int() with base 10: b'0x1'), "
        "which an unpickler may read"
    )


def imported_modules(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_sandbox_module_names_the_action_in_an_import() -> None:
    offenders = {
        path.name: sorted(name for name in imported_modules(path.read_text()) if name.split(".")[0] == "ml_artifactory_action")
        for path in PACKAGE_DIR.rglob("*.py")
    }  # fmt: skip
    assert {name: found for name, found in offenders.items() if found} == {}


BLOCKED_IMPORT_DRIVER = """
import importlib, pkgutil, sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "ml_artifactory_action":
            raise ImportError(f"blocked: {name}")
        return None

sys.meta_path.insert(0, Block())
import artifactory_sandbox
for module in pkgutil.walk_packages(artifactory_sandbox.__path__, "artifactory_sandbox."):
    if module.name.endswith(".__main__"):  # runs the server
        continue
    importlib.import_module(module.name)
from artifactory_sandbox.xray_models import scan_stored
from pathlib import Path
path = Path(sys.argv[1])
print(sorted(f.global_name for f in scan_stored(path, "model.pkl").findings))
print(sorted(name for name in sys.modules if name.split(".")[0] == "ml_artifactory_action"))
"""


def test_the_sandbox_imports_and_scans_with_the_action_blocked(tmp_path: Path) -> None:
    model = tmp_path / "model.pkl"
    model.write_bytes(OS_SYSTEM)
    done = subprocess.run([sys.executable, "-c", BLOCKED_IMPORT_DRIVER, str(model)],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["['posix.system']", "[]"]
