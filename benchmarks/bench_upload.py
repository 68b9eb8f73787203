"""Upload speed and memory: the `ml-artifactory upload` command against a sandbox process, beside curl.

    .venv/bin/python benchmarks/bench_upload.py [--size-mib 2048] [--big-mib 4096] [--runs 3]
                                                [--files 100] [--file-mib 10] [--work-dir /tmp]

Everything is measured in one run against one sandbox subprocess, with warm source files, and
printed as ratios (the machines are shared and noisy: compare only figures taken together):
1. New content, one file: `curl -T` and `ml-artifactory upload` alternate `runs` times; every upload
   is new content of a new size, so nothing can be deduplicated.  Goal: median ratio <= 1.25.
2. The same upload again (file unchanged, hash cache on).  Goal: first / again >= 20.
3. Peak RSS of the upload command (os.wait4), also for a `big-mib` file.  Goal: <= 150 MB.
4. `files` files of `file-mib` MiB, new content each time, max-workers 1 and 4 alternating.
   Goal: workers faster.
Model files are real safetensors files, so the safety scan does its real work on them.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from artifactory_sandbox.testing import SandboxProcess
from ml_artifactory_action.__main__ import main as run_action

MIB = 1 << 20
HEADER_LEN = 256  # safetensors header, padded with spaces (multiple of 8)
REPO = "ml-models-staging-local"
GOALS = {"vs curl": 1.25, "rerun speed-up": 20.0, "peak RSS MB": 150.0}
_sizes = itertools.count(1)


@dataclass(frozen=True)
class Timed:
    seconds: float
    peak_rss_mb: float
    output: str


def unique_size(base: int) -> int:
    """A size no earlier file of this run had: the server cannot hold content of that size."""
    return base + 8 * next(_sizes)


def write_safetensors(path: Path, size: int, tag: str) -> None:
    """A valid safetensors file of exactly `size` bytes; new bytes at its start for every `tag`.

    The first time the data is written in full; later calls rewrite the header and first block and
    truncate or extend the file, so the source stays in the page cache.
    """
    data_len = size - 8 - HEADER_LEN
    header = {
        "weight": {"dtype": "U8", "shape": [data_len], "data_offsets": [0, data_len]},
        "__metadata__": {"run": tag},
    }
    text = json.dumps(header).encode().ljust(HEADER_LEN)
    if not path.exists():
        block = os.urandom(MIB)
        with path.open("wb") as out:
            for _ in range(data_len // MIB + 1):
                out.write(block)
    with path.open("r+b") as out:
        out.write(HEADER_LEN.to_bytes(8, "little") + text + tag.encode().ljust(64, b"-"))
        out.truncate(size)


def run_command(command: Sequence[str], cwd: Path, env: dict[str, str]) -> Timed:
    """Run a command; its wall time and peak RSS (from the kernel's accounting of that child)."""
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    output = proc.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{command[:4]} failed ({proc.returncode}):\n{output[-3000:]}")
    return Timed(seconds, usage.ru_maxrss / 1024, output)


class Bench:
    def __init__(self, sandbox: SandboxProcess, work: Path) -> None:
        self.sandbox, self.work = sandbox, work
        self.workspace = work / "workspace"
        self.workspace.mkdir()
        self.cache = work / "hash-cache"
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(work),
            "JF_URL": sandbox.url,
            "JF_ACCESS_TOKEN": sandbox.admin_token,
        }

    def curl(self, source: Path, target: str) -> Timed:
        url = f"{self.sandbox.url}/artifactory/{REPO}/{target}"
        auth = f"Authorization: Bearer {self.sandbox.admin_token}"
        return run_command(
            ["curl", "-sS", "-f", "-o", "/dev/null", "-H", auth, "-T", str(source), url], self.work, self.env
        )

    def flags(self, model_path: str, version: str, workers: int = 4) -> dict[str, str]:
        return {"model-path": model_path, "model-name": "bench", "model-version": version, "repo": REPO,
                "max-workers": str(workers), "hash-cache-dir": str(self.cache), "stages": "upload"}  # fmt: skip

    def upload(self, model_path: str, version: str, workers: int = 4) -> Timed:
        flags = self.flags(model_path, version, workers)
        command = [sys.executable, "-m", "ml_artifactory_action.cli", "upload"]
        command += [f"--{name}={value}" for name, value in flags.items() if name != "stages"]
        return run_command(command, self.workspace, self.env)

    def upload_in_process(self, model_path: str, version: str) -> float:
        """The same upload in this process, imports already loaded: the stage's own time."""
        environ = self.env | {"GITHUB_WORKSPACE": str(self.workspace)}
        start = time.monotonic()
        code = run_action(environ, self.flags(model_path, version), stream=io.StringIO())
        if code != 0:
            raise SystemExit("the in-process upload failed")
        return time.monotonic() - start


