"""Load the example model (as resolved from production) and score a few transactions.

    python predict.py MODEL_DIR

Reads model.safetensors with the standard library only: the header is JSON and the tensors are raw
little-endian float32, so loading it runs no code from the file.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from pathlib import Path

HEADER_SIZE_BYTES = 8
MAX_HEADER_BYTES = 1 << 20  # a header larger than this is not one train.py wrote
SAMPLES = {
    "small daytime purchase": [-0.4, 0.0, 0.0, 0.0, 0.2],
    "large night purchase, new merchant, foreign card": [2.1, 1.0, 1.0, 1.0, 1.5],
}


def read_safetensors(path: Path) -> dict[str, list[float]]:
    with path.open("rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(HEADER_SIZE_BYTES))
        if size > MAX_HEADER_BYTES:
            raise ValueError(f"{path}: header of {size} bytes is not plausible")
        header = json.loads(handle.read(size))
        data = handle.read()
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        if meta["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {meta['dtype']}, expected F32")
        start, end = meta["data_offsets"]
        tensors[name] = list(struct.unpack(f"<{(end - start) // 4}f", data[start:end]))
    return tensors


def main(argv: list[str]) -> int:
    model_dir = Path(argv[0]) if argv else Path("model")
    files = sorted(model_dir.rglob("model.safetensors"))
    if not files:
        print(f"no model.safetensors under {model_dir}", file=sys.stderr)
        return 1
    tensors = read_safetensors(files[0])
    config = json.loads((files[0].parent / "config.json").read_text(encoding="utf-8"))
    for label, x in SAMPLES.items():
        z = tensors["bias"][0] + sum(w * v for w, v in zip(tensors["weights"], x, strict=True))
        p = 1 / (1 + math.exp(-z))
        verdict = "fraud" if p >= config["threshold"] else "ok"
        print(f"{label}: p(fraud)={p:.3f} -> {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
