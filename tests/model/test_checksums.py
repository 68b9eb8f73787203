"""Hashing in blocks, and hashing while sending."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ml_artifactory_action.model.checksums import BLOCK_SIZE, FileChangedError, HashingReader, read_blocks, sha256_file

DATA = bytes(range(256)) * (BLOCK_SIZE // 256 * 2 + 3)  # two blocks and a bit


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(DATA)
    return path


def test_blocks_are_at_most_block_size_and_cover_the_file(model: Path) -> None:
    blocks = list(read_blocks(model))
    assert [len(b) for b in blocks] == [BLOCK_SIZE, BLOCK_SIZE, len(DATA) - 2 * BLOCK_SIZE]
    assert b"".join(blocks) == DATA


def test_sha256_file_matches_hashlib_and_reports_each_block(model: Path) -> None:
    seen: list[int] = []
    assert sha256_file(model, seen.append) == hashlib.sha256(DATA).hexdigest()
    assert sum(seen) == len(DATA)


def test_an_empty_file_hashes(tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_hashing_reader_hashes_what_it_yields(model: Path) -> None:
    reader = HashingReader(model, len(DATA))
    assert b"".join(reader) == DATA
    assert reader.sha256 == hashlib.sha256(DATA).hexdigest()


def test_hashing_reader_starts_again_on_each_pass(model: Path) -> None:
    reader = HashingReader(model, len(DATA))
    first = iter(reader)
    next(first)  # a failed attempt read one block
    assert b"".join(reader) == DATA
    assert reader.sha256 == hashlib.sha256(DATA).hexdigest()


def test_hashing_reader_has_no_digest_before_its_end(model: Path) -> None:
    reader = HashingReader(model, len(DATA))
    next(iter(reader))
    with pytest.raises(RuntimeError, match="has not been read to its end"):
        _ = reader.sha256


def test_hashing_reader_stops_at_the_planned_size(model: Path) -> None:
    reader = HashingReader(model, 10)
    assert b"".join(reader) == DATA[:10]


def test_hashing_reader_refuses_a_file_that_became_shorter(model: Path) -> None:
    reader = HashingReader(model, len(DATA) + 1)
    with pytest.raises(FileChangedError, match="became shorter than"):
        b"".join(reader)