def one_file(bench: Bench, size_mib: int, runs: int) -> dict[str, list[float]]:
    ours_path, curl_path = bench.workspace / "model.safetensors", bench.work / "curl.safetensors"
    figures: dict[str, list[float]] = {
        "curl s": [], "first s": [], "again s": [], "again in-process s": [], "rss first": [], "rss again": [],
    }  # fmt: skip
    for run in range(runs):
        order = ("curl", "ours") if run % 2 == 0 else ("ours", "curl")
        for who in order:
            if who == "curl":
                write_safetensors(curl_path, unique_size(size_mib * MIB), f"curl-{run}")
                figures["curl s"].append(bench.curl(curl_path, f"curl/{run}/model.safetensors").seconds)
                continue
            write_safetensors(ours_path, unique_size(size_mib * MIB), f"ours-{run}")
            first = bench.upload("model.safetensors", f"run-{run}")
            again = bench.upload("model.safetensors", f"run-{run}")
            assert "Output uploaded-bytes: 0" in again.output, again.output
            figures["first s"].append(first.seconds)
            figures["again s"].append(again.seconds)
            figures["again in-process s"].append(bench.upload_in_process("model.safetensors", f"run-{run}"))
            figures["rss first"].append(first.peak_rss_mb)
            figures["rss again"].append(again.peak_rss_mb)
        print(f"  run {run + 1}: curl {figures['curl s'][-1]:.2f} s, upload {figures['first s'][-1]:.2f} s, "
              f"again {figures['again s'][-1]:.3f} s (in-process {figures['again in-process s'][-1]:.3f} s), peak RSS {figures['rss first'][-1]:.0f} MB", flush=True)  # fmt: skip
    return figures


def big_file(bench: Bench, big_mib: int) -> Timed:
    path = bench.workspace / "big" / "model.safetensors"
    path.parent.mkdir()
    write_safetensors(path, unique_size(big_mib * MIB), "big")
    timed = bench.upload("big", "big")
    path.unlink()
    return timed


def many_files(bench: Bench, count: int, file_mib: int, runs: int) -> dict[int, list[float]]:
    times: dict[int, list[float]] = {1: [], 4: []}
    folder = bench.workspace / "shards"
    folder.mkdir()
    for run in range(runs):
        for workers in (1, 4) if run % 2 == 0 else (4, 1):
            for index in range(count):
                write_safetensors(
                    folder / f"shard-{index:03d}.safetensors", unique_size(file_mib * MIB), f"{run}-{workers}"
                )
            timed = bench.upload("shards", f"shards-{run}-w{workers}", workers=workers)
            times[workers].append(timed.seconds)
            print(f"  run {run + 1}, max-workers {workers}: {timed.seconds:.2f} s", flush=True)
    return times


def verdict(name: str, value: float, *, at_most: bool) -> str:
    goal = GOALS[name]
    met = value <= goal if at_most else value >= goal
    return f"{'ok  ' if met else 'MISS'} {name}: {value:.2f} (goal {'<=' if at_most else '>='} {goal:g})"


@dataclass(frozen=True)
class Options:
    size_mib: int
    big_mib: int
    runs: int
    files: int
    file_mib: int
    work_dir: Path


def parse(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--big-mib", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--file-mib", type=int, default=10)
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    return Options(args.size_mib, args.big_mib, args.runs, args.files, args.file_mib, args.work_dir)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-upload-", dir=options.work_dir))
    try:
        with SandboxProcess(work / "sandbox-data") as sandbox:
            bench = Bench(sandbox, work)
            print(f"One file of {options.size_mib} MiB, new content each time ({options.runs} runs):", flush=True)
            single = one_file(bench, options.size_mib, options.runs)
            print(f"One file of {options.big_mib} MiB:", flush=True)
            big = big_file(bench, options.big_mib)
            print(f"  upload {big.seconds:.2f} s, peak RSS {big.peak_rss_mb:.0f} MB", flush=True)
            print(f"{options.files} files of {options.file_mib} MiB:", flush=True)
            shards = many_files(bench, options.files, options.file_mib, options.runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    median = statistics.median
    curl, first, again = median(single["curl s"]), median(single["first s"]), median(single["again s"])
    again_stage = median(single["again in-process s"])
    rss = max([*single["rss first"], *single["rss again"], big.peak_rss_mb])
    rate = options.size_mib / 1024 / first
    print("\nResults (medians):")
    print(f"  curl -T {curl:.2f} s; upload {first:.2f} s ({rate:.2f} GiB/s); again {again:.3f} s "
          f"(the command) / {again_stage:.3f} s (in-process, no interpreter start)")  # fmt: skip
    print("  " + verdict("vs curl", first / curl, at_most=True))
    print("  " + verdict("rerun speed-up", first / again, at_most=False) + " (whole command)")
    print(f"       in-process re-run: {first / again_stage:.1f}x")
    print("  " + verdict("peak RSS MB", rss, at_most=True))
    one, four = median(shards[1]), median(shards[4])
    print(
        f"  {'ok  ' if four < one else 'MISS'} many files: max-workers 4 {four:.2f} s vs 1 {one:.2f} s ({one / four:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
