"""Caps that keep a scan bounded in memory, disk and time; exceeding one fails the file closed."""

from __future__ import annotations

from dataclasses import dataclass

# Pickle opcodes per stream. picklescan keeps every opcode of a stream in a list (~150 bytes
# each), so this also bounds its memory: 5 million opcodes stay under ~1 GiB.
MAX_PICKLE_OPS = 5_000_000
# A literal (bytes, string, line) longer than this is skipped, not kept: only names matter.
MAX_KEPT_LITERAL = 64 * 1024
# Bytes produced by decompression (joblib codecs, deflated zip members) per top-level file.
MAX_EXPANDED_BYTES = 16 * 1024**3
# Bytes copied to a temporary file for a nested archive that needs random access (zip, HDF5).
MAX_SPOOLED_BYTES = 2 * 1024**3
# Archives inside archives inside compressed streams...
MAX_DEPTH = 8
# Members of one zip or tar archive.
MAX_MEMBERS = 200_000
# A safetensors header; the format itself refuses larger ones.
MAX_SAFETENSORS_HEADER = 100 * 1024**2
# A JSON document parsed for Keras layers (configs are kilobytes; tokenizers tens of MiB).
MAX_JSON_BYTES = 256 * 1024**2


class LimitExceeded(Exception):
    """A cap above was reached: the content is reported unreadable, never passed."""


@dataclass
class Budget:
    """Bytes still allowed to be expanded (decompressed) or spooled for one top-level file."""

    expanded: int = MAX_EXPANDED_BYTES
    spooled: int = MAX_SPOOLED_BYTES

    def expand(self, count: int) -> None:
        self.expanded -= count
        if self.expanded < 0:
            raise LimitExceeded(f"expands to more than {MAX_EXPANDED_BYTES // 1024**3} GiB")

    def spool(self, count: int) -> None:
        self.spooled -= count
        if self.spooled < 0:
            raise LimitExceeded(f"a nested archive is larger than {MAX_SPOOLED_BYTES // 1024**3} GiB")
