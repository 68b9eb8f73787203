"""Unsafe-model scanner: detection on the generated samples, throughput, peak memory.

Run: .venv/bin/python benchmarks/bench_scanner.py [--quick]
Detection is compared with picklescan alone (`scan_file_path`, counting a file caught when it
reports a dangerous global or a scan error). Each throughput case runs in a fresh process so
its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.model.samples import BENIGN, MALICIOUS, Sample, safetensors  # noqa: E402  after the path set-up

from ml_artifactory_action.model.safety import scan_path  # noqa: E402  after the path set-up

MIB = 1024 * 1024


def _picklescan_flags(path: Path) -> bool:
    from picklescan.scanner import scan_file_path  # noqa: PLC0415  only the comparison needs it

    try:
        result = scan_file_path(str(path))
    except Exception:  # picklescan raising counts as refusing the file
        return True
    return result.infected_files > 0 or result.scan_err


def detection(folder: Path) -> None:
    def made(samples: list[Sample], kind: str) -> list[Path]:
        paths = []
        for index, sample in enumerate(samples):
            (folder / f"{kind}{index}").mkdir()
            paths.append(sample.make(folder / f"{kind}{index}"))
        return paths

    bad, good = made(MALICIOUS, "m"), made(BENIGN, "b")
    ours_caught = sum(not scan_path(path).safe for path in bad)
    ours_passed = sum(scan_path(path).safe for path in good)
    theirs_caught = sum(_picklescan_flags(path) for path in bad)
    theirs_passed = sum(not _picklescan_flags(path) for path in good)
    print(f"detection  ours:       malicious caught {ours_caught}/{len(bad)}, benign passed {ours_passed}/{len(good)}")
    print(
        f"detection  picklescan: malicious caught {theirs_caught}/{len(bad)}, benign passed {theirs_passed}/{len(good)}"
    )
    missed = [s.name for s, path in zip(MALICIOUS, bad, strict=True) if not _picklescan_flags(path)]
    print(f"           picklescan alone misses: {', '.join(missed)}")


# Runs in a fresh interpreter that imports only the scanner (~22 MiB), so its peak RSS is the scan's own.
_CHILD = """
import json, sys, time
from pathlib import Path
from ml_artifactory_action.model.safety import scan_path
start = time.perf_counter()
report = scan_path(Path(sys.argv[1]))
seconds = time.perf_counter() - start
# VmHWM, not ru_maxrss: the latter keeps the forking parent's high-water mark across exec.
status = Path("/proc/self/status").read_text().splitlines()
peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) * 1024
print(json.dumps([seconds, peak, report.format, report.safe]))
"""


def throughput(label: str, path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True)
    seconds, peak, kind, safe = json.loads(done.stdout)
    size = path.stat().st_size
    print(
        f"{label:<48} {size / 1e6:8.1f} MB  {seconds:7.3f} s  {size / 1e6 / max(seconds, 1e-9):9.1f} MB/s  "
        f"peak RSS {peak / 1e6:6.1f} MB  ({kind}, safe={safe})"
    )


def _write(path: Path, produce: Callable[[Path], None]) -> Path:
    produce(path)
    return path


def _torch_zip(path: Path, tensors: int, tensor_bytes: int) -> None:
    """torch.save's zip layout (archive/data.pkl, one stored member per storage), written without torch."""
    block = np.random.default_rng(0).bytes(tensor_bytes)
    entries = OrderedDict((f"layer{i}.weight", i) for i in range(tensors))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(entries, 2))
        archive.writestr("archive/version", "3\n")
        for index in range(tensors):
            archive.writestr(f"archive/data/{index}", block)


