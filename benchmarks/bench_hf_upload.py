"""Upload to a Hugging Face repository: `ml-artifactory upload` through the Hugging Face protocol, beside curl.

    .venv/bin/python benchmarks/bench_hf_upload.py [--size-mib 1024] [--runs 3] [--work-dir /tmp]

One sandbox subprocess, a `huggingfaceml` repository, one safetensors file of new content per run:
1. `curl -T` to a generic repository and `ml-artifactory upload` to the Hugging Face one alternate;
   the upload is preupload, LFS batch, the PUT to the signed URL, commit, the AQL look-up of the
   stored revision and its properties. The LFS batch wants the sha256 before any byte is sent, so
   the file is read twice (hash, then send), as huggingface_hub does.  Goal: median ratio <= 2.5.
2. The same file as a new revision: the LFS batch says the server has it, nothing is sent.
   Goal: first / again >= 3 (the command's start-up and five small requests remain).
3. Peak RSS of the upload command (os.wait4).  Goal: <= 150 MB (the file is streamed).
Figures are ratios from one run (the machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from benchmarks.bench_upload import MIB, Bench, Timed, run_command, unique_size, write_safetensors

from artifactory_sandbox.testing import SandboxProcess

HF_REPO = "hf-bench-local"
GOALS = {"vs curl": 2.5, "rerun speed-up": 3.0, "peak RSS MB": 150.0}


class HfBench(Bench):
    def hf_upload(self, version: str) -> Timed:
        command = [sys.executable, "-m", "ml_artifactory_action.cli", "upload", "--model-path=model.safetensors"]
        command += [f"--repo={HF_REPO}", "--model-name=bench/model", f"--model-version={version}"]
        command += [f"--hash-cache-dir={self.cache}"]
        return run_command(command, self.workspace, self.env)


def verdict(name: str, value: float, *, at_most: bool) -> str:
    goal = GOALS[name]
    met = value <= goal if at_most else value >= goal
    return f"{'ok  ' if met else 'MISS'} {name}: {value:.2f} (goal {'<=' if at_most else '>='} {goal:g})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-hf-upload-", dir=args.work_dir))
    figures: dict[str, list[float]] = {"curl": [], "first": [], "again": [], "rss": []}
    try:
        with SandboxProcess(work / "sandbox-data") as sandbox:
            body = {"rclass": "local", "packageType": "huggingfaceml"}
            headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
            httpx.put(f"{sandbox.url}/artifactory/api/repositories/{HF_REPO}", json=body, headers=headers)
            bench = HfBench(sandbox, work)
            source, curl_source = bench.workspace / "model.safetensors", work / "curl.safetensors"
            for run in range(args.runs):
                write_safetensors(curl_source, unique_size(args.size_mib * MIB), f"curl-{run}")
                figures["curl"].append(bench.curl(curl_source, f"curl/{run}/model.safetensors").seconds)
                write_safetensors(source, unique_size(args.size_mib * MIB), f"hf-{run}")
                first = bench.hf_upload(f"run-{run}")
                again = bench.hf_upload(f"run-{run}-again")
                assert "Output uploaded-bytes: 0" in again.output, again.output[-2000:]
                figures["first"].append(first.seconds)
                figures["again"].append(again.seconds)
                figures["rss"] += [first.peak_rss_mb, again.peak_rss_mb]
                print(f"  run {run + 1}: curl {figures['curl'][-1]:.2f} s, hf upload {first.seconds:.2f} s, "
                      f"again {again.seconds:.2f} s, peak RSS {first.peak_rss_mb:.0f} MB", flush=True)  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    curl, first, again = (statistics.median(figures[k]) for k in ("curl", "first", "again"))
    print(f"\nResults (medians of {args.runs}, {args.size_mib} MiB):")
    print("  " + verdict("vs curl", first / curl, at_most=True))
    print("  " + verdict("rerun speed-up", first / again, at_most=False))
    print("  " + verdict("peak RSS MB", max(figures["rss"]), at_most=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
