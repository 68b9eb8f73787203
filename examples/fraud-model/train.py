"""Train the example fraud model: logistic regression on synthetic transactions.

Writes, under --out (default `model/`):
  model.safetensors   the weights, in the safetensors format (a JSON header and raw little-endian
                      float32 values: nothing in it runs code when loaded), written with struct;
  config.json         feature names and the decision threshold;
and the test-set metrics to --metrics (default `metrics.json`).

Standard library plus PyYAML (for params.yaml); deterministic for a given seed; under a second.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import struct
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DECISION_THRESHOLD = 0.5
# The hidden rule the synthetic labels follow (what training should recover).
TRUE_WEIGHTS = (1.8, 0.9, 1.2, 1.5, 2.2)
TRUE_BIAS = -2.5
LABEL_NOISE = 0.04
SAFETENSORS_ALIGN = 8


@dataclass(frozen=True)
class Params:
    seed: int
    samples: int
    test_fraction: float
    epochs: int
    learning_rate: float
    features: list[str]


def load_params(path: Path) -> Params:
    with path.open(encoding="utf-8") as handle:
        return Params(**yaml.safe_load(handle))


def synthetic_transactions(params: Params) -> list[tuple[list[float], int]]:
    rng = random.Random(params.seed)  # noqa: S311  synthetic data, seeded to be reproducible; nothing secret
    rows = []
    for _ in range(params.samples):
        x = [rng.gauss(0, 1), float(rng.random() < 0.3), float(rng.random() < 0.2)]
        x += [float(rng.random() < 0.15), rng.expovariate(1.0)]
        score = TRUE_BIAS + sum(w * v for w, v in zip(TRUE_WEIGHTS, x, strict=True))
        label = int(score > 0) if rng.random() > LABEL_NOISE else int(score <= 0)
        rows.append((x, label))
    return rows


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def predict(weights: list[float], bias: float, x: list[float]) -> float:
    return sigmoid(bias + sum(w * v for w, v in zip(weights, x, strict=True)))


def fit(rows: list[tuple[list[float], int]], params: Params) -> tuple[list[float], float]:
    """Full-batch gradient descent on the log loss."""
    weights, bias = [0.0] * len(params.features), 0.0
    for _ in range(params.epochs):
        grad_w, grad_b = [0.0] * len(weights), 0.0
        for x, y in rows:
            error = predict(weights, bias, x) - y
            grad_w = [g + error * v for g, v in zip(grad_w, x, strict=True)]
            grad_b += error
        weights = [w - params.learning_rate * g / len(rows) for w, g in zip(weights, grad_w, strict=True)]
        bias -= params.learning_rate * grad_b / len(rows)
    return weights, bias


def evaluate(rows: list[tuple[list[float], int]], weights: list[float], bias: float) -> dict[str, float]:
    tp = fp = fn = tn = 0
    loss = 0.0
    for x, y in rows:
        p = min(max(predict(weights, bias, x), 1e-12), 1 - 1e-12)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        guess = int(p >= DECISION_THRESHOLD)
        tp, fp, fn, tn = tp + (guess and y), fp + (guess and not y), fn + (not guess and y), tn + (not guess and not y)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    metrics = {"accuracy": (tp + tn) / len(rows), "precision": precision, "recall": recall, "f1": f1}
    return {name: round(value, 4) for name, value in (metrics | {"loss": loss / len(rows)}).items()}


def write_safetensors(path: Path, tensors: dict[str, list[float]], metadata: dict[str, str]) -> None:
    """safetensors: u64 little-endian header size, a JSON header padded to 8 bytes, then the data."""
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for name, values in tensors.items():
        header[name] = {"dtype": "F32", "shape": [len(values)], "data_offsets": [offset, offset + 4 * len(values)]}
        offset += 4 * len(values)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % SAFETENSORS_ALIGN)
    with path.open("wb") as handle:
        handle.write(struct.pack("<Q", len(encoded)))
        handle.write(encoded)
        for values in tensors.values():
            handle.write(struct.pack(f"<{len(values)}f", *values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=HERE / "params.yaml")
    parser.add_argument("--out", type=Path, default=Path("model"))
    parser.add_argument("--metrics", type=Path, default=Path("metrics.json"))
    args = parser.parse_args(argv)
    params = load_params(args.params)
    rows = synthetic_transactions(params)
    split = int(len(rows) * (1 - params.test_fraction))
    weights, bias = fit(rows[:split], params)
    metrics = evaluate(rows[split:], weights, bias)
    args.out.mkdir(parents=True, exist_ok=True)
    write_safetensors(args.out / "model.safetensors", {"weights": weights, "bias": [bias]}, {"format": "np"})
    config = {"model_type": "logistic-regression", "features": params.features, "threshold": DECISION_THRESHOLD}
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(f"trained on {split} transactions, tested on {len(rows) - split}: {json.dumps(metrics)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
