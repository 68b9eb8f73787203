"""Malicious and benign model files, generated here (nothing is downloaded).

Each `Sample` writes one file into a folder and says which global the scanner must name
(`expected`), or None for a file that must pass. Payloads are built with real `__reduce__`
methods or assembled opcode by opcode; nothing here ever loads them.
"""

from __future__ import annotations

import functools
import gzip
import importlib
import io
import json
import lzma
import os
import pickle
import pty
import runpy
import shutil
import socket
import struct
import subprocess
import tarfile
import warnings
import webbrowser
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import joblib
import numpy as np

TORCH_MAGIC = 0x1950A86A20F9469CFC6C
UNREADABLE = "<unreadable>"


@dataclass(frozen=True)
class Sample:
    name: str
    write: Callable[[Path], bytes | None]  # returns the file's bytes, or writes it itself and returns None
    expected: str | None = None  # the global the scan must name; None: the file must pass
    filename: str = "model.bin"

    def make(self, folder: Path) -> Path:
        path = folder / self.filename
        data = self.write(path)
        if data is not None:
            path.write_bytes(data)
        return path


# --- payloads built by pickle itself -------------------------------------------------------------


class Reduce:
    """An object whose unpickling calls `func(*args)`."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.func, self.args


def _evil() -> Reduce:
    return Reduce(os.system, "echo pwned")


def dumps(obj: object, protocol: int = 4) -> bytes:
    return pickle.dumps(obj, protocol=protocol)


def in_dict(payload: object, protocol: int = 4) -> Callable[[Path], bytes]:
    return lambda _: dumps({"weights": [1.0, 2.0], "payload": payload}, protocol)


# --- an opcode assembler for what pickle.dumps will not write ------------------------------------


def text(value: str) -> bytes:
    data = value.encode()
    return b"\x8c" + bytes([len(data)]) + data if len(data) < 256 else b"X" + struct.pack("<I", len(data)) + data


def glob(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def stack_glob(module: str, name: str) -> bytes:
    return text(module) + b"\x94" + text(name) + b"\x94\x93"


def int1(value: int) -> bytes:
    return b"K" + bytes([value])


def body(obj: object) -> bytes:
    """The opcodes that push `obj`, from a protocol-2 pickle without its header and STOP."""
    return pickle.dumps(obj, protocol=2)[2:-1]


PROTO2, PROTO4, STOP, MARK, TUPLE, REDUCE, BUILD = b"\x80\x02", b"\x80\x04", b".", b"(", b"t", b"R", b"b"
EMPTY_TUPLE, NEWOBJ, TUPLE1, TUPLE2, TUPLE3 = b")", b"\x81", b"\x85", b"\x86", b"\x87"


def call(func: bytes, *args: bytes) -> bytes:
    return func + MARK + b"".join(args) + TUPLE + REDUCE


def system_call(command: str = "echo pwned") -> bytes:
    return call(glob("os", "system"), text(command))


P0_SYSTEM = b"cos\nsystem\n(S'echo pwned'\ntR"  # protocol 0: printable text that calls os.system


def tensor(key: str, storage: str) -> bytes:
    """A torch state-dict entry, as torch.save writes it (persistent id for the storage)."""
    storage_id = MARK + text("storage") + glob("torch", "FloatStorage") + text(storage) + text("cpu") + int1(4) + TUPLE
    ordered = glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
    shape = int1(2) + int1(2) + TUPLE2
    stride = int1(2) + int1(1) + TUPLE2
    rebuilt = call(
        glob("torch._utils", "_rebuild_tensor_v2"), storage_id + b"Q", int1(0), shape, stride, b"\x89", ordered
    )
    return text(key) + rebuilt


def torch_state_dict(entries: int = 2) -> bytes:
    ordered = glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE
    items = b"".join(tensor(f"layer{i}.weight", str(i)) for i in range(entries))
    return PROTO2 + ordered + MARK + items + b"u" + STOP


def torch_zip(data_pkl: bytes, *, extra: dict[str, bytes] | None = None) -> Callable[[Path], bytes]:
    def write(_: Path) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("archive/data.pkl", data_pkl)
            archive.writestr("archive/byteorder", "little")
            for i in range(2):
                archive.writestr(f"archive/data/{i}", np.arange(4, dtype="<f4").tobytes())
            archive.writestr("archive/version", "3\n")
            for name, data in (extra or {}).items():
                archive.writestr(name, data)
        return buffer.getvalue()

    return write


def legacy_torch(main: bytes, *, sys_info: object = None) -> Callable[[Path], bytes]:
    info = sys_info if sys_info is not None else {"protocol_version": 1001, "little_endian": True}
    keys = dumps(["0", "1"], 2)
    storage = struct.pack("<q", 4) + np.arange(4, dtype="<f4").tobytes()
    data = dumps(TORCH_MAGIC, 2) + dumps(1001, 2) + dumps(info, 2) + main + keys + storage * 2
    return lambda _: data


def sklearn_like(cls: str, state: dict[str, object]) -> bytes:
    module, name = cls.rsplit(".", 1)
    return PROTO2 + glob(module, name) + EMPTY_TUPLE + NEWOBJ + body(state) + BUILD + STOP


# --- containers ----------------------------------------------------------------------------------


def zipped(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def duplicated_member(first: bytes, second: bytes) -> Callable[[Path], bytes]:
    def write(_: Path) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate name we write on purpose
            archive.writestr("archive/data.pkl", first)
            archive.writestr("archive/data.pkl", second)
        return buffer.getvalue()

    return write


def encrypted_member(data: bytes) -> bytes:
    """A zip whose member claims encryption (flag bit 0): no reader here can check it."""
    raw = bytearray(zipped({"archive/data.pkl": data}))
    raw[6] |= 0x01  # the local header's flags
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 8] |= 0x01  # the central directory's flags
    return bytes(raw)


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zstd_raw_frame(content: bytes) -> bytes:
    """A zstd frame with one uncompressed block (valid zstd, made without the library)."""
    assert len(content) < 256
    block_header = (1 | (len(content) << 3)).to_bytes(3, "little")  # last block, raw
    return b"\x28\xb5\x2f\xfd" + b"\x20" + bytes([len(content)]) + block_header + content


def joblib_file(obj: object, compress: object = 0) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        joblib.dump(obj, path, compress=compress)

    return write


def joblib_zfile(data: bytes) -> bytes:
    """joblib < 0.10's format: 'ZF', the length in hex, then zlib."""
    return b"ZF" + f"{len(data):#x}".ljust(19).encode() + zlib.compress(data)


