"""The picklescan engine, asked for the globals of one normalised pickle stream."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import BinaryIO

from picklescan import scanner

# picklescan logs every dangerous global as a warning; the scan reports them itself, as findings.
# A NullHandler keeps Python's last-resort handler from printing them to stderr a second time,
# while an application that configures logging still receives them.
logging.getLogger("picklescan").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class EngineGlobal:
    module: str
    name: str
    dangerous: bool  # on picklescan's denylist, or a name it could not resolve


def engine_globals(normalised: BinaryIO, label: str) -> list[EngineGlobal]:
    """The imports picklescan finds in one stream (it reads only to the first STOP)."""
    normalised.seek(0)
    result = scanner.scan_pickle_bytes(normalised, label, multiple_pickles=False)
    found = {EngineGlobal(g.module, g.name, g.safety == scanner.SafetyLevel.Dangerous) for g in result.globals}
    return sorted(found, key=lambda g: (g.module, g.name))


def is_denylisted(module: str, name: str) -> bool:
    """Whether picklescan's denylist has `module.name`, asked with a one-import pickle."""
    if "\n" in module or "\n" in name:
        return True
    probe = io.BytesIO(f"c{module}\n{name}\n.".encode())
    return any(found.dangerous for found in engine_globals(probe, f"{module}.{name}"))
