"""The sandbox Xray's view of the action's unsafe-model scanner (`ml_artifactory_action.model.safety`).

The scanner is imported when first used, so the sandbox starts without it; Xray answers a failed
scan (`status: failed`) if it cannot be imported. Stored binaries are named by checksum, so each
is scanned through a symlink that carries the artifact's own file name (formats are recognised
by name as well as by content).
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

SCANNER_MODULE = "ml_artifactory_action.model.safety"


class ScannerUnavailable(Exception):
    """The action's scanner cannot be imported or did not answer as expected."""


@dataclass(frozen=True)
class PickleFinding:
    global_name: str
    severity: str
    detail: str


@dataclass(frozen=True)
class PickleVerdict:
    safe: bool
    findings: tuple[PickleFinding, ...] = ()


PickleScanner = Callable[[Path], PickleVerdict]


def scan_file(path: Path) -> PickleVerdict:
    """The action scanner's verdict on `path`."""
    try:
        scan_path = importlib.import_module(SCANNER_MODULE).scan_path
    except (ImportError, AttributeError) as err:
        raise ScannerUnavailable(f"cannot use {SCANNER_MODULE}.scan_path: {err}") from err
    report = scan_path(path)
    try:
        findings = tuple(PickleFinding(str(f.global_name), str(f.severity), str(f.detail)) for f in report.findings)
        return PickleVerdict(bool(report.safe), findings)
    except AttributeError as err:
        raise ScannerUnavailable(f"{SCANNER_MODULE}.scan_path returned {report!r}: {err}") from err


def scan_stored(blob: Path, artifact_name: str, scanner: PickleScanner = scan_file) -> PickleVerdict:
    """Scan the stored `blob` as if it were a file called `artifact_name`."""
    name = PurePosixPath(artifact_name).name or "artifact"
    with tempfile.TemporaryDirectory(prefix="sandbox-xray-") as folder:
        link = Path(folder) / name
        link.symlink_to(blob.resolve())
        return scanner(link)
