"""The local hash cache: trusted only while the file is unchanged, kept across runs."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ml_artifactory_action.model import hash_cache
from ml_artifactory_action.model.hash_cache import CACHE_FILE, FileKey, HashCache

SHA = "a" * 64


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(b"weights")
    return path


def test_a_remembered_checksum_survives_a_new_process(tmp_path: Path, model: Path) -> None:
    cache = HashCache(tmp_path / "cache")
    cache.put(FileKey.of(model), SHA)
    cache.save()
    assert HashCache(tmp_path / "cache").get(FileKey.of(model)) == SHA


def test_the_key_is_the_real_path(tmp_path: Path, model: Path) -> None:
    link = tmp_path / "link.bin"
    link.symlink_to(model)
    assert FileKey.of(link) == FileKey.of(model)


def same_size_new_content(path: Path) -> None:
    path.write_bytes(b"weightz")


def longer(path: Path) -> None:
    path.write_bytes(b"more weights")


def mtime_set_back(path: Path) -> None:
    stat = path.stat()
    path.write_bytes(b"weightz")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # only ctime tells


def replaced_by_a_copy_with_the_same_times(path: Path) -> None:
    copy = path.with_name("copy")
    shutil.copy2(path, copy)
    copy.replace(path)


@pytest.mark.parametrize(
    "change", [same_size_new_content, longer, mtime_set_back, replaced_by_a_copy_with_the_same_times]
)
def test_any_change_to_the_file_misses(tmp_path: Path, model: Path, change: Callable[[Path], None]) -> None:
    cache = HashCache(tmp_path / "cache")
    cache.put(FileKey.of(model), SHA)
    before = FileKey.of(model)
    time.sleep(0.01)  # let the clock move, as it does between runs
    change(model)
    after = FileKey.of(model)
    assert after != before
    assert cache.get(after) is None


def test_without_a_folder_nothing_is_written(tmp_path: Path, model: Path) -> None:
    cache = HashCache(None)
    cache.put(FileKey.of(model), SHA)
    cache.save()
    assert cache.get(FileKey.of(model)) == SHA
    assert list(tmp_path.iterdir()) == [model]


@pytest.mark.parametrize(
    "content", ["{not json", '{"version": 99, "entries": {}}', "[]", '{"version": 1, "entries": 3}']
)
def test_a_damaged_cache_is_empty(tmp_path: Path, model: Path, content: str) -> None:
    (tmp_path / CACHE_FILE).write_text(content)
    cache = HashCache(tmp_path)
    assert cache.get(FileKey.of(model)) is None
    cache.put(FileKey.of(model), SHA)
    cache.save()
    assert json.loads((tmp_path / CACHE_FILE).read_text())["version"] == 1


def test_an_entry_with_a_bad_checksum_is_ignored(tmp_path: Path, model: Path) -> None:
    cache = HashCache(tmp_path)
    cache.put(FileKey.of(model), "short")
    assert cache.get(FileKey.of(model)) is None


def test_the_oldest_entries_are_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hash_cache, "MAX_ENTRIES", 2)
    cache = HashCache(tmp_path)
    keys = []
    for name in "abc":
        path = tmp_path / name
        path.write_text(name)
        keys.append(FileKey.of(path))
        cache.put(keys[-1], SHA)
    cache.save()
    reloaded = HashCache(tmp_path)
    assert [reloaded.get(k) for k in keys] == [None, SHA, SHA]
