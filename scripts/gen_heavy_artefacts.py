"""Regenerate tests/data/heavy/: small files saved by PyTorch, transformers and accelerate themselves.

These libraries weigh gigabytes, so the tests scan files committed here instead of building a
virtualenv each run; versions.json records what made them. To regenerate with newer versions, in
a virtualenv outside the repository or in the gitignored .venv-heavy/:

    python3 -m venv .venv-heavy
    .venv-heavy/bin/pip install torch==2.13.0 transformers==5.23.0 accelerate==1.15.0 keras==3.15.1
    .venv-heavy/bin/python scripts/gen_heavy_artefacts.py

(`torch==2.13.0` takes the CPU wheel this machine keeps on disk; plain `torch` pulls CUDA; Keras
runs on the torch backend.) Everything is built from a config: no model is downloaded. Of the
action, only its policy tables (pickle_tiers.py, plain data) are read, to list what the libraries'
class namespaces import from elsewhere (reexports.json).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import pkgutil
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
    os.environ.setdefault("KERAS_BACKEND", "torch")  # read when keras is first imported, below
    torch.manual_seed(SEED)
    np.random.seed(SEED)  # the legacy global state, which checkpoints save
    random.seed(SEED)
    if out.exists():
        shutil.rmtree(out)
    (out / "torch").mkdir(parents=True)
    _torch_files(out / "torch")
    _trainer_folder(out / "trainer")
    _keras_files(out / "keras")
    (out / "reexports.json").write_text(json.dumps(_reexports(), indent=0) + "\n")
    import keras  # noqa: PLC0415

    libraries = (torch, transformers, accelerate, keras, np)
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
        here = Path.cwd()
        os.chdir(work)  # a relative output_dir: training_args.bin holds no temporary path
        args = transformers.TrainingArguments(
            output_dir="run",
            max_steps=2,
            save_steps=2,
            per_device_train_batch_size=4,
            report_to=[],
            use_cpu=True,
            seed=SEED,
        )
        try:
            transformers.Trainer(model=model, args=args, train_dataset=data).train()
        finally:
            os.chdir(here)
        shutil.copytree(Path(work) / "run" / "checkpoint-2", folder)


def _keras_files(folder: Path) -> None:
    """A model with a Lambda layer (bytecode that runs on load) and the fix the scan advises for it."""
    import keras  # noqa: PLC0415

    folder.mkdir()
    inputs = keras.Input(shape=(4,))
    lambda_model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2.0)(keras.layers.Dense(2)(inputs)))
    lambda_model.save(folder / "lambda_layer.keras")

    @keras.saving.register_keras_serializable(package="mypkg")
    class Double(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return x * 2.0

    custom_model = keras.Model(inputs, Double()(keras.layers.Dense(2)(inputs)))
    custom_model.save(folder / "registered_custom_layer.keras")


# --- what the class rule would pass that the libraries import from elsewhere ------------------------


def _tiers() -> Any:
    """The action's policy tables, read as data (a module of constants with no imports)."""
    path = ROOT / "src" / "ml_artifactory_action" / "model" / "pickle_tiers.py"
    spec = importlib.util.spec_from_file_location("pickle_tiers", path)
    assert spec is not None
    assert spec.loader is not None
    tiers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiers)
    return tiers


def _reexports() -> list[tuple[str, str, str]]:
    """(module, name, origin) of each class-like callable in the heavy libraries' class namespaces
    that was defined in another module: the test checks what the policy passes among them."""
    found = []
    for module in _class_modules(_tiers().ML_CLASS_NAMESPACES):
        try:
            namespace = vars(importlib.import_module(module))
        except Exception as exc:  # an optional dependency missing: recorded, nothing to list
            found.append((module, "<unimportable>", type(exc).__name__))
            continue
        for name, obj in list(namespace.items()):
            origin = getattr(obj, "__module__", None) or ""
            class_like = name.lstrip("_")[:1].isupper() or name.startswith("__pyx_unpickle_")
            if callable(obj) and class_like and origin != module:
                found.append((module, name, origin))
    return sorted(set(found))


def _class_modules(spaces: tuple[str, ...]) -> list[str]:
    heavy = [space for space in spaces if space.split(".")[0] in {"torch", "transformers", "accelerate"}]
    modules = set()
    for space in heavy:
        fixed = space.split(".*")[0]
        root = importlib.import_module(fixed)
        modules.add(fixed)
        for found in pkgutil.walk_packages(getattr(root, "__path__", []), fixed + "."):
            if _matches(found.name, space):
                modules.add(found.name)
    return sorted(modules)


def _matches(module: str, space: str) -> bool:
    from fnmatch import fnmatchcase  # noqa: PLC0415

    parts, pattern = module.split("."), space.split(".")
    return len(parts) >= len(pattern) and all(fnmatchcase(p, q) for p, q in zip(parts, pattern, strict=False))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
