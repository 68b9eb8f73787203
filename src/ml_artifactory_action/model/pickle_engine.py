"""picklescan's denylist, asked one name at a time.

The scan finds a pickle's imports itself (`pickle_vm`, every GLOBAL, INST, STACK_GLOBAL and
EXT opcode, hidden names included); picklescan adds its list of names known to run code. It is
asked with a one-import pickle per distinct name, never over the model's own bytes: its scan
keeps every opcode of a stream in memory and reads at a few MB/s.
"""

from __future__ import annotations

import functools
import io
import logging

from picklescan import scanner

# picklescan logs every dangerous global as a warning; the scan reports them itself, as findings.
# A NullHandler keeps Python's last-resort handler from printing them to stderr a second time,
# while an application that configures logging still receives them.
logging.getLogger("picklescan").addHandler(logging.NullHandler())


@functools.lru_cache(maxsize=4096)
def is_denylisted(module: str, name: str) -> bool:
    """Whether picklescan's denylist has `module.name`, asked with a one-import pickle."""
    if "\n" in module or "\n" in name:
        return True
    probe = io.BytesIO(f"c{module}\n{name}\n.".encode())
    result = scanner.scan_pickle_bytes(probe, f"{module}.{name}", multiple_pickles=False)
    return any(found.safety == scanner.SafetyLevel.Dangerous for found in result.globals)
