"""Cost of signing and verifying a model with OpenSSF model signing, against hashing it once.

    .venv/bin/python benchmarks/bench_signing.py [--size-mib 2048] [--runs 3] [--work-dir /tmp]

One file of `size-mib` MiB (a model folder of one weights file plus a small config), warm in the
page cache. Alternating, `runs` times each, all in this process:
1. sha256 of the file once (hashlib, 1 MiB blocks): the floor, what any integrity check costs;
2. signing the folder as upload does (`provenance.signing.sign_files`, key signing: model_signing
   hashes every file, then signs the statement);
3. verifying it as resolve does (`verify_folder`: check the signature, hash every file again, compare).
Printed: median seconds of each, and the ratios to (1). Peak RSS of the process at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ml_artifactory_action.provenance.signing import SigningMethod, Trust, sign_files, verify_folder
from ml_artifactory_action.settings import SignMode

MIB = 1 << 20


def key_pair() -> tuple[str, str]:
    """A P-256 key, as `openssl ecparam -name prime256v1 -genkey` makes: (private PEM, public PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


def write_model(folder: Path, size_mib: int) -> list[tuple[Path, str]]:
    folder.mkdir(parents=True)
    weights = folder / "model.safetensors"
    block = os.urandom(MIB)
    with weights.open("wb") as handle:
        for index in range(size_mib):
            handle.write(index.to_bytes(8, "little") + block[8:])
    (folder / "config.json").write_text('{"architectures": ["Bench"]}')
    return [(weights, "model.safetensors"), (folder / "config.json", "config.json")]


def sha256_once(path: Path) -> None:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(MIB):
            digest.update(block)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work-dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-signing-", dir=args.work_dir))
    try:
        run(root, args.size_mib, args.runs)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(root: Path, size_mib: int, runs: int) -> None:
    private, public = key_pair()
    files = write_model(root / "model", size_mib)
    method = SigningMethod(SignMode.KEY, private_key_pem=private)
    sha, sign, verify = [], [], []
    sha256_once(files[0][0])  # warm the page cache
    for attempt in range(runs):
        work = root / f"sign-{attempt}"
        work.mkdir()
        sha.append(timed(lambda: sha256_once(files[0][0])))
        sign.append(timed(lambda w=work: sign_files(files, "bench", method, w)))  # type: ignore[misc]
        shutil.copyfile(work / "model.sig", root / "model" / "model.sig")
        verify.append(timed(lambda w=work: verify_folder(root / "model", Trust(public_key_pem=public), w)))  # type: ignore[misc]
    floor, best = statistics.median(sha), min(sha)
    print(f"model: {size_mib} MiB in 2 files; {runs} runs each (shared machine: min is the steadier figure)")
    print(f"  {'':<28} {'median':>8} {'min':>8}  ratio to sha256 (median, min)")
    print(f"  {'sha256 once (hashlib)':<28} {floor:7.2f}s {best:7.2f}s  1.00x 1.00x")
    for name, times in (("sign (model_signing, key)", sign), ("verify (model_signing, key)", verify)):
        median, low = statistics.median(times), min(times)
        print(f"  {name:<28} {median:7.2f}s {low:7.2f}s  {median / floor:.2f}x {low / best:.2f}x")
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
