"""Where pickletools stops, does the unpickler stop too? (`xray_pickle_stops`, through `scan_stored`).

Each file is one opcode pickletools cannot read, then a payload (os.mkdir of a canary). The sandbox
Xray passes the file only when it can tell both unpicklers raise at that opcode, having imported
nothing; a child process loads every file with the C and the Python unpickler and shows that no
file that passed made its canary, and that the ones refused for an INT or LONG the unpicklers read
with base 0 did.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from artifactory_sandbox.xray_models import ModelScanError, scan_stored

STOPS = {  # what pickletools cannot read -> whether both unpicklers surely raise there too
    "a byte that is no opcode": (b"\xff", True),
    "an INT neither unpickler reads": (b"Iabc\n", True),
    "a FLOAT neither reads": (b"F1.0x\n", True),
    "a STRING without quotes": (b"Sabc\n", True),
    "a PUT key neither reads": (b"Npabc\n", True),
    "a GLOBAL that is no UTF-8": (b"c\xff\xfe\nx\n", True),
    "an INT both read with base 0": (b"I0x1\n", False),
    "a LONG both read with base 0": (b"L0x1L\n", False),
    "a GLOBAL of UTF-8 beyond ASCII": (b"c\xc3\xa9\nx\n", False),
}

LOADER = """
import pickle, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1]).iterdir()):
    for load in (pickle.loads, pickle._loads):
        try:
            load(path.read_bytes())
        except Exception:
            pass
"""


def payload(canary: Path) -> bytes:
    return f"cos\nmkdir\n(V{canary}\ntR.".encode()


def test_a_stream_passes_only_where_both_unpicklers_surely_stop(tmp_path: Path) -> None:
    folder, canaries = tmp_path / "files", tmp_path / "canaries"
    folder.mkdir()
    canaries.mkdir()
    verdicts = {}
    for index, (name, (stop, _)) in enumerate(STOPS.items()):
        blob = folder / f"{index:02d}"
        blob.write_bytes(stop + payload(canaries / f"{index:02d}"))
        try:
            verdicts[name] = "passed" if scan_stored(blob, "model.pkl").findings == () else "flagged"
        except ModelScanError as err:
            verdicts[name] = str(err).rpartition("), ")[2]
    assert verdicts == {
        name: "passed" if surely else "which an unpickler may read" for name, (_, surely) in STOPS.items()
    }

    done = subprocess.run([sys.executable, "-c", LOADER, str(folder)], capture_output=True, text=True, timeout=60,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    ran = {list(STOPS)[int(p.name)] for p in canaries.iterdir()}
    assert ran == {"an INT both read with base 0", "a LONG both read with base 0"}


@pytest.mark.parametrize(
    "data",
    [b"plain tensors", b"plain\nmore", b"\x08\x01\x12\x04test" * 20, b"\x82\x01\x85."],
    ids=["text", "text with a newline", "protobuf", "an extension code (none registered)"],
)
def test_content_that_is_no_pickle_passes(tmp_path: Path, data: bytes) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    assert scan_stored(blob, "model.pkl").findings == ()
