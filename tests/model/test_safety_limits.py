"""The scan fails closed on caps, missing codecs and unreadable content, and reads headers only."""

from __future__ import annotations

import gzip
import io
import lzma
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.model.samples import MALICIOUS, P0_SYSTEM, PROTO2, STOP, Sample, gguf, onnx_start, safetensors, system_call

from ml_artifactory_action.model import limits, pickle_vm
from ml_artifactory_action.model.byte_reader import ByteReader
from ml_artifactory_action.model.containers import decompressed
from ml_artifactory_action.model.limits import MAX_DEPTH, Budget, LimitExceeded
from ml_artifactory_action.model.pickle_args import Large
from ml_artifactory_action.model.pickle_walk import walk_stream
from ml_artifactory_action.model.safety import scan_path


def test_a_pickle_over_the_opcode_cap_is_unreadable() -> None:
    data = PROTO2 + b"N0" * 600 + b"N" + STOP

    walk = walk_stream(ByteReader(io.BytesIO(data)), max_ops=1000)

    assert not walk.complete
    assert walk.limit is not None
    assert walk.limit.startswith("it has more than 1,000 opcodes in one pickle (the scanner's MAX_PICKLE_OPS limit;")


def test_a_pickle_without_header_over_the_opcode_cap_is_refused_not_taken_for_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "MAX_PICKLE_OPS", 1000)
    path = tmp_path / "model.pkl"
    path.write_bytes(b"N0" * 600 + P0_SYSTEM + STOP)  # protocol 0: no header, 1,200 opcodes before the import

    report = scan_path(path)

    assert not report.safe
    assert report.error is not None
    assert "more than 1,000 opcodes in one pickle (the scanner's MAX_PICKLE_OPS limit;" in report.error
    assert "allow-unsafe-pickle" in report.error


def test_archives_nested_past_the_depth_limit_are_refused_naming_it(tmp_path: Path) -> None:
    data = PROTO2 + STOP
    for _ in range(MAX_DEPTH + 2):
        data = gzip.compress(data)
    path = tmp_path / "model.pkl.gz"
    path.write_bytes(data)

    report = scan_path(path)

    assert not report.safe
    assert report.error is not None
    assert f"archives are nested more than {MAX_DEPTH} deep (the scanner's MAX_DEPTH limit;" in report.error


def test_a_joblib_file_past_the_models_budget_is_refused_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pickle_vm, "MAX_KEPT", 10_000)
    path = tmp_path / "model.joblib"
    joblib.dump({"names": [f"feature {i}" * 40 for i in range(500)], "weights": np.zeros(8)}, path)

    report = scan_path(path)

    assert not report.safe
    assert report.error is not None
    assert "its objects take more than 0 MiB to model" in report.error
    assert "(the scanner's MAX_KEPT limit;" in report.error


def test_decompression_stops_at_the_budget() -> None:
    stream = decompressed("gzip", io.BytesIO(gzip.compress(b"\x00" * 100_000)), Budget(expanded=50_000))

    with pytest.raises(LimitExceeded, match="expands to more than"):
        stream.read()


def test_lz4_without_its_library_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.joblib"
    joblib.dump({"a": [1, 2]}, path, compress=("lz4", 3))
    monkeypatch.setitem(sys.modules, "lz4.frame", None)  # what an image without lz4 sees

    report = scan_path(path)

    assert not report.safe
    assert [f.global_name for f in report.findings] == ["<unreadable>"]
    assert report.error is not None
    assert "lz4-compressed, and the lz4.frame library to read it is not installed" in report.error


def test_big_literals_are_skipped_not_kept() -> None:
    big = b"\x8e" + (10_000_000).to_bytes(8, "little") + b"\x00" * 10_000_000
    data = PROTO2 + system_call() + b"0" + big + STOP

    walk = walk_stream(ByteReader.for_file(io.BytesIO(data)))

    assert walk.complete
    assert [g.dotted for g in walk.globals] == ["os.system"]
    assert walk.vm.result == Large(10_000_000)  # only its size was kept


def _bytes_read() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.parametrize(("head", "kind"), [(safetensors(64), "safetensors"), (onnx_start(), "onnx"), (gguf(), "gguf")])
def test_code_free_formats_are_read_by_their_header_only(head: bytes, kind: str, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as file:
        file.write(head)
        file.truncate(4 * 1024**3)  # a sparse 4 GiB file: reading it whole would show in rchar

    before = _bytes_read()
    report = scan_path(path)
    read = _bytes_read() - before

    assert (report.format, report.safe) == (kind, True)
    assert read < 1024 * 1024


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_never_crash_the_scan(data: bytes) -> None:
    path = Path(f"/tmp/hypothesis-scan-{id(data)}.bin")
    try:
        path.write_bytes(data)
        report = scan_path(path)
    finally:
        path.unlink(missing_ok=True)
    assert report.safe == (not report.findings)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(MALICIOUS[:40]), st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_damaged_malicious_pickles_never_crash_the_scan(sample: Sample, where: int, value: int) -> None:
    folder = Path(f"/tmp/hypothesis-damaged-{where}-{value}")
    folder.mkdir(exist_ok=True)
    try:
        path = sample.make(folder)
        data = bytearray(path.read_bytes())
        if data:
            data[where % len(data)] = value
        path.write_bytes(bytes(data))
        report = scan_path(path)
    finally:
        for item in folder.iterdir():
            item.unlink()
        folder.rmdir()
    assert report.safe == (not report.findings)


def test_a_zip_whose_damaged_header_makes_zipfile_raise_index_error_is_refused(tmp_path: Path) -> None:
    sample = next(s for s in MALICIOUS if s.name == "torch zip pickle in a tensor member")
    path = sample.make(tmp_path)
    data = bytearray(path.read_bytes())
    data[43_016_303_443_912_957_952 % len(data)] = 0  # found by the damage test at 1,500 examples
    path.write_bytes(bytes(data))

    report = scan_path(path)

    assert not report.safe
    assert report.error is not None
    assert "IndexError" in report.error


def test_an_lzma_stream_asking_for_a_huge_dictionary_is_refused_naming_the_limit(tmp_path: Path) -> None:
    data = bytearray(lzma.compress(PROTO2 + STOP, format=lzma.FORMAT_ALONE))
    data[1:5] = (1024**3).to_bytes(4, "little")  # the header's dictionary size: a decoder allocates it
    path = tmp_path / "model.lzma"
    path.write_bytes(bytes(data))

    report = scan_path(path)

    assert not report.safe
    assert report.error is not None
    assert "needs more than 128 MiB to decompress (the scanner's MAX_LZMA_MEMORY limit;" in report.error
