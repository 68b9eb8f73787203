"""Scan a stream that may hold pickles: plain pickle, joblib, legacy PyTorch, concatenated pickles.

Decides whether the bytes are a pickle at all (text can look like protocol 0), walks every
pickle a loader could read one after the other, and turns what was imported into findings.
"""

from __future__ import annotations

from dataclasses import dataclass

from .byte_reader import ByteReader
from .findings import Finding, unreadable
from .limits import LimitExceeded
from .pickle_engine import is_denylisted
from .pickle_policy import EXTENSION_REGISTRY, Allowlist, describe, hidden_import, severity
from .pickle_walk import StreamWalk, walk_stream

# torch.save's legacy format: five pickles (this magic number, the protocol version, system
# info, the object, the storage keys), then raw storage bytes that no unpickler reads.
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_PICKLES = 5
MAX_STREAMS = 10_000  # concatenated pickles in one file


@dataclass
class PickleScan:
    format: str
    findings: list[Finding]


def scan_pickles(reader: ByteReader, where: str, allowlist: Allowlist, *, secondary: bool = False) -> PickleScan | None:
    """The findings of every pickle from the reader's position on; None when it is not a pickle.

    `secondary`: the bytes are another format first, read here as `pickle.load` would read them
    too. Where `pickle.load` would stop (a byte that is no opcode, the end) is then the end of the
    check, not a damaged pickle: only a cap reached or a read error make it unreadable.
    """
    first = walk_stream(reader, probe=secondary)
    findings = _findings(first, where, allowlist, probe=secondary)
    if not _is_pickle(first, findings):
        return None
    arrays, more = _following(reader, first, where, allowlist, secondary)
    return PickleScan(_format(first, arrays), findings + more)


def _following(
    reader: ByteReader, first: StreamWalk, where: str, allowlist: Allowlist, secondary: bool
) -> tuple[bool, list[Finding]]:
    """The pickles after the first, each walked and dropped (only its findings are kept);
    whether any of them had joblib arrays."""
    legacy = first.complete and first.vm.result == TORCH_LEGACY_MAGIC
    count, arrays, last = 1, bool(first.arrays), first
    findings: list[Finding] = []
    while last.complete and not reader.at_eof() and (not legacy or count < TORCH_LEGACY_PICKLES):
        if count >= MAX_STREAMS:
            limit = LimitExceeded(f"it holds more than {MAX_STREAMS:,} pickles one after another", "MAX_STREAMS")
            return arrays, [*findings, unreadable(where, str(limit))]
        last = walk_stream(reader, probe=secondary)
        more = _findings(last, where, allowlist, probe=secondary)
        if not legacy and not _is_pickle(last, more):
            break  # trailing bytes that no unpickler would act on
        count, arrays = count + 1, arrays or bool(last.arrays)
        findings += more
    return arrays, findings


def _is_pickle(walk: StreamWalk, findings: list[Finding]) -> bool:
    """A protocol header, a STOP or a cap reached make a pickle; without them only imports that would run count."""
    if walk.protocol_header or walk.complete or walk.limit:
        return True
    return bool(walk.globals) and (walk.vm.calls > 0 or any(f.severity == "dangerous" for f in findings))


def _format(first: StreamWalk, arrays: bool) -> str:
    if first.complete and first.vm.result == TORCH_LEGACY_MAGIC:
        return "pytorch-legacy"
    return "joblib" if arrays else "pickle"


def _findings(walk: StreamWalk, where: str, allowlist: Allowlist, *, probe: bool = False) -> list[Finding]:
    here = f"{where} (pickle at byte {walk.start})" if walk.start else where
    findings = _import_findings(walk, here, allowlist, probe=probe)
    if walk.limit:
        findings.append(unreadable(here, walk.limit))
    elif walk.error and not probe:
        findings.append(unreadable(here, f"the pickle cannot be read to its end ({walk.error})"))
    for nested in walk.nested:
        findings += _findings(nested, f"{here}, object array", allowlist)
    for found in walk.probes:
        findings += _probe_findings(
            found.walk, found.undecided, f"{here}, array data at byte {found.offset}", allowlist
        )
    return findings


def _probe_findings(walk: StreamWalk, undecided: bool, where: str, allowlist: Allowlist) -> list[Finding]:
    """`pickle.load` reads joblib's array bytes as opcodes: they must not import anything either."""
    if undecided:
        return [unreadable(where, "the bytes after an array header parse as pickle opcodes past the window read")]
    found = _findings(walk, f"{where}, as read by pickle.load", allowlist, probe=True)
    return found if _is_pickle(walk, found) and walk.globals else []


def _import_findings(walk: StreamWalk, where: str, allowlist: Allowlist, *, probe: bool = False) -> list[Finding]:
    """`probe`: bytes of no known format read as `pickle.load` would. There an EXT opcode is where
    CPython's unpickler stops (`unregistered extension code`: the registry is empty unless the
    loading program fills it), as at a byte that is no opcode; 3 in 256 random bytes are EXT
    opcodes, so tensor data and random content would otherwise be refused. The imports the walk
    saw after it are still judged."""
    if not walk.globals:
        return []
    findings = []
    for module, name in dict.fromkeys((ref.module, ref.name) for ref in walk.globals):
        if probe and module == EXTENSION_REGISTRY:
            continue
        level = severity(module, name, engine_dangerous=is_denylisted(module, name), allowlist=allowlist)
        if level and "?" in (module, name):
            findings.append(hidden_import(where))
        elif level:
            findings.append(describe(f"{module}.{name}", level, where))
    return list(dict.fromkeys(findings))