def joblib_polyglot() -> bytes:
    """A joblib array whose bytes are, for pickle.load, opcodes that call os.system."""
    payload = system_call() + b"0"  # call, then POP the result so the stack is as joblib left it
    dtype = call(glob("numpy", "dtype"), text("u1"), b"\x89", b"\x88") + MARK
    dtype += int1(3) + text("|") + b"NNN" + b"J\xff\xff\xff\xff" * 2 + int1(0) + TUPLE + BUILD
    state = b"}" + MARK + text("subclass") + glob("numpy", "ndarray") + text("shape")
    state += b"J" + struct.pack("<i", len(payload)) + TUPLE1 + text("order") + text("C") + text("dtype") + dtype
    state += text("allow_mmap") + b"\x89" + b"u"
    wrapper = glob("joblib.numpy_pickle", "NumpyArrayWrapper") + EMPTY_TUPLE + NEWOBJ + state + BUILD
    return PROTO2 + b"}" + text("w") + wrapper + payload + b"s" + STOP


# --- Keras ---------------------------------------------------------------------------------------

KERAS3_DENSE = {
    "module": "keras",
    "class_name": "Sequential",
    "config": {
        "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 4]}},
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "config": {
                    "units": 2,
                    "activation": "relu",
                    "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform"},
                },
            },
        ]
    },
    "compile_config": {"optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {}}},
}


def keras3(extra_layer: dict[str, object] | None) -> dict[str, object]:
    config = json.loads(json.dumps(KERAS3_DENSE))
    if extra_layer:
        config["config"]["layers"].append(extra_layer)
    return config  # type: ignore[no-any-return]


