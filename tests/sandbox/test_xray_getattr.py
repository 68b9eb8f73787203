"""How the sandbox Xray reads `builtins.getattr`, picklescan's one denied global that ordinary models use.

pandas pickles a time-zone aware column's `zoneinfo.ZoneInfo` as `getattr(zoneinfo.ZoneInfo,
'_unpickle')` called with the zone's key. JFrog documents its scanner as built "to reduce false
positives ... When code is detected in a file, JFrog's scanner will parse it and analyze to check
for potential malicious usage" (huggingface.co/docs/hub/security-jfrog), so real tz-aware models,
written by pandas, scikit-learn and joblib here, pass; every other use of getattr, written by hand
below opcode by opcode, stays a finding, and a child process that loads each one shows its payload
runs (it makes a canary) wherever a loader would get that far.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from picklescan.scanner import SafetyLevel, scan_bytes
from tests.sandbox.recording_loader import NATURAL_LOADER, RECORDING_LOADER, unpacked

from artifactory_sandbox.xray_getattr import imported_globals
from artifactory_sandbox.xray_models import scan_stored

MODELS_VENV = "ML_MODELS_VENV"  # pandas, scikit-learn and joblib (make test builds .venv-models)

TZ_MODELS_DRIVER = """
import pickle, sys
from pathlib import Path
import joblib, numpy as np, pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

