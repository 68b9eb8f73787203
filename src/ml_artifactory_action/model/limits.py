"""Caps that keep a scan bounded in memory, disk and time; exceeding one fails the file closed.

The caps are fixed in the scanner (no input changes them): a file over one is refused as
"cannot be checked", with a message naming the cap. The way past is to save the model in a
simpler form, or to upload it unchecked with allow-unsafe-pickle.
"""

from __future__ import annotations

from dataclasses import dataclass

# Pickle opcodes per stream. The walk keeps no per-opcode state, so this bounds time only:
# 200 million opcodes take about as long as a few GB of tensor data.
MAX_PICKLE_OPS = 200_000_000
# A literal (bytes, string, line) longer than this is skipped, not kept: only names matter.
MAX_KEPT_LITERAL = 64 * 1024
# Bytes produced by decompression (joblib codecs, deflated zip members, .gz/.bz2/.xz) per top-level file.
MAX_EXPANDED_BYTES = 16 * 1024**3
# Bytes copied to a temporary file so a nested member can be read more than once (every member
# inside a compressed stream or a deflated zip member is): bounded by the disk a runner has.
MAX_SPOOLED_BYTES = 16 * 1024**3
# Memory an xz/lzma decoder may use (its dictionary): preset 9 needs 65 MiB, the format allows 1.5 GiB.
MAX_LZMA_MEMORY = 128 * 1024**2
# Archives inside archives inside compressed streams...
MAX_DEPTH = 8
# Members of one zip or tar archive.
MAX_MEMBERS = 200_000
# A safetensors header; the format itself refuses larger ones.
MAX_SAFETENSORS_HEADER = 100 * 1024**2
# A JSON document parsed for Keras layers (configs are kilobytes; tokenizers tens of MiB).
MAX_JSON_BYTES = 256 * 1024**2

_WAY_PAST = (
    "this limit is fixed in the scanner: save the model in a simpler form (e.g. safetensors, or "
    "fewer nested archives), or upload it unchecked with allow-unsafe-pickle if you trust it"
)


class LimitExceeded(Exception):
    """A cap above was reached: the content is reported unreadable, never passed."""

    def __init__(self, what: str, name: str) -> None:
        super().__init__(f"{what} (the scanner's {name} limit; {_WAY_PAST})")


def gib(count: int) -> str:
    return f"{count / 1024**3:g} GiB"


@dataclass
class Budget:
    """Bytes still allowed to be expanded (decompressed) or spooled for one top-level file."""

    expanded: int = MAX_EXPANDED_BYTES
    spooled: int = MAX_SPOOLED_BYTES

    def expand(self, count: int) -> None:
        self.expanded -= count
        if self.expanded < 0:
            raise LimitExceeded(f"it expands to more than {gib(MAX_EXPANDED_BYTES)}", "MAX_EXPANDED_BYTES")

    def spool(self, count: int) -> None:
        self.spooled -= count
        if self.spooled < 0:
            raise LimitExceeded(
                f"its nested members need more than {gib(MAX_SPOOLED_BYTES)} of temporary copies", "MAX_SPOOLED_BYTES"
            )
