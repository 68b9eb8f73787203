"""The sandbox Xray's malicious-model detection: an engine of its own, never the action's scanner.

What JFrog documents (jfrog.com/help/r/jfrog-security-documentation/scanning-malicious-ai-models):
"JFrog's Xray detects malicious machine learning models based on artifact scanning", for "H5
(.h5, .hdf5), Paddle (.pdparams), PyTorch (.bin, .pt, .pth, .ckpt), Pickle (.pkl, .dat), Numpy
(.npy), JobLib (.joblib), Dill (.dill), SavedModel (.pb)". Hugging Face, which runs JFrog's scanner
on the Hub (huggingface.co/docs/hub/security-jfrog), adds: "JFrog's scanner is built with the goal
to reduce false positives ... When code is detected in a file, JFrog's scanner will parse it and
analyze to check for potential malicious usage."

So this engine reports known-malicious behaviour only, the way a registry-side scanner does:
1. A file is looked at when its name ends in one of MODEL_EXTENSIONS (optionally followed by a
   compression suffix); anything else (safetensors, JSON, text) is not a model Xray scans.
2. A gzip, bz2, xz or zlib stream (joblib's compressed dumps) is decompressed to a temporary file
   first, up to MAX_DECOMPRESSED_BYTES.
3. picklescan (what the Hugging Face Hub itself runs) lists the globals every pickle in the file
   imports (plain pickles, torch zip and legacy archives, zip members, object arrays in .npy) and
   grades them against its denylist; EXTRA_DENYLIST adds behaviour it does not list, and
   xray_global_names what a name reaches beyond how it is written (a protocol-4 dotted name is
   resolved attribute by attribute; a dunder name such as `builtins.__dict__` hands out exec).
   picklescan stops early without saying so (at the first array joblib writes inline, before a
   stream's first global, between torch's legacy pickles), so the engine also walks every pickle
   where its loader reads it (xray_pickle_streams, with xray_getattr's walk): the globals it finds
   are graded too, and a pickle it cannot read to its end is a scan error, unless what was read
   is a finding already. Where pickletools cannot read an opcode the unpicklers may read on
   (`I0x1`, base 0 to them); only a stop they surely share (xray_pickle_stops), before anything
   is imported, reads as content that is no pickle, and passes.
4. A Keras model with a Lambda layer carries marshalled Python bytecode that runs on load: a
   finding too, in a .keras archive (config.json) or an H5 file (the `model_config` attribute,
   read with h5py).
5. picklescan denies `builtins.getattr`, which ordinary models use: pandas pickles a time-zone
   aware column's zone as `getattr(zoneinfo.ZoneInfo, '_unpickle')`. When getattr is the only
   global graded dangerous in a plain pickle stream (joblib's dumps included; not in torch, zip or
   numpy containers), xray_getattr walks the opcodes and clears it only if every getattr call
   fetches a constant, non-dunder, undenied name from an imported, undenied class; any other use,
   or a stream it cannot walk to its end, keeps the finding.
A global graded dangerous is a finding; any other callable, however unusual, is not (false
positives are what JFrog's scanner avoids). Unreadable content is a scan error, never a pass.

What it does not do (the action's upload scan is the layer for these): open tar or 7z archives,
undo more than one compression, find a pickle behind junk bytes, or look into files not named as
models. Measured on the action's mutation suite (tests/model/test_mutations.py, 2,076 mutants,
2026-12-03; each named model.pkl scanned by scan_stored): of the 420 named model.pkl it flags 109
(the payloads as saved and singly compressed, and 28 that picklescan does not read to the
pickle: a zip inside a zip, also at the end of a tar, or a joblib dump inside a zip), fails 1
as a scan error (a zip whose central directory is damaged) and misses 310 (in a tar, doubly
compressed, prefixed or padded); the other 1,656 carry names that are not model files.
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import gzip
import io
import json
import logging
import lzma
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from picklescan.scanner import SafetyLevel, scan_bytes, scan_pickle_bytes

from .xray_getattr import UnreadablePickle, getattr_calls_are_harmless
from .xray_global_names import name_finding
from .xray_pickle_streams import pickle_globals

MODEL_EXTENSIONS = frozenset(
    {".h5", ".hdf5", ".pdparams", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".dat",
     ".npy", ".npz", ".joblib", ".dill", ".pb", ".keras", ".zip"}
)  # fmt: skip
COMPRESSED_SUFFIXES = frozenset({".gz", ".bz2", ".xz", ".z"})
MAX_DECOMPRESSED_BYTES = 8 << 30  # a compressed model larger than this cannot be checked
CHUNK_BYTES = 1 << 20
# Behaviour picklescan's list misses: imports, code objects, processes, network and dill's code
# builders. `module: None` denies every name in the module (and its submodules).
EXTRA_DENYLIST: dict[str, frozenset[str] | None] = {
    "builtins": frozenset({"__import__", "setattr", "delattr", "globals", "vars"}),
    "__builtin__": frozenset({"__import__", "setattr", "delattr", "globals", "vars"}),
    "types": frozenset({"FunctionType", "CodeType"}),
    "importlib": frozenset({"import_module", "reload"}),
    # getitem(<a module's dict>, 'exec'): no scikit-learn, pandas, numpy or torch artefact imports it
    "operator": frozenset({"getitem"}),
    "_operator": frozenset({"getitem"}),
    "marshal": None,
    "zipimport": None,
    "multiprocessing": None,
    "http.client": None,
    "urllib3": None,
    "requests": None,
    "ftplib": None,
    "smtplib": None,
    "telnetlib": None,
    "dill._dill": frozenset({"_create_code", "_create_function", "_load_type", "_import_module"}),
}
GETATTR_FINDINGS = frozenset({"builtins.getattr", "__builtin__.getattr"})
# picklescan reads these as torch archives, numpy arrays, zip or 7z archives; the getattr walk
# reads plain pickle streams only, so a getattr in these stays a finding.
CONTAINER_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt", ".npy", ".npz", ".zip", ".7z"})
SEVEN_ZIP_SIGNATURE = b"7z\xbc\xaf\x27\x1c"
DENIED_CACHE = 4096  # (module, name) gradings kept: a pickle asks about the same few many times
LAMBDA_FINDING = "keras.layers.Lambda"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # at offset 0, where h5py and Keras write it

_log = logging.getLogger("picklescan")
_log.setLevel(logging.ERROR)  # picklescan warns on every global it finds; the verdict says it


class _NotCompressed(Exception):
    """Content that started like a zlib stream but is none (nothing inflated)."""


class ModelScanError(Exception):
    """The engine could not read a model file to its end; the message says which and why."""


@dataclass(frozen=True)
class ModelFinding:
    global_name: str  # module.name of the callable, or LAMBDA_FINDING
    reason: str


@dataclass(frozen=True)
class ModelVerdict:
    name: str
    scanned: bool  # False: not a model file Xray looks into
    findings: tuple[ModelFinding, ...] = field(default=())

    @property
    def malicious(self) -> bool:
        return bool(self.findings)


ModelScanner = Callable[[Path, str], ModelVerdict]


def scan_stored(blob: Path, artifact_name: str) -> ModelVerdict:
    """Xray's verdict on the stored `blob`, judged as a file named `artifact_name`."""
    name = PurePosixPath(artifact_name).name or "artifact"
    model_name = _model_name(name)
    if model_name is None:
        return ModelVerdict(name, scanned=False)
    if blob.stat().st_size == 0:
        return ModelVerdict(name, True)
    kind = _compression(blob)
    if kind:
        try:
            with _decompressed(blob, name, kind) as readable:
                return ModelVerdict(name, True, _findings(readable, model_name, name))
        except _NotCompressed:
            pass  # two bytes that only looked like a zlib header
    return ModelVerdict(name, True, _findings(blob, model_name, name))


