"""Bytes that only look compressed, or hold an EXT opcode, are not refused; real payloads still are.

Random content (a test's fake weights, tensor bytes) starts with a zlib header about one time in
900 and reaches an EXT opcode one time in a few thousand: both refused it as unreadable, at random.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from tests.model.samples import system_call

from ml_artifactory_action.model.safety import scan_path
from ml_artifactory_action.model.stillborn import stillborn

# 0x78 0xBB: a valid zlib header check with FDICT set (a preset dictionary no loader has).
NEEDS_DICTIONARY = b"\x78\xbb" + bytes(range(200))
# 0x78 0x9C then an invalid deflate block type (0b11).
BAD_BLOCK = b"\x78\x9c\x07" + bytes(200)


def _load_in_child(path: Path) -> str:
    """What joblib.load / pickle.load make of the file, in a child process (the error's type)."""
    code = (
        "import sys, joblib\n"
        "try:\n    joblib.load(sys.argv[1])\nexcept Exception as e:\n    print(type(e).__name__)\nelse:\n    print('loaded')"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.parametrize("content", [NEEDS_DICTIONARY, BAD_BLOCK], ids=["fdict", "bad-block"])
def test_a_zlib_header_whose_stream_yields_nothing_is_plain_data(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(content)

    assert stillborn("zlib", io.BytesIO(content))
    assert _load_in_child(path) != "loaded"  # joblib itself gets nothing out of it
    report = scan_path(path)
    assert report.safe, report.findings


def test_a_zlib_stream_with_a_payload_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(zlib.compress(system_call()))

    assert not stillborn("zlib", io.BytesIO(path.read_bytes()))
    report = scan_path(path)
    assert not report.safe
    assert any("system" in f.global_name for f in report.findings)


def test_a_damaged_zlib_stream_after_its_first_bytes_is_still_unreadable(tmp_path: Path) -> None:
    whole = zlib.compress(pickle.dumps(list(range(50_000))))
    path = tmp_path / "model.joblib"
    path.write_bytes(whole[: len(whole) // 2] + b"\xff" * 64 + whole[len(whole) // 2 :])

    report = scan_path(path)
    assert not report.safe
    assert [f.severity for f in report.findings] == ["unreadable"]


def test_an_ext_opcode_in_bytes_of_no_known_format_ends_the_reading(tmp_path: Path) -> None:
    # Random bytes (seed 2197) that were refused: NEWOBJ_EX, EXT1 41, then no opcode. pickle.load
    # stops at once (NEWOBJ_EX on an empty stack); had it gone on, EXT1 would stop it.
    content = bytes.fromhex("928229a5b2bb23164826900403b3895d6b5a9b5b939d3ffa47466e22caff1b59")
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(pickle.UnpicklingError):
        pickle.loads(content)  # noqa: S301  our own bytes: showing where the real unpickler stops
    with pytest.raises(ValueError, match="unregistered extension code"):
        pickle.loads(b"\x88\x82\x29.")  # noqa: S301  our own bytes

    assert scan_path(path).safe


def test_an_ext_opcode_in_a_pickle_is_still_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x04\x82\x07.")  # PROTO 4, EXT1 7, STOP: the loader's registry decides

    report = scan_path(path)
    assert not report.safe
    assert [f.severity for f in report.findings] == ["unreadable"]