LAMBDA3 = {
    "module": "keras.layers",
    "class_name": "Lambda",
    "config": {"function": {"class_name": "__lambda__", "config": {"code": "4wEAAAAAAAAAAAAAAAEAAAADAAAA"}}},
}
LAMBDA2 = {"class_name": "Lambda", "config": {"function": ["4wEAAAAAAAAA", None, None], "function_type": "lambda"}}
KERAS2 = {
    "class_name": "Sequential",
    "config": {"name": "m", "layers": [{"class_name": "Dense", "config": {"units": 2}}]},
}


def keras2(extra_layer: dict[str, object] | None) -> dict[str, object]:
    config = json.loads(json.dumps(KERAS2))
    if extra_layer:
        config["config"]["layers"].append(extra_layer)
    return config  # type: ignore[no-any-return]


def keras_zip(config: dict[str, object]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        weights = path.with_suffix(".weights.h5")
        with h5py.File(weights, "w") as h5:
            h5.create_group("layers").create_dataset("vars", data=np.zeros(3))
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("metadata.json", json.dumps({"keras_version": "3.9.0"}))
            archive.writestr("config.json", json.dumps(config))
            archive.write(weights, "model.weights.h5")
        weights.unlink()

    return write


def keras_h5(config: dict[str, object], *, as_bytes: bool = True, **options: object) -> Callable[[Path], None]:
    """Keras 2's .h5: the config as a fixed-length bytes attribute (or a vlen str), weights beside."""

    def write(path: Path) -> None:
        with h5py.File(path, "w", **options) as h5:  # type: ignore[arg-type]
            h5.attrs["backend"] = b"tensorflow"
            h5.attrs["keras_version"] = b"2.15.0"
            encoded = json.dumps(config)
            h5.attrs["model_config"] = encoded.encode() if as_bytes else encoded
            h5.create_group("model_weights").create_dataset("kernel", data=np.ones((4, 2)))

    return write


def keras_h5_dense_attrs(config: dict[str, object]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with h5py.File(path, "w", libver="latest") as h5:
            for i in range(12):  # more than 8 attributes: HDF5 moves them to dense storage
                h5.attrs[f"note{i}"] = i
            h5.attrs["model_config"] = json.dumps(config)

    return write


# --- code-free formats ---------------------------------------------------------------------------


def safetensors(payload_bytes: int = 64) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [payload_bytes // 4], "data_offsets": [0, payload_bytes]}})
    return struct.pack("<Q", len(header)) + header.encode() + b"\x00" * payload_bytes


def onnx_start() -> bytes:
    """The first fields of an ONNX ModelProto: ir_version 8, producer 'pytorch', opset, graph."""
    producer = b"pytorch"
    opset = b"\x12\x00\x10\x11"
    graph = b"\x0a\x04node"
    return (
        b"\x08\x08"
        + b"\x12"
        + bytes([len(producer)])
        + producer
        + b"\x42"
        + bytes([len(opset)])
        + opset
        + b"\x3a"
        + bytes([len(graph)])
        + graph
    )


def gguf() -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, 0, 0) + b"\x00" * 64


def appended_zip(prefix: bytes, members: dict[str, bytes]) -> bytes:
    return prefix + zipped(members)


def _h(data: bytes) -> Callable[[Path], bytes]:
    return lambda _: data


def _pickle_protocol_samples() -> list[Sample]:
    return [Sample(f"os.system protocol {p}", in_dict(_evil(), p), "posix.system", f"model_p{p}.pkl") for p in range(6)]


def _hand_made() -> list[Sample]:
    hidden = call(glob("builtins", "str"), text("os"))
    return [
        Sample("GLOBAL os.system protocol 0 as .txt", _h(P0_SYSTEM + STOP), "os.system", "notes.txt"),
        Sample(
            "STACK_GLOBAL os.system",
            _h(PROTO4 + stack_glob("os", "system") + MARK + text("id") + TUPLE + REDUCE + STOP),
            "os.system",
        ),
        Sample(
            "STACK_GLOBAL from memo (BINGET)",
            _h(
                PROTO4
                + text("os")
                + b"q\x00"
                + text("x")
                + b"0"
                + b"h\x00"
                + text("system")
                + b"\x93"
                + MARK
                + text("id")
                + TUPLE
                + REDUCE
                + STOP
            ),
            "os.system",
        ),
        Sample(
            "STACK_GLOBAL name built by a call",
            _h(PROTO4 + hidden + text("system") + b"\x93" + MARK + text("id") + TUPLE + REDUCE + STOP),
            "?.?",
        ),
        Sample(
            "FRAME between module and name",
            _h(
                PROTO4
                + text("os")
                + b"\x95"
                + struct.pack("<Q", 10)
                + text("system")
                + b"\x93"
                + MARK
                + text("id")
                + TUPLE
                + REDUCE
                + STOP
            ),
            "os.system",
        ),
        Sample("posix.system GLOBAL", _h(PROTO2 + call(glob("posix", "system"), text("id")) + STOP), "posix.system"),
        Sample("nt.system GLOBAL", _h(PROTO2 + call(glob("nt", "system"), text("id")) + STOP), "nt.system"),
        Sample("INST opcode", _h(MARK + text("id") + b"ios\nsystem\n" + STOP), "os.system"),
        Sample("OBJ opcode", _h(MARK + glob("os", "system") + text("id") + b"o" + STOP), "os.system"),
        Sample(
            "EXT1 extension code",
            _h(PROTO2 + b"\x82\x01" + MARK + TUPLE + REDUCE + STOP),
            "copyreg._extension_registry.1",
        ),
        Sample(
            "getattr chain",
            _h(
                PROTO2
                + call(glob("builtins", "getattr"), call(glob("builtins", "__import__"), text("os")), text("system"))
                + MARK
                + text("id")
                + TUPLE
                + REDUCE
                + STOP
            ),
            "builtins.getattr",
        ),
        Sample(
            "builtins.__import__ alone",
            _h(PROTO2 + call(glob("builtins", "__import__"), text("os")) + STOP),
            "builtins.__import__",
        ),
        Sample("types.CodeType", _h(PROTO2 + call(glob("types", "CodeType"), int1(0)) + STOP), "types.CodeType"),
        Sample("unknown module mypkg.evil", _h(PROTO2 + call(glob("mypkg", "evil"), text("x")) + STOP), "mypkg.evil"),
        Sample(
            "__main__ class via NEWOBJ",
            _h(PROTO2 + glob("__main__", "Exploit") + EMPTY_TUPLE + NEWOBJ + STOP),
            "__main__.Exploit",
        ),
        Sample("truncated after the call", _h(PROTO2 + system_call()), "os.system"),
        Sample("benign pickle then a malicious one", _h(dumps([1, 2]) + PROTO2 + system_call() + STOP), "os.system"),
        Sample(
            "protocol 0 partial pickle in text", _h(P0_SYSTEM + b"\nthis is not a pickle\n"), "os.system", "README.md"
        ),
        Sample("binary partial pickle", _h(system_call() + b"\x00\x01 trailing bytes"), "os.system"),
        Sample(
            "corrupt protocol-4 pickle", _h(PROTO4 + b"\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94\xff\xff"), UNREADABLE
        ),
    ]


def _reduce_samples() -> list[Sample]:
    cases: list[tuple[str, object, str]] = [
        ("subprocess.Popen", Reduce(subprocess.Popen, ["id"]), "subprocess.Popen"),
        ("subprocess.check_output", Reduce(subprocess.check_output, ["id"]), "subprocess.check_output"),
        ("builtins.eval", Reduce(eval, "1+1"), "builtins.eval"),
        ("builtins.exec", Reduce(exec, "x=1"), "builtins.exec"),
        ("runpy._run_code", Reduce(runpy._run_code, "x=1", {}), "runpy._run_code"),
        ("importlib.import_module", Reduce(importlib.import_module, "os"), "importlib.import_module"),
        ("webbrowser.open", Reduce(webbrowser.open, "http://127.0.0.1"), "webbrowser.open"),
        ("socket.create_connection", Reduce(socket.create_connection, ("127.0.0.1", 9)), "socket.create_connection"),
        ("shutil.rmtree", Reduce(shutil.rmtree, "/nonexistent"), "shutil.rmtree"),
        ("pty.spawn", Reduce(pty.spawn, "sh"), "pty.spawn"),
        ("functools.partial", functools.partial(os.system, "id"), "functools.partial"),
    ]
    return [
        Sample(f"__reduce__ {name} protocol {3 + i % 3}", in_dict(payload, 3 + i % 3), expected, f"r{i}.pkl")
        for i, (name, payload, expected) in enumerate(cases)
    ]


def _torch_samples() -> list[Sample]:
    evil = PROTO2 + system_call() + STOP
    return [
        Sample("torch zip data.pkl", torch_zip(dumps({"x": _evil()}, 2)), "posix.system", "model.pt"),
        Sample(
            "torch zip pickle in a tensor member",
            torch_zip(torch_state_dict(), extra={"archive/data/9": system_call() + STOP}),
            "os.system",
            "model.pt",
        ),
        Sample("torch zip duplicate data.pkl", duplicated_member(torch_state_dict(), evil), "os.system", "model.pth"),
        Sample(
            "torch zip whole model class",
            torch_zip(PROTO2 + glob("__main__", "Net") + EMPTY_TUPLE + NEWOBJ + STOP),
            "__main__.Net",
            "model.pt",
        ),
        Sample(
            "torch zip deflated member",
            _h(zipped({"archive/data.pkl": evil}, zipfile.ZIP_DEFLATED)),
            "os.system",
            "model.pt",
        ),
        Sample("legacy torch main pickle", legacy_torch(evil), "os.system", "legacy.pt"),
        Sample(
            "legacy torch sys_info pickle",
            legacy_torch(torch_state_dict(), sys_info=Reduce(os.system, "id")),
            "posix.system",
            "legacy.bin",
        ),
        Sample("torch zip encrypted member", _h(encrypted_member(torch_state_dict())), UNREADABLE, "model.pt"),
    ]


def _joblib_samples() -> list[Sample]:
    evil = {"coef": np.arange(6.0).reshape(2, 3), "payload": _evil()}
    codecs = ["zlib", "gzip", "bz2", "lzma", "xz", "lz4"]
    compressed = [Sample(f"joblib {c}", joblib_file(evil, (c, 3)), "posix.system", f"model.{c}.joblib") for c in codecs]
    return [
        *compressed,
        Sample(
            "joblib arrays before the payload",
            joblib_file({"a": np.ones(1000), "b": np.arange(7, dtype="<i2"), "z": _evil()}),
            "posix.system",
            "model.joblib",
        ),
        Sample(
            "joblib object array payload",
            joblib_file({"a": np.array([1, _evil()], dtype=object)}),
            "posix.system",
            "model.joblib",
        ),
        Sample("joblib pre-0.10 ZF format", _h(joblib_zfile(dumps({"x": _evil()}, 2))), "posix.system", "old.pkl"),
        Sample("joblib array bytes are opcodes", _h(joblib_polyglot()), "os.system", "model.joblib"),
        Sample(
            "zstd-compressed pickle", _h(zstd_raw_frame(PROTO2 + system_call() + STOP)), UNREADABLE, "model.pkl.zst"
        ),
    ]


def _numpy_samples() -> list[Sample]:
    def npy(path: Path) -> None:
        np.save(path, np.array([_evil(), 1], dtype=object), allow_pickle=True)

    def npz(path: Path) -> None:
        np.savez(path, w=np.ones(3), o=np.array([_evil()], dtype=object))

    def npz_compressed(path: Path) -> None:
        np.savez_compressed(path, w=np.ones(3), o=np.array([_evil()], dtype=object))

    return [
        Sample("npy object array", npy, "posix.system", "arr.npy"),
        Sample("npz object array", npz, "posix.system", "arr.npz"),
        Sample("npz compressed object array", npz_compressed, "posix.system", "arr.npz"),
    ]


def _keras_samples() -> list[Sample]:
    os_module = {"module": "os", "class_name": "function", "config": "system", "registered_name": "system"}
    get_file = {"module": "keras.utils", "class_name": "function", "config": "get_file"}
    return [
        Sample(".keras Lambda layer", keras_zip(keras3(LAMBDA3)), "keras.layers.Lambda", "model.keras"),
        Sample(".keras module os.system", keras_zip(keras3(os_module)), "os.system", "model.keras"),
        Sample(".keras keras.utils.get_file", keras_zip(keras3(get_file)), "keras.utils.get_file", "model.keras"),
        Sample(".h5 Lambda fixed string", keras_h5(keras2(LAMBDA2)), "keras.layers.Lambda", "model.h5"),
        Sample(
            ".h5 Lambda vlen string libver latest",
            keras_h5(keras2(LAMBDA2), as_bytes=False, libver="latest"),
            "keras.layers.Lambda",
            "model.h5",
        ),
        Sample(
            ".h5 Lambda after a 512-byte user block",
            keras_h5(keras2(LAMBDA2), userblock_size=512),
            "keras.layers.Lambda",
            "model.h5",
        ),
        Sample(".h5 dense attribute storage", keras_h5_dense_attrs(keras2(LAMBDA2)), UNREADABLE, "model.h5"),
        Sample("model.to_json Lambda", _h(json.dumps(keras2(LAMBDA2)).encode()), "keras.layers.Lambda", "model.json"),
        Sample(
            "Lambda spelled with a JSON escape",
            _h(json.dumps(keras2(LAMBDA2)).replace("Lambda", "\\u004cambda").encode()),
            "keras.layers.Lambda",
            "model.json",
        ),
    ]


def _nested_samples() -> list[Sample]:
    evil = PROTO2 + system_call() + STOP
    inner_zip = zipped({"archive/data.pkl": evil})
    return [
        Sample("zip in zip", _h(zipped({"inner.zip": zipped({"x/y.pkl": evil})})), "os.system", "bundle.zip"),
        Sample(
            "zip in deflated zip", _h(zipped({"inner.pt": inner_zip}, zipfile.ZIP_DEFLATED)), "os.system", "bundle.zip"
        ),
        Sample("tar.gz of a pickle", _h(tar_gz({"model/model.pkl": evil})), "os.system", "model.tar.gz"),
        Sample("gzip of a torch zip", _h(gzip.compress(inner_zip)), "os.system", "model.pt.gz"),
        Sample("pickle named .safetensors", _h(evil), "os.system", "model.safetensors"),
        Sample("pickle named .onnx", _h(dumps(_evil(), 5)), "posix.system", "model.onnx"),
        Sample(
            "pickle that also parses as safetensors",
            _h(PROTO2 + b"B\x02\x00\x00\x00\x00{" + system_call() + STOP),  # the header length hides a BINBYTES
            "os.system",
            "model.safetensors",
        ),
        Sample(
            "zip appended to safetensors",
            _h(appended_zip(safetensors(), {"archive/data.pkl": evil})),
            "os.system",
            "model.safetensors",
        ),
        Sample(
            "joblib inside zip",
            _h(zipped({"m.joblib": gzip.compress(evil)}, zipfile.ZIP_DEFLATED)),
            "os.system",
            "bundle.zip",
        ),
    ]


# --- the bypasses of issue 9, each one `pickle.load` runs -------------------------------------------

LONG_FLOAT = b"F" + b"0" * 70_000 + b".5\n0"  # a 70,000-character FLOAT line, then POP
PADDED_INT = b"I" + b" " * 70_000 + b"1\n0"  # an INT line padded with spaces, then POP
P0_AFTER_LONG_FLOAT = LONG_FLOAT + P0_SYSTEM + STOP
P0_AFTER_PADDED_INT = PADDED_INT + P0_SYSTEM + STOP


def safetensors_lookalike(import_at: int = 100_000, payload: bytes | None = None) -> bytes:
    """Sniffs as safetensors (an 89 MB header length, then `{`) yet unpickles, importing past `import_at`.

    The length's bytes are PROTO 2 and a SHORT_BINSTRING of five bytes that swallows the `{`.
    """
    head = PROTO2 + b"U\x05\x00\x00\x00\x00{" + b"0"
    padding = b"B" + struct.pack("<I", import_at) + b"\x00" * import_at + b"0"
    return head + padding + (payload or system_call()) + STOP


def keras_with_junk_in_tar_gz(path: Path) -> bytes:
    """A .keras with a Lambda layer and junk bytes in front, inside a .tar.gz (Keras reads zips from the end)."""
    keras = path.with_suffix(".inner.keras")
    keras_zip(keras3(LAMBDA3))(keras)
    data = b"junk" * 1000 + keras.read_bytes()
    keras.unlink()
    return tar_gz({"model/model.keras": data})


def v7_tar(members: dict[str, bytes]) -> bytes:
    """A pre-POSIX tar, which has no magic: `tarfile` still reads it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    raw = bytearray(buffer.getvalue())
    offset = 0
    while offset + 512 <= len(raw) and raw[offset]:
        header = raw[offset : offset + 512]
        header[257:265] = bytes(8)  # no "ustar" magic or version
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\x00 " % sum(header)
        raw[offset : offset + 512] = header
        size = int(header[124:136].rstrip(b"\x00 ") or b"0", 8)
        offset += 512 + (size + 511) // 512 * 512
    return bytes(raw)


def _bypass_samples() -> list[Sample]:
    lookalike = safetensors_lookalike()
    evil_p2 = PROTO2 + system_call() + STOP
    return [
        Sample("70,000-character FLOAT line", _h(P0_AFTER_LONG_FLOAT), "os.system", "model.pkl"),
        Sample("INT line padded with spaces", _h(P0_AFTER_PADDED_INT), "os.system", "model.pkl"),
        Sample(
            "long FLOAT line as archive/data.pkl",
            _h(zipped({"archive/data.pkl": P0_AFTER_LONG_FLOAT})),
            "os.system",
            "model.pt",
        ),
        Sample("long FLOAT line gzipped", _h(gzip.compress(P0_AFTER_LONG_FLOAT)), "os.system", "model.pkl.gz"),
        Sample("safetensors lookalike", _h(lookalike), "os.system", "model.safetensors"),
        Sample("safetensors lookalike in tar", _h(tar_gz({"m.safetensors": lookalike})), "os.system", "m.tar.gz"),
        Sample(
            "safetensors lookalike in deflated zip",
            _h(zipped({"m.safetensors": lookalike}, zipfile.ZIP_DEFLATED)),
            "os.system",
            "m.zip",
        ),
        Sample("safetensors lookalike gzipped", _h(gzip.compress(lookalike)), "os.system", "m.safetensors.gz"),
        Sample(".keras with junk in front in a .tar.gz", keras_with_junk_in_tar_gz, "keras.layers.Lambda", "m.tar.gz"),
        Sample(
            ".lzma with a 4 KiB dictionary (no 5d 00 00 in front), as joblib.load reads it",
            _h(
                lzma.compress(evil_p2, format=lzma.FORMAT_ALONE, filters=[{"id": lzma.FILTER_LZMA1, "dict_size": 4096}])
            ),
            "os.system",
            "model.joblib",
        ),
        Sample(
            "pickle in a pre-POSIX tar",
            _h(v7_tar({"model.pkl": PROTO2 + system_call() + STOP})),
            "os.system",
            "model.tar",
        ),
    ]


MALICIOUS: list[Sample] = [
    *_pickle_protocol_samples(),
    *_hand_made(),
    *_reduce_samples(),
    *_torch_samples(),
    *_joblib_samples(),
    *_numpy_samples(),
    *_keras_samples(),
    *_nested_samples(),
    *_bypass_samples(),
]


def _benign_pickles() -> list[Sample]:
    plain = {
        "name": "model",
        "weights": [0.5, -1.25, 3.0],
        "layers": (1, 2),
        "bytes": b"\x00\x01",
        "nested": {"a": None},
    }
    logistic = {
        "coef_": np.ones((1, 4)),
        "intercept_": np.zeros(1),
        "classes_": np.array([0, 1]),
        "C": 1.0,
        "n_iter_": np.array([12], dtype=np.int32),
    }
    forest_state = {"n_estimators": 10, "random_state": np.random.RandomState(0), "estimators_": []}
    return [
        *[Sample(f"plain dict protocol {p}", _h(dumps(plain, p)), None, f"plain{p}.pkl") for p in range(6)],
        Sample(
            "ordered dict of numpy arrays",
            _h(dumps(OrderedDict(w=np.ones((3, 3)), b=np.zeros(3)), 4)),
            None,
            "arrays.pkl",
        ),
        Sample(
            "numpy scalar and dtype", _h(dumps({"s": np.float32(1.5), "d": np.dtype("<i8")}, 4)), None, "scalars.pkl"
        ),
        Sample(
            "sklearn-like LogisticRegression",
            _h(sklearn_like("sklearn.linear_model._logistic.LogisticRegression", logistic)),
            None,
            "clf.pkl",
        ),
        Sample(
            "sklearn-like StandardScaler",
            _h(
                sklearn_like("sklearn.preprocessing._data.StandardScaler", {"mean_": np.zeros(4), "scale_": np.ones(4)})
            ),
            None,
            "scaler.pkl",
        ),
        Sample(
            "sklearn-like forest with RandomState",
            _h(sklearn_like("sklearn.ensemble._forest.RandomForestClassifier", forest_state)),
            None,
            "forest.pkl",
        ),
        Sample("large list pickle", _h(dumps(list(range(20000)), 4)), None, "big.pkl"),
    ]


def _benign_torch_and_joblib() -> list[Sample]:
    mixed = {
        "w": np.random.default_rng(0).normal(size=(50, 20)),
        "names": np.array(["a", "bb"]),
        "ids": np.arange(5, dtype=">i2"),
    }
    record = np.zeros(3, dtype=[("x", "<f4"), ("y", "<i8")])
    return [
        Sample("torch zip state dict", torch_zip(torch_state_dict(3)), None, "model.pt"),
        Sample("legacy torch state dict", legacy_torch(torch_state_dict()), None, "legacy.pt"),
        Sample("joblib numpy arrays", joblib_file(mixed), None, "arrays.joblib"),
        Sample(
            "joblib structured and object-string arrays",
            joblib_file({"r": record, "s": np.array(["x", None], dtype=object)}),
            None,
            "rec.joblib",
        ),
        Sample("joblib zlib compressed arrays", joblib_file(mixed, ("zlib", 3)), None, "arrays.joblib"),
        Sample("joblib gzip compressed dict", joblib_file({"a": [1, 2, 3]}, ("gzip", 3)), None, "dict.joblib"),
        Sample("joblib protocol 2", lambda p: joblib.dump(mixed, p, protocol=2) and None, None, "p2.joblib"),
    ]


def _benign_other() -> list[Sample]:
    def npy(path: Path) -> None:
        np.save(path, np.arange(12, dtype="<f8").reshape(3, 4))

    def npy_record(path: Path) -> None:
        np.save(path, np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8", (2,))]))

    def npz(path: Path) -> None:
        np.savez_compressed(path, a=np.ones(4), b=np.arange(3))

    tokenizer = json.dumps(
        {"model": {"vocab": {"h\u00e9llo": 1, "\u4e16\u754c": 2}}, "added_tokens": []}, ensure_ascii=True
    )
    return [
        Sample(".npy float array", npy, None, "a.npy"),
        Sample(".npy structured array", npy_record, None, "rec.npy"),
        Sample(".npz compressed numeric", npz, None, "a.npz"),
        Sample("safetensors header", _h(safetensors(4096)), None, "model.safetensors"),
        Sample("onnx protobuf start", _h(onnx_start() + os.urandom(256)), None, "model.onnx"),
        Sample("gguf magic", _h(gguf()), None, "model.gguf"),
        Sample(".keras Dense model", keras_zip(keras3(None)), None, "model.keras"),
        Sample(".h5 Dense model", keras_h5(keras2(None)), None, "model.h5"),
        Sample(
            "HF config.json",
            _h(json.dumps({"architectures": ["BertModel"], "hidden_size": 768}).encode()),
            None,
            "config.json",
        ),
        Sample("tokenizer.json with escapes", _h(tokenizer.encode()), None, "tokenizer.json"),
        Sample("README text", _h(b"# Model card\n\nTrained on data.\n"), None, "README.md"),
        Sample("vocab text that starts like GLOBAL", _h(b"cat\ndog\nfish\nbird\n"), None, "labels.txt"),
        Sample("python source", _h(b"import os\nimport sys\n\nprint('hi')\n"), None, "train.py"),
        Sample("metrics yaml", _h(b"accuracy: 0.93\nloss: 0.2\n"), None, "metrics.yaml"),
        Sample("random bytes", _h(np.random.default_rng(1).bytes(8192)), None, "blob.dat"),
        Sample("empty file", _h(b""), None, "empty.bin"),
        Sample(
            "tar of benign files",
            _h(tar_gz({"a/model.safetensors": safetensors(), "a/config.json": b"{}"})),
            None,
            "bundle.tar.gz",
        ),
    ]


BENIGN: list[Sample] = [*_benign_pickles(), *_benign_torch_and_joblib(), *_benign_other()]