out = Path(sys.argv[1])
opened = pd.date_range("2025-03-28", periods=6, freq="D", tz="Europe/Berlin").repeat(5)  # spans the DST change
frame = pd.DataFrame({"opened": opened, "amount": np.arange(30.0)})
pipeline = make_pipeline(
    make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["opened"]), (StandardScaler(), ["amount"])),
    LogisticRegression(),
).fit(frame, np.arange(30) % 2)
assert str(pipeline[0].transformers_[0][1].categories_[0][0].tz) == "Europe/Berlin"
(out / "frame.pkl").write_bytes(pickle.dumps(frame))
frame.to_pickle(out / "frame-to_pickle.pkl")
(out / "pipeline.pkl").write_bytes(pickle.dumps(pipeline))
(out / "pipeline-protocol2.pkl").write_bytes(pickle.dumps(pipeline, protocol=2))
joblib.dump(pipeline, out / "pipeline.joblib")
joblib.dump(pipeline, out / "pipeline-zlib.joblib", compress=3)
joblib.dump(frame, out / "frame.joblib")
"""


@pytest.fixture(scope="module")
def tz_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    venv = os.environ.get(MODELS_VENV)
    if not venv:
        pytest.skip(f"{MODELS_VENV} is not set (make test sets it up)")
    folder = tmp_path_factory.mktemp("tz-models")
    subprocess.run([str(Path(venv) / "bin" / "python"), "-c", TZ_MODELS_DRIVER, str(folder)], check=True, timeout=180)
    return {path.name: path for path in sorted(folder.iterdir())}


def picklescan_denies_getattr(path: Path) -> bool:
    """What the sandbox Xray flagged before it read getattr's calls (joblib's zlib dump unpacked)."""
    data = path.read_bytes()
    if path.name.endswith("-zlib.joblib"):
        data = zlib.decompress(data)
    found = scan_bytes(io.BytesIO(data), path.name, ".pkl").globals
    return any(g.name == "getattr" and g.safety is SafetyLevel.Dangerous for g in found)


def test_real_time_zone_aware_models_pass(tz_models: dict[str, Path]) -> None:
    assert len(tz_models) == 7
    for name, path in tz_models.items():
        assert picklescan_denies_getattr(path), name  # each holds a getattr picklescan denies
    flagged = {name: scan_stored(path, name).findings for name, path in tz_models.items()}
    assert {name: found for name, found in flagged.items() if found} == {}


def test_the_walk_imports_what_the_real_unpickler_imports(tz_models: dict[str, Path], tmp_path: Path) -> None:
    venv = Path(os.environ[MODELS_VENV])
    folder = next(iter(tz_models.values())).parent
    done = subprocess.run([str(venv / "bin" / "python"), "-c", RECORDING_LOADER, str(folder)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    real = {name: {tuple(pair) for pair in pairs} for name, pairs in json.loads(done.stdout).items()}
    walked = {
        name: imported_globals(unpacked(path, tmp_path), lambda module, attr: False) for name, path in tz_models.items()
    }
    assert walked == real


def test_joblib_array_padding_that_is_not_joblibs_keeps_the_finding(tz_models: dict[str, Path], tmp_path: Path) -> None:
    data = bytearray(tz_models["pipeline.joblib"].read_bytes())
    # joblib aligns a number array to 16 bytes: after the wrapper's BUILD, a length byte, then that
    # many 0xff; the last of them comes after the getattr
    padding = [
        at for at in range(1, len(data) - 17)
        if data[at - 1] == ord("b") and data[at] == 16 - (at + 1) % 16 and data[at + 1 : at + 1 + data[at]] == b"\xff" * data[at]
    ][-1]  # fmt: skip
    data[padding] = 0x28  # MARK: an opcode, so a plain pickle.load would read on
    model = tmp_path / "model.joblib"
    model.write_bytes(bytes(data))
    assert {f.global_name for f in scan_stored(model, "model.joblib").findings} == {"builtins.getattr"}


# --- hand-written pickles: each getattr use the reading must not let through ---------------------


class Asm:
    """Opcodes for one protocol: 0 (text), 2 (GLOBAL, binary strings) or 4/5 (STACK_GLOBAL, frames-free)."""

    def __init__(self, protocol: int) -> None:
        self.protocol = protocol

    def text(self, value: str) -> bytes:
        if self.protocol == 0:
            return b"V" + value.encode("raw_unicode_escape") + b"\n"
        raw = value.encode()
        return b"X" + len(raw).to_bytes(4, "little") + raw

    def glob(self, module: str, name: str) -> bytes:
        if self.protocol >= 4:
            return self.text(module) + self.text(name) + b"\x93"
        return b"c" + f"{module}\n{name}\n".encode()

    def int(self, value: int) -> bytes:
        return f"I{value}\n".encode() if self.protocol == 0 else b"K" + bytes([value])

    def tuple(self, *items: bytes) -> bytes:
        if self.protocol >= 2 and 1 <= len(items) <= 3:
            return b"".join(items) + b"\x85\x86\x87"[len(items) - 1 : len(items)]
        return b"(" + b"".join(items) + b"t"

    def call(self, func: bytes, *args: bytes) -> bytes:
        return func + self.tuple(*args) + b"R"

    def getattr(self, owner: bytes, name: bytes) -> bytes:
        return self.call(self.glob("builtins", "getattr"), owner, name)

    def put(self, index: int) -> bytes:
        return f"p{index}\n".encode() if self.protocol == 0 else b"q" + bytes([index])

    def get(self, index: int) -> bytes:
        return f"g{index}\n".encode() if self.protocol == 0 else b"h" + bytes([index])

    def pickle(self, body: bytes) -> bytes:
        head = b"\x80" + bytes([self.protocol]) if self.protocol >= 2 else b""
        return head + body + b"."


@dataclass(frozen=True)
class Variant:
    name: str
    make: Callable[[Path], bytes]  # the canary path -> the pickle
    runs: bool  # a plain pickle.load of it runs the payload (makes the canary)


def _alias_mkdir(protocol: int) -> Callable[[Path], bytes]:
    """os.mkdir reached as getattr of `zoneinfo._tzpath.os` (a module _tzpath imports)."""

    def make(canary: Path) -> bytes:
        a = Asm(protocol)
        return a.pickle(a.call(a.getattr(a.glob("zoneinfo._tzpath", "os"), a.text("mkdir")), a.text(str(canary))))

    return make


def _system(canary: Path) -> bytes:
    a = Asm(4)
    return a.pickle(a.call(a.getattr(a.glob("zoneinfo._tzpath", "os"), a.text("system")), a.text(f"touch {canary}")))


def _nested_chain(canary: Path) -> bytes:
    a = Asm(4)
    tzpath_os = a.getattr(a.getattr(a.glob("zoneinfo", "_tzpath"), a.text("os")), a.text("mkdir"))
    return a.pickle(a.call(tzpath_os, a.text(str(canary))))


def _function_globals(canary: Path) -> bytes:
    a = Asm(4)
    module_globals = a.getattr(a.glob("zoneinfo._tzpath", "reset_tzpath"), a.text("__globals__"))
    os_module = a.call(a.getattr(module_globals, a.text("get")), a.text("os"))
    return a.pickle(a.call(a.getattr(os_module, a.text("mkdir")), a.text(str(canary))))


def _function_builtins(canary: Path) -> bytes:
    a = Asm(4)
    builtins_dict = a.getattr(a.glob("zoneinfo._tzpath", "reset_tzpath"), a.text("__builtins__"))
    run = a.call(a.getattr(builtins_dict, a.text("get")), a.text("exec"))
    return a.pickle(a.call(run, a.text(f"import os; os.mkdir({str(canary)!r})")))


def _dunder_of_a_class(_: Path) -> bytes:
    a = Asm(4)
    return a.pickle(a.getattr(a.glob("zoneinfo", "ZoneInfo"), a.text("__reduce__")))


def _path(a: Asm, canary: Path) -> bytes:
    return a.call(a.glob("pathlib", "Path"), a.text(str(canary)))


def _denied_method_of_a_class(canary: Path) -> bytes:
    """pathlib.Path is a harmless class; its write_text, fetched and called on any path, is not."""
    a = Asm(4)
    return a.pickle(a.call(a.getattr(a.glob("pathlib", "Path"), a.text("write_text")), _path(a, canary), a.text("x")))


def _computed_name(canary: Path) -> bytes:
    """The name built at load time (operator.add('write_', 'text')): no constant to judge."""
    a = Asm(4)
    name = a.call(a.glob("operator", "add"), a.text("write_"), a.text("text"))
    return a.pickle(a.call(a.getattr(a.glob("pathlib", "Path"), name), _path(a, canary), a.text("x")))


def _memo_reused(canary: Path) -> bytes:
    """A harmless getattr, then the memoized getattr fetched again and applied to a module."""
    a = Asm(2)
    zone = a.call(a.call(a.glob("builtins", "getattr") + a.put(0), a.glob("zoneinfo", "ZoneInfo"), a.text("_unpickle")),
                  a.text("UTC"), a.int(1))  # fmt: skip
    mkdir = a.call(a.get(0), a.glob("zoneinfo._tzpath", "os"), a.text("mkdir"))
    return a.pickle(a.tuple(zone, a.call(mkdir, a.text(str(canary)))))


def _passed_as_a_value(canary: Path) -> bytes:
    """getattr handed to map(), whose next() calls it: no REDUCE of getattr to read."""
    a = Asm(4)
    getattr_ = a.glob("builtins", "getattr")
    owners = b"]" + a.glob("zoneinfo._tzpath", "os") + b"a"
    names = b"]" + a.text("mkdir") + b"a"
    fetched = a.call(a.glob("builtins", "next"), a.call(a.glob("builtins", "map"), getattr_, owners, names))
    return a.pickle(a.call(fetched, a.text(str(canary))))


def _inst_opcode(canary: Path) -> bytes:
    """Protocol 0's INST calls the class it names with the marked items: getattr(os, 'mkdir')."""
    a = Asm(0)
    fetched = b"(" + a.glob("zoneinfo._tzpath", "os") + a.text("mkdir") + b"ibuiltins\ngetattr\n"
    return a.pickle(a.call(fetched, a.text(str(canary))))


