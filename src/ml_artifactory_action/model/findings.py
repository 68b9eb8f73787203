"""What the unsafe-model scan reports: one `ScanReport` per file, made of `Finding`s."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Severity = Literal["dangerous", "suspicious", "unreadable"]


@dataclass(frozen=True)
class Finding:
    """One reason a file would run code when loaded, or could not be checked.

    `global_name` is the importable name the loader would resolve (`os.system`, `mypkg.Model`),
    `keras.layers.Lambda` for a Lambda layer, or `<unreadable>` when the content could not be read.
    `detail` says where in the file it sits and what to do about it.
    """

    global_name: str
    severity: Severity
    detail: str


@dataclass(frozen=True)
class ScanReport:
    """The verdict on one file: `safe` only when no finding was made and the file was read whole."""

    path: Path
    format: str
    safe: bool
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None


UNREADABLE = "<unreadable>"


def unreadable(where: str, why: str) -> Finding:
    """A finding for content that could not be checked: the scan fails closed on it."""
    return Finding(UNREADABLE, "unreadable", f"{where}: {why}; the scan fails closed on what it cannot read")
