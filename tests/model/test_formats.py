"""Formats are told by content: magic numbers and headers, never file names."""

from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
from tests.model.samples import gguf, onnx_start, safetensors, tar_gz, zipped, zstd_raw_frame

from ml_artifactory_action.model.byte_reader import ByteReader, Truncated
from ml_artifactory_action.model.formats import sniff
from ml_artifactory_action.model.hdf5_attrs import Hdf5Error, root_string_attributes
from ml_artifactory_action.model.npy import NpyError, read_header
from ml_artifactory_action.model.safety import scan_path


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x80\x04\x95", "pickle"),
        (b"\x80\x02}q\x00", "pickle"),
        (zipped({"a": b"x"}), "zip"),
        (b"\x93NUMPY\x01\x00", "npy"),
        (b"\x89HDF\r\n\x1a\n\x00", "hdf5"),
        (b"\x00" * 512 + b"\x89HDF\r\n\x1a\n\x00" + b"\x00" * 600, "hdf5"),
        (gguf(), "gguf"),
        (safetensors(), "safetensors"),
        (onnx_start(), "onnx"),
        (gzip.compress(b"x", mtime=0), "gzip"),  # a fixed mtime: the same test id in every xdist worker
        (b"BZh91AY&SY", "bz2"),
        (b"\xfd7zXZ\x00\x00", "xz"),
        (b"\x5d\x00\x00\x80\x00", "lzma"),
        (b"\x04\x22\x4d\x18\x64", "lz4"),
        (zstd_raw_frame(b"x"), "zstd"),
        (b"\x78\x9c\x03\x00", "zlib"),
        (b"ZF0x10               x\x9c", "joblib-zfile"),
        (tar_gz({"a": b"x"})[:4], "gzip"),  # its header up to the mtime: the same test id in every worker
        (b"# README\n\nhello\n", "text"),
        (b"\x00\x01\x02\xff", "data"),
        (b"", "data"),
        (b"\x08\x01\x00\x00", "data"),  # a protobuf-looking start that is not a ModelProto
    ],
)
def test_sniff(head: bytes, kind: str) -> None:
    assert sniff(head) == kind


def test_safetensors_whose_header_length_starts_like_a_pickle(tmp_path: Path) -> None:
    header = b"{" + b" " * 638 + b"}"  # 640 bytes: the length's first two bytes are 80 02
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header)

    report = scan_path(path)

    assert path.read_bytes()[:2] == b"\x80\x02"
    assert (report.format, report.safe) == ("safetensors", True)


def test_a_plain_tar_is_recognised_by_its_ustar_magic() -> None:
    with gzip.open(io.BytesIO(tar_gz({"a": b"x"}))) as unpacked:
        assert sniff(unpacked.read(4096)) == "tar"


def test_utf8_text_cut_inside_a_character_is_still_text() -> None:
    assert sniff("héllo wörld".encode()[:-1]) == "text"


def _npy(descr: object) -> ByteReader:
    header = repr({"descr": descr, "fortran_order": False, "shape": (1,)}).encode()
    return ByteReader(io.BytesIO(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header))


@pytest.mark.parametrize(
    ("descr", "has_objects"),
    [
        ("<f8", False),
        ("|b1", False),
        ("<U12", False),
        ("<M8[ns]", False),
        ("|O", True),
        ("object", True),
        ([("a", "<i4"), ("b", "<f8", (2,))], False),
        ([("a", "<i4"), ("b", "|O")], True),
        ([("a", [("x", "|O")])], True),
    ],
)
def test_npy_header_says_whether_a_pickle_follows(descr: object, has_objects: bool) -> None:
    assert read_header(_npy(descr)) is has_objects


def test_a_real_npy_header_is_read_to_its_end(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(3, dtype="<i8"))
    reader = ByteReader(io.BytesIO((tmp_path / "a.npy").read_bytes()))

    assert read_header(reader) is False
    assert reader.read(24) == np.arange(3, dtype="<i8").tobytes()


def test_a_npy_header_that_is_not_a_literal_is_refused() -> None:
    header = b"{'descr': __import__('os')}"
    with pytest.raises(NpyError, match="not a Python literal"):
        read_header(ByteReader(io.BytesIO(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)))


def test_hdf5_root_attributes_are_read_without_h5py(tmp_path: Path) -> None:
    path = tmp_path / "m.h5"
    config = json.dumps({"class_name": "Sequential"})
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = config.encode()
        h5.attrs["names"] = np.array([b"a", b"bc"])
        h5.attrs["epochs"] = 3
        h5.create_group("g").attrs["model_config"] = b"not the root"

    with path.open("rb") as file:
        attributes = root_string_attributes(file, 0)

    assert attributes == {"model_config": [config], "names": ["a", "bc"]}


def test_hdf5_model_config_that_is_not_a_string_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = np.arange(4)

    with path.open("rb") as file, pytest.raises(Hdf5Error, match="'model_config' attribute is not a string"):
        root_string_attributes(file, 0)


def test_reader_skips_over_long_lines_and_reports_truncation() -> None:
    reader = ByteReader(io.BytesIO(b"short\n" + b"x" * 100_000 + b"\nnext\nopen"))

    assert [reader.readline(64), reader.readline(64), reader.readline(64)] == [b"short", None, b"next"]
    with pytest.raises(Truncated):
        reader.readline(64)