def _with_a_default(_: Path) -> bytes:
    a = Asm(4)
    return a.pickle(a.call(a.glob("builtins", "getattr"), a.glob("zoneinfo", "ZoneInfo"), a.text("nope"), b"N"))


def _lowercase_global(canary: Path) -> bytes:
    """A module bound under a name in another module (`_os` style): only a capitalised name reads as a class."""
    a = Asm(4)
    return a.pickle(a.call(a.getattr(a.glob("tempfile", "_os"), a.text("mkdir")), a.text(str(canary))))


def _capitalised_module(_: Path) -> bytes:
    """numpy's defmatrix does `import numpy._core.numeric as N`: a capitalised name bound to a module."""
    a = Asm(4)
    return a.pickle(a.getattr(a.glob("numpy.matrixlib.defmatrix", "N"), a.text("builtins")))


def _harmless_zone(a: Asm) -> bytes:
    return a.call(a.getattr(a.glob("zoneinfo", "ZoneInfo"), a.text("_unpickle")), a.text("UTC"), a.int(1))


def _truncated(_: Path) -> bytes:
    a = Asm(4)
    return a.pickle(a.tuple(_harmless_zone(a), a.text("weights")))[:-3]


def _second_pickle(canary: Path) -> bytes:
    """A harmless first pickle; a loader that reads the file's next pickle runs the payload."""
    return Asm(4).pickle(_harmless_zone(Asm(4))) + _alias_mkdir(4)(canary)


VARIANTS = [
    *(Variant(f"module attribute, protocol {p}", _alias_mkdir(p), True) for p in (0, 2, 4, 5)),
    Variant("os.system through a module attribute", _system, True),
    Variant("nested chain getattr(getattr(zoneinfo._tzpath, 'os'), 'mkdir')", _nested_chain, True),
    Variant("__globals__ of a function", _function_globals, True),
    Variant("__builtins__ of a function", _function_builtins, True),
    Variant("__reduce__ of a class", _dunder_of_a_class, False),
    Variant("a denied method of a harmless class", _denied_method_of_a_class, True),
    Variant("a name computed by another call", _computed_name, True),
    Variant("getattr memoized and reused against a module", _memo_reused, True),
    Variant("getattr passed as a value", _passed_as_a_value, True),
    Variant("getattr called by INST", _inst_opcode, True),
    Variant("getattr with a default", _with_a_default, False),
    Variant("a lower-case global that is a module", _lowercase_global, True),
    Variant("a capitalised global that is a module", _capitalised_module, False),
    Variant("truncated after a harmless getattr", _truncated, False),
    Variant("a second pickle after a harmless one", _second_pickle, True),
]


def test_every_other_use_of_getattr_stays_a_finding_and_the_runnable_ones_run(tmp_path: Path) -> None:
    folder, canaries = tmp_path / "variants", tmp_path / "canaries"
    folder.mkdir()
    canaries.mkdir()
    flagged: dict[str, set[str]] = {}
    for index, variant in enumerate(VARIANTS):
        data = variant.make(canaries / f"{index:02d}")
        blob = folder / f"{index:02d}-{hashlib.sha256(data).hexdigest()[:8]}.pkl"
        blob.write_bytes(data)
        flagged[variant.name] = {f.global_name for f in scan_stored(blob, "model.pkl").findings}
    # each is flagged for getattr alone: picklescan denies nothing else in it
    assert {name: found for name, found in flagged.items() if found != {"builtins.getattr"}} == {}

    done = subprocess.run(
        [sys.executable, "-c", NATURAL_LOADER, str(folder)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    ran = {VARIANTS[int(p.name)].name for p in canaries.iterdir()}
    assert ran == {v.name for v in VARIANTS if v.runs}, done.stderr
