"""Load files the way their users' loaders would, and report which ones ran their payload.

Run as a child process: `python natural_loaders.py FOLDER CANARY`. Every file in FOLDER is given
to every loader that would take it (pickle.load, joblib.load, zipfile then pickle for torch-style
`data.pkl` members, tarfile, gzip/bz2/lzma, Keras's Lambda deserialisation), recursively into
what they unpack. A payload proves it ran by creating the CANARY file; the child prints the JSON
list of the file names for which it appeared. This runs the payloads for real, so they must stay
harmless (they only create the canary, a file or an empty folder).
"""

from __future__ import annotations

import base64
import bz2
import contextlib
import gzip
import io
import json
import lzma
import marshal
import pickle
import sys
import tarfile
import types
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

MAX_DEPTH = 6
CANARY = Path()  # set by main(): the file or folder a payload creates


class Fired(BaseException):  # not an Exception: the loaders' own handlers must let it through
    """The canary appeared: no need to try other loaders on this file."""


_STREAMING = (gzip.GzipFile, bz2.BZ2File, lzma.LZMAFile)
_COMPRESSED = {b"\x1f\x8b": gzip.decompress, b"BZh": bz2.decompress, b"\xfd7zXZ\x00": lzma.decompress}


def load_everything(data: bytes, depth: int = 0) -> None:
    """Every way a loader could take `data`, and what it unpacks; errors only end that one way."""
    if depth > MAX_DEPTH:
        return
    _attempt(lambda: pickle.loads(data))  # noqa: S301  loading untrusted bytes is the point
    _attempt(lambda: _joblib_load(data))
    for opener in _STREAMING:  # gzip.open(...) then pickle.load: runs what decodes before any damage
        _attempt(lambda opener=opener: pickle.load(opener(io.BytesIO(data))))  # type: ignore[misc]  # noqa: S301
    for inner in _unpacked(data):
        load_everything(inner, depth + 1)


def _attempt(load: object) -> None:
    with contextlib.suppress(Exception):  # a loader refusing the bytes is an expected outcome here
        load()  # type: ignore[operator]
    if CANARY.exists():
        raise Fired


def _joblib_load(data: bytes) -> object:
    import joblib  # noqa: PLC0415  the child imports it once, lazily

    return joblib.load(io.BytesIO(data))


def _unpacked(data: bytes) -> Iterator[bytes]:
    for magic, decompress in _COMPRESSED.items():
        if data.startswith(magic):
            yield from _safely(lambda decompress=decompress: [decompress(data)])  # type: ignore[misc]
    yield from _safely(lambda: [lzma.decompress(data)])  # .xz and .lzma, which has no magic
    yield from _safely(lambda: _zip_members(data))
    yield from _safely(lambda: _tar_members(data))


def _safely(produce: object) -> Iterator[bytes]:
    try:
        yield from produce()  # type: ignore[operator]
    except Exception:  # not that kind of container
        return


def _zip_members(data: bytes) -> list[bytes]:
    """torch.load and Keras read a zip by its central directory, junk in front or not."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}
    if "config.json" in members:
        _attempt(lambda: _keras_lambdas(json.loads(members["config.json"])))
    return list(members.values())


def _tar_members(data: bytes) -> list[bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        return [archive.extractfile(member).read() for member in archive if member.isfile()]  # type: ignore[union-attr]


def _keras_lambdas(node: object) -> None:
    """What Keras does with a Lambda layer's function on load: unmarshal its bytecode and call it."""
    if isinstance(node, dict):
        if node.get("class_name") == "__lambda__":
            code = marshal.loads(base64.b64decode(node["config"]["code"]))  # noqa: S302  the point of the test
            _attempt(types.FunctionType(code, {"__builtins__": __builtins__}))
        for value in node.values():
            _keras_lambdas(value)
    elif isinstance(node, list):
        for value in node:
            _keras_lambdas(value)


def _clear(canary: Path) -> None:
    if canary.is_dir():
        canary.rmdir()
    canary.unlink(missing_ok=True)


def main() -> None:
    global CANARY
    folder, CANARY = Path(sys.argv[1]), Path(sys.argv[2])
    warnings.simplefilter("ignore")
    fired = []
    for path in sorted(folder.iterdir()):
        _clear(CANARY)
        try:
            load_everything(path.read_bytes())
        except Fired:
            fired.append(path.name)
    _clear(CANARY)
    print(json.dumps(fired))


if __name__ == "__main__":
    main()
