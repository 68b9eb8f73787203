"""Where the sandbox Xray finds a file's pickles (`xray_pickle_streams`), through `scan_stored`."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import pytest

from artifactory_sandbox.xray_models import ModelScanError, scan_stored


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def scan(tmp_path: Path, name: str, data: bytes) -> set[str]:
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    return {f.global_name for f in scan_stored(blob, name).findings}


def test_a_pickle_in_a_zip_in_a_zip_is_found(tmp_path: Path) -> None:
    torch_zip = zipped({"archive/data.pkl": pickle.dumps({"hook": os.system}, 2)})
    assert scan(tmp_path, "model.zip", zipped({"nested/model.pkl": torch_zip})) == {"posix.system"}


def test_zips_nested_too_deep_are_a_scan_error(tmp_path: Path) -> None:
    data = pickle.dumps({"weights": [1.0]}, 4)
    for _ in range(5):
        data = zipped({"model.pkl": data})
    with pytest.raises(ModelScanError, match=r"^cannot read model\.zip to its end: zips nested more than 4 deep"):
        scan(tmp_path, "model.zip", data)


def test_a_member_zipfile_cannot_read_is_a_scan_error(tmp_path: Path) -> None:
    plain = pickle.dumps({"weights": [1.0, 2.0]}, 2)
    data = bytearray(zipped({"archive/data.pkl": plain}))
    at = data.index(plain)
    data[at + len(plain) - 2] ^= 0xFF  # stored bytes that no longer match the CRC
    with pytest.raises(ModelScanError, match=r"a member of the archive cannot be read: Bad CRC-32"):
        scan(tmp_path, "pytorch_model.bin", bytes(data))


HEAVY = Path(__file__).resolve().parents[1] / "data" / "heavy"


def test_bytes_after_a_pickle_where_the_unpickler_surely_stops_end_its_pickles(tmp_path: Path) -> None:
    """torch's legacy format saved as model.pkl: its storages' bytes follow the pickles."""
    legacy = (HEAVY / "torch" / "state_dict_legacy.pt").read_bytes()
    assert scan(tmp_path, "model.pkl", legacy) == set()
    assert scan(tmp_path, "model.pkl", pickle.dumps({"weights": [1.0]}, 4) + b"\x00" * 64) == set()
    truncated = pickle.dumps({"zone": zipfile.ZipInfo, "weights": [1.0, 2.0]}, 4)[:-4]  # breaks off after an import
    with pytest.raises(
        ModelScanError, match=r"^cannot read model\.pkl to its end: the pickle breaks off: the file ends"
    ):
        scan(tmp_path, "model.pkl", truncated)
