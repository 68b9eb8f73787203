"""Regenerate tests/data/heavy/: small files saved by PyTorch, transformers and accelerate themselves.

These libraries weigh gigabytes, so the tests scan files committed here instead of building a
virtualenv each run; versions.json records what made them. To regenerate with newer versions, in
a virtualenv outside the repository or in the gitignored .venv-heavy/:

    python3 -m venv .venv-heavy
    .venv-heavy/bin/pip install torch==2.13.0 transformers==5.23.0 accelerate==1.15.0
    .venv-heavy/bin/python scripts/gen_heavy_artefacts.py

(`torch==2.13.0` takes the CPU wheel this machine keeps on disk; plain `torch` pulls CUDA.) The
script never imports the action and never downloads a model: everything is built from a config.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import accelerate
import numpy as np
import torch
import transformers
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "heavy"
SEED = 0


def main(out: Path) -> None:
    torch.manual_seed(SEED)
    if out.exists():
        shutil.rmtree(out)
    (out / "torch").mkdir(parents=True)
    _torch_files(out / "torch")
    _trainer_folder(out / "trainer")
    libraries = (torch, transformers, accelerate, np)
    versions = {lib.__name__: lib.__version__ for lib in libraries} | {"python": sys.version.split()[0]}
    (out / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.LayerNorm(8), nn.Dropout(0.1), nn.Linear(8, 2))


def _trained() -> tuple[nn.Module, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    model = _net()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.9)
    for _ in range(2):
        loss = model(torch.randn(16, 4)).pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()
    return model, optimizer, scheduler


def _torch_files(folder: Path) -> None:
    model, optimizer, scheduler = _trained()
    torch.save(model.state_dict(), folder / "state_dict.pt")
    torch.save(model.state_dict(), folder / "state_dict_legacy.pt", _use_new_zipfile_serialization=False)
    checkpoint: dict[str, Any] = {
        "epoch": 3,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
    }
    torch.save(checkpoint, folder / "checkpoint.pt")
    torch.save({"model": model, "optimizer": optimizer, "scheduler": scheduler}, folder / "whole_objects.pt")


def _trainer_folder(folder: Path) -> None:
    """A Trainer run of two steps on a tiny BERT built from a config: its checkpoint folder, as saved."""
    config = transformers.BertConfig(
        vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16
    )
    model = transformers.BertForSequenceClassification(config)
    data = [{"input_ids": torch.randint(0, 32, (6,)), "labels": torch.tensor(i % 2)} for i in range(8)]
    with tempfile.TemporaryDirectory() as work:
        args = transformers.TrainingArguments(
            output_dir=work,
            max_steps=2,
            save_steps=2,
            per_device_train_batch_size=4,
            report_to=[],
            use_cpu=True,
            seed=SEED,
        )
        transformers.Trainer(model=model, args=args, train_dataset=data).train()
        shutil.copytree(Path(work) / "checkpoint-2", folder)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
