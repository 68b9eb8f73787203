"""Ingest speed of the sandbox: one 2 GiB PUT on loopback, against nginx WebDAV in the same run.

    .venv/bin/python benchmarks/bench_sandbox_ingest.py [--size-mib 2048] [--runs 3]

The same client (curl -T, warm source file) uploads to nginx (`dav_methods PUT`, writes to disk,
no hashing, no fsync) and to the sandbox (hashes sha1+md5+sha256, fsyncs, records the item).
Prints each run, the medians, the ratio (target: sandbox >= 0.5 x nginx) and the sandbox's
peak RSS before and after the uploads (memory must stay flat). Temporary files are removed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from artifactory_sandbox.testing import SandboxProcess

BLOCK = 1024 * 1024
NGINX_CONF = """daemon off;
worker_processes 1;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  client_max_body_size 0;
  server {{
    listen 127.0.0.1:{port};
    location / {{ root {tmp}/root; dav_methods PUT DELETE; create_full_put_path on; }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_source(path: Path, size_mib: int) -> None:
    """A file of `size_mib` MiB (one random MiB repeated: cheap to write, same work to hash)."""
    block = os.urandom(BLOCK)
    with path.open("wb") as out:
        for _ in range(size_mib):
            out.write(block)


def curl_put(source: Path, url: str, headers: list[str]) -> float:
    """Seconds curl needed to PUT `source` (fails unless 2xx)."""
    args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-T", str(source)]
    for header in headers:
        args += ["-H", header]
    out = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout
    status, seconds = out.split()
    if not status.startswith("2"):
        raise RuntimeError(f"PUT {url} answered {status}")
    return float(seconds)


@contextmanager
def nginx(tmp: Path) -> Iterator[str]:
    port = free_port()
    (tmp / "root").mkdir(parents=True)
    (tmp / "body").mkdir()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
    proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp)])
    _wait_port(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_port(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


def sandbox_pid(process: SandboxProcess) -> int:
    if process.pid is None:
        raise RuntimeError("sandbox not running")
    return process.pid


def run_many(runs: int, upload: Callable[[int], float], size: int, label: str) -> float:
    rates = []
    for run in range(runs):
        seconds = upload(run)
        rates.append(size / seconds / 1e9)
        print(f"  {label} run {run + 1}: {seconds:6.2f} s  {rates[-1]:.3f} GB/s", flush=True)
    return statistics.median(rates)


def bench_nginx(tmp: Path, source: Path, runs: int) -> float:
    with nginx(tmp / "nginx") as url:

        def upload(run: int) -> float:
            seconds = curl_put(source, f"{url}/model-{run}.bin", [])
            (tmp / "nginx" / "root" / f"model-{run}.bin").unlink()
            return seconds

        return run_many(runs, upload, source.stat().st_size, "nginx  ")


def bench_sandbox(tmp: Path, source: Path, runs: int) -> tuple[float, float, float]:
    with SandboxProcess(tmp / "sandbox") as process:
        pid = sandbox_pid(process)
        before = peak_rss_mib(pid)
        auth = f"Authorization: Bearer {process.admin_token}"
        base = f"{process.url}/artifactory/ml-models-dev-local"

        def upload(run: int) -> float:
            seconds = curl_put(source, f"{base}/model-{run}.bin", [auth])
            _drop_binaries(tmp / "sandbox")  # each run writes a new file, as nginx does
            return seconds

        rate = run_many(runs, upload, source.stat().st_size, "sandbox")
        return rate, before, peak_rss_mib(pid)


def _drop_binaries(data_dir: Path) -> None:
    for path in (data_dir / "filestore").glob("[0-9a-f][0-9a-f]/*"):
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-", dir="/tmp"))
    try:
        source = tmp / "source.bin"
        make_source(source, args.size_mib)
        print(f"source: {args.size_mib} MiB at {source}")
        nginx_rate = bench_nginx(tmp, source, args.runs)
        sandbox_rate, rss_before, rss_after = bench_sandbox(tmp, source, args.runs)
        print(f"median nginx WebDAV PUT : {nginx_rate:.3f} GB/s")
        print(f"median sandbox PUT      : {sandbox_rate:.3f} GB/s")
        print(f"ratio sandbox / nginx   : {sandbox_rate / nginx_rate:.2f} (target >= 0.50)")
        print(f"sandbox peak RSS        : {rss_before:.1f} MiB at start, {rss_after:.1f} MiB after")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
