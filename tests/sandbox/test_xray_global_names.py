"""Globals whose name reaches more than the denylists grade: dotted paths and dunder names.

The unpickler resolves a protocol-4 name attribute by attribute, so `zoneinfo._tzpath` `os.mkdir`
is os.mkdir, and `builtins.__dict__` indexed by `operator.getitem` is exec; picklescan grades
neither as dangerous (checked below). Each pickle is written opcode by opcode; a child process
loads them all and shows which payloads run (each makes a canary), and the harmless ones pass.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from picklescan.scanner import SafetyLevel, scan_bytes
from tests.sandbox.recording_loader import NATURAL_LOADER
from tests.sandbox.test_xray_getattr import Asm

from artifactory_sandbox.xray_global_names import name_finding
from artifactory_sandbox.xray_models import scan_stored


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[Path], bytes]  # the canary path -> the pickle
    flagged: frozenset[str]  # what the sandbox Xray reports
    runs: bool  # a plain pickle.load of it makes the canary


def _call_path(module: str, name: str, *, protocol: int = 4) -> Callable[[Path], bytes]:
    def make(canary: Path) -> bytes:
        a = Asm(protocol)
        head = b"\x80\x04" if protocol == 0 else b""  # GLOBAL resolves dotted names too, under PROTO 4
        return head + a.pickle(a.call(a.glob(module, name), a.text(str(canary))))

    return make


def _write_text(canary: Path) -> bytes:
    a = Asm(4)
    path = a.call(a.glob("pathlib", "Path"), a.text(str(canary)))
    return a.pickle(a.call(a.glob("pathlib", "Path.write_text"), path, a.text("x")))


def _exec(a: Asm, run: bytes, canary: Path) -> bytes:
    return a.pickle(a.call(run, a.text(f"import os; os.mkdir({str(canary)!r})")))


def _builtins_of_a_function(canary: Path) -> bytes:
    a = Asm(4)
    return _exec(a, a.call(a.glob("zoneinfo._tzpath", "reset_tzpath.__builtins__.get"), a.text("exec")), canary)


def _getitem_of_builtins_dict(module: str, protocol: int) -> Callable[[Path], bytes]:
    def make(canary: Path) -> bytes:
        a = Asm(protocol)
        return _exec(a, a.call(a.glob(module, "getitem"), a.glob("builtins", "__dict__"), a.text("exec")), canary)

    return make


def _zone_by_dotted_classmethod(_: Path) -> bytes:
    a = Asm(4)
    return a.pickle(a.call(a.glob("zoneinfo", "ZoneInfo._unpickle"), a.text("UTC"), a.int(1)))


CASES = [
    Case("os.mkdir as zoneinfo._tzpath os.mkdir", _call_path("zoneinfo._tzpath", "os.mkdir"),
         frozenset({"zoneinfo._tzpath.os.mkdir"}), True),
    Case("the same by GLOBAL under PROTO 4", _call_path("zoneinfo._tzpath", "os.mkdir", protocol=0),
         frozenset({"zoneinfo._tzpath.os.mkdir"}), True),
    Case("a denied method of a class: pathlib Path.write_text", _write_text,
         frozenset({"pathlib.Path.write_text"}), True),
    Case("exec from a function's __builtins__", _builtins_of_a_function,
         frozenset({"zoneinfo._tzpath.reset_tzpath.__builtins__.get"}), True),
    Case("operator.getitem(builtins.__dict__, 'exec')", _getitem_of_builtins_dict("operator", 4),
         frozenset({"operator.getitem", "builtins.__dict__"}), True),
    Case("_operator.getitem(builtins.__dict__, 'exec'), protocol 2", _getitem_of_builtins_dict("_operator", 2),
         frozenset({"_operator.getitem", "builtins.__dict__"}), True),
    Case("a classmethod by its dotted name: zoneinfo ZoneInfo._unpickle", _zone_by_dotted_classmethod,
         frozenset(), False),
]  # fmt: skip


def picklescan_dangerous(data: bytes) -> set[str]:
    found = scan_bytes(io.BytesIO(data), "model.pkl", ".pkl").globals
    return {f"{g.module}.{g.name}" for g in found if g.safety is SafetyLevel.Dangerous}


def test_dotted_and_dunder_names_are_found_and_their_payloads_run(tmp_path: Path) -> None:
    folder, canaries = tmp_path / "cases", tmp_path / "canaries"
    folder.mkdir()
    canaries.mkdir()
    flagged, picklescan = {}, {}
    for index, case in enumerate(CASES):
        data = case.make(canaries / f"{index:02d}")
        blob = folder / f"{index:02d}-{hashlib.sha256(data).hexdigest()[:8]}.pkl"
        blob.write_bytes(data)
        flagged[case.name] = {f.global_name for f in scan_stored(blob, "model.pkl").findings}
        picklescan[case.name] = picklescan_dangerous(data)
    assert flagged == {case.name: set(case.flagged) for case in CASES}
    assert {name: found for name, found in picklescan.items() if found} == {}  # the denylists alone pass them

    done = subprocess.run(
        [sys.executable, "-c", NATURAL_LOADER, str(folder)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    ran = {CASES[int(p.name)].name for p in canaries.iterdir()}
    assert ran == {case.name for case in CASES if case.runs}, done.stderr


def never_denied(module: str, name: str) -> bool:
    return False


def test_a_dotted_name_passes_only_as_an_undenied_attribute_of_a_class() -> None:
    findings = {
        name: name_finding(module, name, never_denied)
        for module, name in [
            ("zoneinfo", "ZoneInfo._unpickle"),  # a class's classmethod
            ("zoneinfo", "ZoneInfo"),
            ("numpy.random._pickle", "__generator_ctor"),  # no dunder: real numpy generators import it
            ("zoneinfo._tzpath", "os.mkdir"),  # `os` is a module _tzpath imports
            ("zoneinfo", "ZoneInfo.__reduce__"),
            ("builtins", "__dict__"),
            ("zoneinfo", "ZoneInfo.from_file.__func__"),
            ("zoneinfo", "ZoneInfo._unpickle.x"),  # deeper than a class's attribute
            ("pathlib", "Path.unlink"),
            ("numpy.matrixlib.defmatrix", "N.builtins"),  # N is a module bound by `import ... as N`
        ]
    }
    assert {name for name, reason in findings.items() if reason is None} == {
        "ZoneInfo._unpickle",
        "ZoneInfo",
        "__generator_ctor",
    }
    assert findings["os.mkdir"] == "it fetches 'mkdir' from zoneinfo._tzpath.os"
    assert findings["ZoneInfo._unpickle.x"] == (
        "the dotted name ZoneInfo._unpickle.x is a path deeper than a class's attribute"
    )
