"""Adversarial mutation suite: every mutant of a malicious file that still runs code is refused.

Malicious payloads (pickles of several protocols, joblib, a torch-style zip, a Keras Lambda, and
the bypasses of issue 9) are prefixed, padded, renamed, re-compressed and nested (tar, zip, gzip,
bz2, xz, inside each other, junk before zips). One child process loads every mutant with the
loaders their users would use (`natural_loaders.py`); a payload that runs creates a canary file.
Every mutant whose canary fired must be refused by the scan.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import json
import lzma
import marshal
import os
import pickle
import re
import subprocess
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import joblib
import lz4.frame
import numpy as np
import pytest
from tests.model.samples import (
    LONG_FLOAT,
    PADDED_INT,
    Reduce,
    keras3,
    safetensors_lookalike,
    v7_tar,
)

from ml_artifactory_action.model import limits
from ml_artifactory_action.model.safety import scan_path

LOADERS = Path(__file__).with_name("natural_loaders.py")
OPCODE_CAP = 2_000  # the suite lowers the cap so a stream past it stays small
Mutation = Callable[[bytes], bytes]


@dataclass(frozen=True)
class Mutant:
    name: str
    data: bytes
    filename: str


# --- payloads: each creates the canary when loaded ----------------------------------------------


def _p0_mkdir(canary: Path) -> bytes:
    return f"cos\nmkdir\n(S'{canary}'\ntR.".encode()


def _joblib_bytes(obj: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    return buffer.getvalue()


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    options = {"preset": 1} if mode == "w:xz" else {}
    with tarfile.open(fileobj=buffer, mode=mode, **options) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _keras(canary: Path) -> bytes:
    """A .keras whose Lambda layer holds real marshalled bytecode, as Keras saves it."""
    source = f"def f():\n    open({str(canary)!r}, 'w').close()\n"
    namespace: dict[str, object] = {}
    exec(compile(source, "lambda", "exec"), namespace)  # noqa: S102  builds the payload's bytecode
    code = base64.b64encode(marshal.dumps(namespace["f"].__code__)).decode()  # type: ignore[attr-defined]
    layer = {"module": "keras.layers", "class_name": "Lambda", "config": {"function": {}}}
    layer["config"]["function"] = {"class_name": "__lambda__", "config": {"code": code}}  # type: ignore[index]
    config = json.dumps(keras3(layer)).encode()
    return _zip({"metadata.json": b'{"keras_version": "3.9.0"}', "config.json": config, "model.weights.h5": b""})


def payloads(canary: Path) -> dict[str, bytes]:
    """Most payloads create the canary in-process (os.system forks, which would slow the suite)."""
    system = Reduce(os.system, f"touch {canary}")
    mkdir = Reduce(os.mkdir, str(canary))
    code = Reduce(exec, f"open({str(canary)!r}, 'w').close()")
    p0 = _p0_mkdir(canary)
    return {
        "protocol-0 text": p0,
        "protocol-2 os.system": pickle.dumps(system, 2),
        "protocol-4 exec in a dict": pickle.dumps({"weights": [1.0, 2.0], "step": code}, 4),
        "protocol-5 STACK_GLOBAL": pickle.dumps([mkdir], 5),
        "joblib arrays and payload": _joblib_bytes({"w": np.arange(64.0), "x": mkdir}),
        "torch-style zip": _zip({"archive/data.pkl": pickle.dumps({"state": mkdir}, 2)}),
        "keras Lambda": _keras(canary),
        "bypass: 70,000-character FLOAT line": LONG_FLOAT + p0,
        "bypass: INT line padded with spaces": PADDED_INT + p0,
        "bypass: past the opcode cap": b"N0" * OPCODE_CAP + p0,
        "bypass: safetensors lookalike importing past 64 KiB": safetensors_lookalike(100_000, p0[:-1]),
        "bypass: keras with junk in front": b"junk" * 1000 + _keras(canary),
    }


# --- mutations -----------------------------------------------------------------------------------


def _lzma_alone(data: bytes, **options: int) -> bytes:
    """A .lzma stream (no magic) with options that move its first bytes off the usual 5d 00 00."""
    return lzma.compress(data, format=lzma.FORMAT_ALONE, filters=[{"id": lzma.FILTER_LZMA1, "preset": 1, **options}])


JUNK = b"\x00not a model\x00" * 64

SIMPLE: dict[str, Mutation] = {
    "as is": lambda data: data,
    "junk before": lambda data: JUNK + data,
    "padded after": lambda data: data + b"\x00" * 4096 + JUNK,
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "xz": lambda data: lzma.compress(data, preset=1),
    "lzma-alone": lambda data: lzma.compress(data, format=lzma.FORMAT_ALONE, preset=1),
    "zlib (joblib)": zlib.compress,
    "lz4 (joblib)": lz4.frame.compress,
    ".lzma, 4 KiB dictionary": lambda data: _lzma_alone(data, dict_size=4096),
    ".lzma, lc=0": lambda data: _lzma_alone(data, lc=0),
    ".lzma, damaged end": lambda data: _lzma_alone(data + bytes(65536), dict_size=4096)[:-16] + bytes(16),
}
CONTAINERS: dict[str, Mutation] = {
    "tar": lambda data: _tar({"model/model.pkl": data}),
    "tar.gz": lambda data: _tar({"README.md": b"# model\n", "model/model.safetensors": data}, "w:gz"),
    "tar.bz2": lambda data: _tar({"m/data.bin": data}, "w:bz2"),
    "tar.xz": lambda data: _tar({"m/data.bin": data}, "w:xz"),
    "pre-POSIX tar": lambda data: v7_tar({"model.pkl": data}),
    "zip stored": lambda data: _zip({"archive/data.pkl": data}),
    "zip deflated": lambda data: _zip({"config.json": b"{}", "weights.safetensors": data}, zipfile.ZIP_DEFLATED),
    "zip bzip2": lambda data: _zip({"model.pkl": data}, zipfile.ZIP_BZIP2),
    "zip lzma": lambda data: _zip({"model.pkl": data}, zipfile.ZIP_LZMA),
    "zip with junk before": lambda data: JUNK + _zip({"archive/data.pkl": data}),
}
MUTATIONS = SIMPLE | CONTAINERS
OUTER = ("tar.gz", "zip deflated", "zip with junk before", "gzip", "xz", "tar", "zip stored")
NAMES = ("model.pkl", "model.safetensors", "model.onnx", "README.md", "weights")


def chains() -> list[tuple[str, ...]]:
    """Each mutation alone, each outer container around each mutation, and a few deep nestings."""
    singles = [(name,) for name in MUTATIONS]
    pairs = [(outer, inner) for outer in OUTER for inner in MUTATIONS if inner != "as is"]
    deep = [
        ("tar.gz", "zip with junk before", "gzip"),
        ("zip deflated", "tar.bz2", "junk before"),
        ("xz", "tar", "zip deflated", "bz2"),
        ("zip with junk before", "zip with junk before", "tar.xz", "padded after"),
    ]
    return singles + pairs + deep


def mutants(canary: Path) -> list[Mutant]:
    made = []
    for payload, data in payloads(canary).items():
        for index, chain in enumerate(chains()):
            mutated = data
            for step in reversed(chain):
                mutated = MUTATIONS[step](mutated)
            name = f"{payload} / {' of '.join(chain)}"
            made.append(Mutant(name, mutated, NAMES[index % len(NAMES)]))  # renamed: names mean nothing
    return made


def _slug(index: int, mutant: Mutant) -> str:
    return f"{index:05d}-{re.sub(r'[^A-Za-z0-9]+', '-', mutant.name)[:80]}-{mutant.filename}"


def test_every_mutant_that_runs_code_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_PICKLE_OPS", OPCODE_CAP)
    canary, folder = tmp_path / "canary", tmp_path / "mutants"
    folder.mkdir()
    made = mutants(canary)
    paths = {}
    for index, mutant in enumerate(made):
        path = folder / _slug(index, mutant)
        path.write_bytes(mutant.data)
        paths[path.name] = mutant

    # The child loads while this process scans: one process for all mutants, on the other core.
    child = subprocess.Popen(
        [sys.executable, str(LOADERS), str(folder), str(canary)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    refused = {name for name in paths if not scan_path(folder / name).safe}
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err.decode()
    fired = set(json.loads(out))

    passed_but_ran = sorted(paths[name].name for name in fired - refused)
    by_payload = {payload: sum(paths[name].name.startswith(payload) for name in fired) for payload in payloads(canary)}
    print(f"\ncanary fired per payload: {by_payload}")
    print(
        f"\nmutation suite: {len(made)} mutants, canary fired for {len(fired)}, "
        f"{len(fired & refused)} of those refused; {len(refused)} refused in all"
    )
    assert passed_but_ran == [], f"{len(passed_but_ran)} mutants ran code and passed the scan: {passed_but_ran[:40]}"
    assert all(by_payload.values()), f"payloads whose canary never fired: {by_payload}"
    assert len(fired) >= len(made) // 3  # the loaders really ran most kinds of mutant
