"""The sandbox Xray's view of the action's unsafe-model scanner (`ml_artifactory_action.model.safety`).

The scanner is imported when first used, so the sandbox starts without loading it; Xray answers a
failed scan (`status: failed`) when a scanner raises `ScannerUnavailable`. Stored binaries are
named by checksum, so each is scanned through a symlink that carries the artifact's own file name
(formats are recognised by name as well as by content).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from ml_artifactory_action.model.findings import Finding, ScanReport

# The scanner's own types: a verdict is the action's `ScanReport`, its findings `Finding`s.
PickleFinding = Finding
PickleVerdict = ScanReport
PickleScanner = Callable[[Path], ScanReport]


class ScannerUnavailable(Exception):
    """The scanner failed to give a verdict (a test seam: the real one answers or raises its own)."""


def scan_file(path: Path) -> ScanReport:
    """The action scanner's verdict on `path`."""
    from ml_artifactory_action.model.safety import scan_path  # noqa: PLC0415  loaded on the first scan, not at start

    return scan_path(path)


def scan_stored(blob: Path, artifact_name: str, scanner: PickleScanner = scan_file) -> PickleVerdict:
    """Scan the stored `blob` as if it were a file called `artifact_name`."""
    name = PurePosixPath(artifact_name).name or "artifact"
    with tempfile.TemporaryDirectory(prefix="sandbox-xray-") as folder:
        link = Path(folder) / name
        link.symlink_to(blob.resolve())
        return scanner(link)