def _big_safetensors(path: Path, size: int) -> None:
    with path.open("wb") as file:
        file.write(safetensors(64))
        block = np.random.default_rng(0).bytes(MIB)
        for _ in range(size // MIB):
            file.write(block)


def _tuple_tree(path: Path, count: int) -> None:
    """A protocol-2 stream of 3-tuples each holding the one before: every tuple stays reachable."""
    with path.open("wb") as file:
        file.write(b"\x80\x02" + b"cbuiltins\nlist\n" + b"N")
        for index in range(count):
            file.write(b"K\x01K\x02\x87" if index == 0 else b"K\x01\x86")  # (1, 2, None), then (prev, 1)
        file.write(b"\x85R.")  # list((tree,)): one import, one call


def cases(folder: Path, quick: bool) -> list[tuple[str, str, Path]]:
    """(kind, label, file): "ops" opcode-dense pickles, "memory" built to exhaust a naive model, "tensors"."""
    scale = 8 if quick else 1
    arrays = {f"layer{i}": np.random.default_rng(i).normal(size=(1024, 1024)) for i in range(128 // scale)}
    # Each holds one import, so the scan is asked about it (a pickle without imports is simpler).
    floats = [OrderedDict(), *(float(i) for i in range(2_000_000 // scale))]
    nones = [OrderedDict(), *([None] * (5_000_000 // scale))]
    ints = [OrderedDict(), *range(3_000_000 // scale)]
    strings = [OrderedDict(), *(f"token{i}" for i in range(1_000_000 // scale))]
    pairs = [OrderedDict(), *((i, float(i)) for i in range(500_000 // scale))]
    dicts = [OrderedDict(), *({f"k{i}": i for i in range(1024)} for _ in range(5_000 // scale))]
    long_strings = [OrderedDict(), *(f"{i:08d}" * 512 for i in range(60_000 // scale))]

    def joblib_arrays(path: Path) -> None:
        import joblib  # noqa: PLC0415  a dev dependency, only to write the file

        joblib.dump(arrays, path)

    def dumped(name: str, obj: object, protocol: int = 4) -> Path:
        return _write(folder / name, lambda p: p.write_bytes(pickle.dumps(obj, protocol)))

    return [
        ("ops", "pickle of 2M floats", dumped("floats.pkl", floats)),
        ("ops", "pickle of 2M floats, protocol 2", dumped("floats2.pkl", floats, 2)),
        ("ops", "pickle of 3M ints", dumped("ints.pkl", ints)),
        ("ops", "pickle of 5M Nones", dumped("nones.pkl", nones)),
        ("ops", "pickle of 1M short strings", dumped("strings.pkl", strings)),
        ("ops", "pickle of 500k (int, float) tuples", dumped("pairs.pkl", pairs)),
        ("memory", "60k distinct 4 KiB strings, memoized", dumped("long_strings.pkl", long_strings)),
        ("memory", "5k dicts of 1,024 str -> int, all reachable", dumped("dicts.pkl", dicts)),
        ("memory", "the same, protocol 2 (BINUNICODE, LONG_BINPUT)", dumped("dicts2.pkl", dicts, 2)),
        (
            "memory",
            "1M nested 3-tuples, all reachable",
            _write(folder / "tree.pkl", lambda p: _tuple_tree(p, 1_000_000 // scale)),
        ),
        ("tensors", "pickle of numpy arrays (protocol 4)", dumped("arrays.pkl", arrays)),
        ("tensors", "joblib of numpy arrays", _write(folder / "arrays.joblib", joblib_arrays)),
        (
            "tensors",
            "torch-style zip, 256 x 4 MiB",
            _write(folder / "model.pt", lambda p: _torch_zip(p, 256 // scale, 4 * MIB)),
        ),
        (
            "tensors",
            "safetensors-like file",
            _write(folder / "big.safetensors", lambda p: _big_safetensors(p, MIB * 1024 // scale)),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller files, for a smoke run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        detection(folder)
        print(f"{'case':<48} {'size':>8}      {'time':>7}    {'rate':>9}        {'peak RSS':>12}")
        for _, label, path in cases(folder, args.quick):
            throughput(label, path)
            path.unlink()


if __name__ == "__main__":
    main()