def _findings(readable: Path, model_name: str, name: str) -> tuple[ModelFinding, ...]:
    findings = _pickle_findings(readable, model_name)
    if findings and {f.global_name for f in findings} <= GETATTR_FINDINGS and _harmless_getattr(readable, model_name):
        findings = []
    if zipfile.is_zipfile(readable):
        findings += _keras_findings(readable, name)
    if _is_hdf5(readable):
        findings += _h5_findings(readable, name)
    return tuple(findings)


def _model_name(name: str) -> str | None:
    """The model file's own name (without a compression suffix); None: not a model file."""
    path = PurePosixPath(name.lower())
    if path.suffix in MODEL_EXTENSIONS:
        return path.name
    if path.suffix in COMPRESSED_SUFFIXES and PurePosixPath(path.stem).suffix in MODEL_EXTENSIONS:
        return path.stem
    return None


def _pickle_findings(path: Path, name: str) -> list[ModelFinding]:
    try:
        with path.open("rb") as stream:
            result = scan_bytes(stream, name, PurePosixPath(name).suffix)
    except Exception as err:
        raise ModelScanError(f"cannot read {name} to its end: {type(err).__name__}: {err}") from err
    imported = {(g.module, g.name): g.safety is SafetyLevel.Dangerous for g in result.globals}
    try:  # the engine's own read: every pickle to its end, past where picklescan may stop
        walked = pickle_globals(path, name, _denied)
    except UnreadablePickle as err:
        if findings := _graded(_with_picklescans(err.found, imported)):
            return findings  # what was read is malicious already
        raise ModelScanError(f"cannot read {name} to its end: {err}") from err
    return _graded(_with_picklescans(walked, imported))


