"""The unsafe-model scan: does any file run code when it is loaded? Judged by content, not name.

`scan_path` reads one file (streaming, in bounded memory) and `scan_files` many; each returns a
`ScanReport` whose findings name the offending globals. Every pickle a loader could read is walked
(plain, joblib with its array blocks, legacy and zip PyTorch, .npy/.npz object arrays, inside zip
and tar archives and compressed streams); Keras Lambda layers are found in .keras and .h5 configs;
safetensors, ONNX and GGUF are passed on their header alone. Whatever cannot be read is unsafe.
"""

from __future__ import annotations

import contextlib
import io
import lzma
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import UnsafeModelError
from .byte_reader import ByteReader, Truncated
from .containers import Source, Unreadable, decompressed, spooled, tar_members, zip_members
from .findings import Finding, ScanReport, unreadable
from .formats import (
    CODE_FREE,
    COMPRESSED,
    HDF5_SIGNATURE,
    SNIFF_BYTES,
    Kind,
    hdf5_userblock_offsets,
    lzma_alone_header,
    sniff,
)
from .hdf5_attrs import Hdf5Error, root_string_attributes
from .keras_config import json_findings, text_findings
from .limits import MAX_DEPTH, MAX_LZMA_MEMORY, Budget, LimitExceeded
from .npy import NpyError, read_header
from .pickle_policy import Allowlist, refusal_advice
from .pickle_scan import scan_pickles
from .stillborn import stillborn

_BLOCK = 1024 * 1024
_LZMA_STEP = 256  # lzma.open read by pickle.load loses up to 8 KiB before damage; this loses less

__all__ = ["Finding", "ScanReport", "raise_if_unsafe", "scan_files", "scan_path"]

# What damaged or hostile content raises from the readers and codecs: reported, never passed.
_UNREADABLE = (
    Unreadable,
    LimitExceeded,
    Truncated,
    Hdf5Error,
    NpyError,
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    NotImplementedError,  # a zip compression method Python cannot read
    RuntimeError,  # an encrypted zip member; lz4 frame errors
    ValueError,
    struct.error,
    IndexError,  # zipfile and tarfile on some damaged headers
    KeyError,
    OverflowError,
    RecursionError,
)


@dataclass
class _Outcome:
    format: str
    findings: list[Finding]


def scan_path(path: Path, allowed_globals: frozenset[str] = frozenset()) -> ScanReport:
    """Scan one file. `allowed_globals` extends the allowlist (`mypkg.Model`, `mypkg.*`)."""
    return _scan_one(path, Allowlist.with_extra(allowed_globals))


def scan_files(paths: Iterable[Path], allowed_globals: frozenset[str] = frozenset()) -> list[ScanReport]:
    """Scan each file, one after the other, in the order given."""
    allowlist = Allowlist.with_extra(allowed_globals)
    return [_scan_one(path, allowlist) for path in paths]


def raise_if_unsafe(reports: Iterable[ScanReport]) -> None:
    """Raise `UnsafeModelError` naming every unsafe file and what it imports."""
    unsafe = [report for report in reports if not report.safe]
    if not unsafe:
        return
    lines = [f"{report.path} ({report.format}): {_summary(report)}" for report in unsafe]
    raise UnsafeModelError(
        "These model files would run code when loaded, or could not be checked:\n" + "\n".join(lines),
        fix=refusal_advice(finding for report in unsafe for finding in report.findings),
    )


def _summary(report: ScanReport) -> str:
    names = dict.fromkeys(f"{f.global_name} ({f.severity})" for f in report.findings)
    return ", ".join(names) or (report.error or "unreadable")


def _scan_one(path: Path, allowlist: Allowlist) -> ScanReport:
    try:
        with path.open("rb") as stream:
            outcome = _Scanner(allowlist).scan(Source(stream, random_access=True), path.name, depth=0)
    except OSError as exc:
        finding = unreadable(path.name, f"the file cannot be read ({exc.strerror or exc})")
        return ScanReport(path, "unknown", False, [finding], finding.detail)
    findings = list(dict.fromkeys(outcome.findings))
    errors = [f.detail for f in findings if f.severity == "unreadable"]
    return ScanReport(path, outcome.format, not findings, findings, "; ".join(errors) or None)