def _with_picklescans(
    walked: set[tuple[str, str]], imported: dict[tuple[str, str], bool]
) -> dict[tuple[str, str], bool]:
    """The walk's globals, each graded by picklescan's denylist, with what picklescan listed."""
    return {pair: _picklescan_denies(*pair) for pair in walked} | imported


def _graded(imported: dict[tuple[str, str], bool]) -> list[ModelFinding]:
    """The findings among the globals imported ((module, name): on picklescan's denylist)."""
    findings = []
    for (module, attr), denied in imported.items():
        if denied:
            findings.append(ModelFinding(f"{module}.{attr}", "on picklescan's denylist of dangerous imports"))
        elif _extra_denied(module, attr):
            findings.append(ModelFinding(f"{module}.{attr}", "on the sandbox Xray's denylist of malicious behaviour"))
        elif reason := name_finding(module, attr, _denied):
            findings.append(ModelFinding(f"{module}.{attr}", reason))
    return findings


def _plain_stream(path: Path, name: str) -> bool:
    """Pickles one after the other (joblib's dumps included), not a container picklescan opens."""
    if PurePosixPath(name).suffix in CONTAINER_SUFFIXES or zipfile.is_zipfile(path):
        return False
    with path.open("rb") as stream:
        return stream.read(len(SEVEN_ZIP_SIGNATURE)) != SEVEN_ZIP_SIGNATURE


def _harmless_getattr(path: Path, name: str) -> bool:
    """A plain pickle stream whose every getattr call fetches a named attribute of a harmless class
    (xray_getattr says how it tells)."""
    return _plain_stream(path, name) and getattr_calls_are_harmless(path, _denied)


def _denied(module: str, name: str) -> bool:
    """Whether picklescan's denylist or EXTRA_DENYLIST grades the global `module.name` dangerous."""
    return _picklescan_denies(module, name) or _extra_denied(module, name)


@functools.lru_cache(maxsize=DENIED_CACHE)
def _picklescan_denies(module: str, name: str) -> bool:
    if "\n" in module or "\n" in name or " " in module:
        return True
    single = io.BytesIO(f"c{module}\n{name}\n.".encode())  # a pickle that only imports it
    return any(g.safety is SafetyLevel.Dangerous for g in scan_pickle_bytes(single, "global").globals)


def _extra_denied(module: str, name: str) -> bool:
    parts = module.split(".")
    for depth in range(len(parts), 0, -1):
        prefix = ".".join(parts[:depth])
        if prefix in EXTRA_DENYLIST:
            names = EXTRA_DENYLIST[prefix]
            return names is None or (depth == len(parts) and name in names)
    return False


def _keras_findings(path: Path, name: str) -> Iterator[ModelFinding]:
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                return
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise ModelScanError(f"cannot read the Keras config of {name}: {err}") from err
    if any(layer.get("class_name") == "Lambda" for layer in _dicts(config)):
        yield ModelFinding(LAMBDA_FINDING, "a Keras Lambda layer runs marshalled Python bytecode when loaded")


def _is_hdf5(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def _h5_findings(path: Path, name: str) -> Iterator[ModelFinding]:
    """A Keras H5 model keeps its architecture as JSON in the root attribute `model_config`."""
    try:
        import h5py  # type: ignore[import-untyped]  # noqa: PLC0415  only for HDF5 models; a dev dependency
    except ImportError as err:
        raise ModelScanError(f"cannot look into the HDF5 model {name}: h5py is not installed") from err
    try:
        with h5py.File(path, "r") as model:
            config = model.attrs.get("model_config")
    except (OSError, ValueError) as err:
        raise ModelScanError(f"cannot read the HDF5 model {name}: {err}") from err
    if config is None:
        return
    text = config.decode("utf-8", "replace") if isinstance(config, bytes) else str(config)
    try:
        parsed = json.loads(text)
    except ValueError as err:
        raise ModelScanError(f"the model_config of {name} is not JSON: {err}") from err
    if any(layer.get("class_name") == "Lambda" for layer in _dicts(parsed)):
        yield ModelFinding(LAMBDA_FINDING, "a Keras Lambda layer runs marshalled Python bytecode when loaded")


def _dicts(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _dicts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _dicts(value)


def _compression(path: Path) -> str:
    with path.open("rb") as stream:
        head = stream.read(6)
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    return ""


@contextlib.contextmanager
def _decompressed(path: Path, name: str, kind: str) -> Iterator[Path]:
    """The decompressed content of `path` in a temporary file (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="sandbox-xray-") as folder:
        target = Path(folder) / "content"
        total = 0
        try:
            with path.open("rb") as raw, target.open("wb") as out:
                for chunk in _inflated(kind, raw):
                    total += len(chunk)
                    if total > MAX_DECOMPRESSED_BYTES:
                        raise ModelScanError(f"{name} decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes")
                    out.write(chunk)
        except (OSError, EOFError, zlib.error, lzma.LZMAError) as err:
            if kind == "zlib" and total == 0:  # a 2-byte sniff: not a zlib stream after all
                raise _NotCompressed from err
            raise ModelScanError(f"cannot decompress {name} ({kind}): {err}") from err
        yield target


def _inflated(kind: str, raw: IO[bytes]) -> Iterator[bytes]:
    if kind == "zlib":
        yield from _inflated_zlib(raw)
        return
    opened: gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile
    if kind == "gzip":
        opened = gzip.GzipFile(fileobj=raw)
    elif kind == "bz2":
        opened = bz2.BZ2File(raw)
    else:
        opened = lzma.LZMAFile(raw)  # noqa: SIM115  closed by the with below
    with opened as stream:
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk


def _inflated_zlib(raw: IO[bytes]) -> Iterator[bytes]:
    """A zlib stream's content (what joblib's zlib compressor writes), CHUNK_BYTES at most at a time."""
    inflate = zlib.decompressobj()
    while data := raw.read(CHUNK_BYTES):
        while data:
            yield inflate.decompress(data, CHUNK_BYTES)
            data = inflate.unconsumed_tail
        if inflate.eof:
            return
    raise EOFError("the zlib stream ends early")