class _Scanner:
    """Reads one top-level file. Every level (the file, each member, each decompressed stream) is
    read every way a loader could take it: by its format, as a pickle from byte 0, as a zip found
    from its end, as HDF5 after a user block. Members that cannot seek are spooled first."""

    def __init__(self, allowlist: Allowlist) -> None:
        self.allowlist, self.budget = allowlist, Budget()

    def scan(self, source: Source, where: str, depth: int) -> _Outcome:
        if depth > MAX_DEPTH:
            limit = LimitExceeded(f"archives are nested more than {MAX_DEPTH} deep", "MAX_DEPTH")
            return _Outcome("nested", [unreadable(where, str(limit))])
        try:
            with self._random_access(source) as file:
                return self._scan_file(file, where, depth)
        except _UNREADABLE as exc:
            return _Outcome("unknown", [unreadable(where, _reason(exc))])

    def _scan_file(self, source: Source, where: str, depth: int) -> _Outcome:
        reader = ByteReader.for_file(source.stream)
        head = reader.peek(SNIFF_BYTES)
        kind = sniff(head)
        try:
            outcome = self._by_kind(kind, reader, source, where, depth)
        except _UNREADABLE as exc:
            outcome = _Outcome(kind, [unreadable(where, _reason(exc))])
        if kind not in ("pickle", "text", "data"):
            outcome.findings += self._guarded(f"{where}, read as a pickle", lambda here: self._as_pickle(source, here))
        if kind not in ("lzma", "xz") and lzma_alone_header(head):
            outcome.findings += self._guarded(
                f"{where}, read as .lzma", lambda here: self._as_lzma(source, here, depth)
            )
        outcome.findings += self._polyglot(source, kind, where, depth)
        return outcome

    def _as_lzma(self, source: Source, where: str, depth: int) -> list[Finding]:
        """A .lzma stream has no magic: what decodes from bytes that pass its header checks is
        scanned, up to the first byte that does not decode (where `lzma.open` would stop too)."""
        source.stream.seek(0)
        prefix = spooled(io.BufferedReader(_LzmaPrefix(source.stream)), self.budget)
        try:
            return self.scan(prefix, where, depth + 1).findings
        finally:
            prefix.stream.close()

    def _by_kind(self, kind: Kind, reader: ByteReader, source: Source, where: str, depth: int) -> _Outcome:
        if kind in ("pickle", "text", "data"):
            return self._pickle_or_text(kind, reader, source, where)
        if kind in CODE_FREE:
            return _Outcome(kind, [])
        if kind in COMPRESSED:
            return self._compressed(kind, source, where, depth)
        handlers: dict[str, Callable[[ByteReader, Source, str, int], _Outcome]] = {
            "zip": self._zip,
            "tar": self._tar,
            "npy": self._npy,
            "hdf5": self._hdf5,
        }
        return handlers[kind](reader, source, where, depth)

    def _pickle_or_text(self, kind: Kind, reader: ByteReader, source: Source, where: str) -> _Outcome:
        # Bytes of no known format ("data") are read as pickle.load would read them: where it
        # stops is the end of the check; a cap or a read error still makes them unreadable.
        found = scan_pickles(reader, where, self.allowlist, secondary=kind == "data")
        if found is not None:
            return _Outcome(found.format, found.findings)
        if kind != "text":
            return _Outcome("data", [])
        source.stream.seek(0)
        return _Outcome("text", text_findings(ByteReader.for_file(source.stream), where, self.allowlist))

    def _compressed(self, kind: Kind, source: Source, where: str, depth: int) -> _Outcome:
        source.stream.seek(0)
        if stillborn(kind, source.stream):
            return _Outcome("data", [])  # no decoder gets a byte out of it: nothing to load
        source.stream.seek(0)
        inner = decompressed(kind, source.stream, self.budget)
        outcome = self.scan(Source(inner, random_access=False), f"{where} ({kind})", depth + 1)
        return _Outcome(f"{kind}+{outcome.format}", outcome.findings)

    @contextlib.contextmanager
    def _random_access(self, source: Source) -> Iterator[Source]:
        """The source itself when it can seek, else a spooled copy that is closed afterwards."""
        if source.random_access:
            source.stream.seek(0)
            yield source
            return
        copy = spooled(source.stream, self.budget)
        try:
            yield copy
        finally:
            copy.stream.close()

    def _zip(self, reader: ByteReader, source: Source, where: str, depth: int) -> _Outcome:
        names, findings = [], []
        source.stream.seek(0)
        for name, open_member in zip_members(source, self.budget):
            names.append(name)
            findings += self._member(open_member, f"{where}:{name}", depth)
        return _Outcome(_zip_format(names), findings)

    def _tar(self, reader: ByteReader, source: Source, where: str, depth: int) -> _Outcome:
        findings = []
        source.stream.seek(0)
        for name, member in tar_members(source, self.budget):
            findings += self.scan(member, f"{where}:{name}", depth + 1).findings
        return _Outcome("tar", findings)

    def _member(self, open_member: Callable[[], Source], where: str, depth: int) -> list[Finding]:
        try:
            member = open_member()
        except _UNREADABLE as exc:
            return [unreadable(where, _reason(exc))]
        return self.scan(member, where, depth + 1).findings

    def _npy(self, reader: ByteReader, source: Source, where: str, depth: int) -> _Outcome:
        if not read_header(reader):
            return _Outcome("npy", [])
        found = scan_pickles(reader, f"{where} (object array)", self.allowlist)
        if found is None:
            return _Outcome("npy", [unreadable(where, "its object array is not a readable pickle")])
        return _Outcome("npy", found.findings)

    def _hdf5(self, reader: ByteReader, source: Source, where: str, depth: int) -> _Outcome:
        at = next(offset for offset in [0, *hdf5_userblock_offsets(SNIFF_BYTES)] if _hdf5_at(source, offset))
        return _Outcome("hdf5", self._hdf5_findings(source, at, where))

    def _hdf5_findings(self, file: Source, at: int, where: str) -> list[Finding]:
        findings = []
        for name, values in root_string_attributes(file.stream, at).items():
            for value in values:
                findings += json_findings(value, f"{where} (attribute {name})", self.allowlist)
        return findings

    def _as_pickle(self, source: Source, where: str) -> list[Finding]:
        """`pickle.load` accepts any file: what it would read from the first byte must be harmless too."""
        source.stream.seek(0)
        found = scan_pickles(ByteReader.for_file(source.stream), where, self.allowlist, secondary=True)
        return found.findings if found else []

    def _polyglot(self, source: Source, kind: Kind, where: str, depth: int) -> list[Finding]:
        """A zip is read from its end and HDF5 may start after a user block: check both here too."""
        source.stream.seek(0)
        as_zip = kind != "zip" and zipfile.is_zipfile(source.stream)
        size = source.stream.seek(0, io.SEEK_END)
        offsets = [] if kind == "hdf5" else [at for at in hdf5_userblock_offsets(size) if _hdf5_at(source, at)]
        findings: list[Finding] = []
        if as_zip:
            findings += self._guarded(f"{where}, read as a zip", lambda here: self._zip_file(source, here, depth))
        if offsets:
            findings += self._guarded(
                f"{where}, read as HDF5", lambda here: self._hdf5_findings(source, offsets[0], here)
            )
        return findings

    def _guarded(self, where: str, scan: Callable[[str], list[Finding]]) -> list[Finding]:
        try:
            return scan(where)
        except _UNREADABLE as exc:
            return [unreadable(where, _reason(exc))]

    def _zip_file(self, source: Source, where: str, depth: int) -> list[Finding]:
        return self._zip(ByteReader.for_file(source.stream), source, where, depth).findings


class _LzmaPrefix(io.RawIOBase):
    """The bytes a .lzma decoder produces from `stream` before its end or its first error."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream, self._done = stream, False
        self._decoder = lzma.LZMADecompressor(lzma.FORMAT_ALONE, memlimit=MAX_LZMA_MEMORY)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._done:
            data = self._stream.read(_BLOCK) if self._decoder.needs_input else b""
            try:  # a few bytes at a time: a call that meets damage loses what it decoded
                out = self._decoder.decompress(data, max_length=min(len(buffer), _LZMA_STEP))
            except lzma.LZMAError:
                out, self._done = b"", True
            self._done = self._done or self._decoder.eof or (not data and self._decoder.needs_input)
            if out:
                buffer[: len(out)] = out
                return len(out)
        return 0


def _hdf5_at(source: Source, offset: int) -> bool:
    source.stream.seek(offset)
    return source.stream.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def _zip_format(names: list[str]) -> str:
    if any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
        return "pytorch-zip"
    if "config.json" in names and ("model.weights.h5" in names or "metadata.json" in names):
        return "keras"
    if names and all(name.endswith(".npy") for name in names):
        return "npz"
    return "zip"


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
