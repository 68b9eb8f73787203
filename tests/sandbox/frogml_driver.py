"""Runs inside the frogml venv (never imported by the tests): real `frogml` calls, results as JSON.

    python frogml_driver.py publish <repo> <work-dir>    log, read back and load models and a dataset
    python frogml_driver.py load <repo> <name> <version> <target-dir>
    python frogml_driver.py login-load <repo> <name> <version> <target-dir>
        logs in with user `admin` and JF_ACCESS_TOKEN as password (frogml mints a token and writes
        ~/.frogml/config.json), then loads with only that file configured

Connection settings come from JF_URL / JF_ACCESS_TOKEN, as frogml documents. The last stdout line
is `RESULT <json>`.
"""

import hashlib
import json
import os
import sys
import zipfile
from pathlib import Path

import frogml
from frogml.storage.frog_ml import FrogMLStorage


def tree(root: Path) -> dict:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def publish(repo: str, work: Path) -> dict:
    out = {}
    model = work / "model.pkl"
    model.write_bytes(b"\x80\x04K\x2a." + b"weights" * 2000)
    frogml.files.log_model(
        source_path=str(model),
        repository=repo,
        model_name="fraud-detector",
        version="1.0.0",
        properties={"team": "risk"},
        parameters={"learning_rate": 0.1},
        metrics={"accuracy": 0.93},
        register_in_jml=False,
    )
    out["info"] = frogml.files.get_model_info(repository=repo, model_name="fraud-detector", version="1.0.0")
    loaded = frogml.files.load_model(
        repository=repo, model_name="fraud-detector", version="1.0.0", target_path=str(work / "loaded")
    )
    out["loaded"] = tree(Path(loaded))
    out["model_sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    # Same bytes again: every file is answered by the checksum deploy.
    frogml.files.log_model(
        source_path=str(model), repository=repo, model_name="fraud-detector", version="1.0.1", register_in_jml=False
    )
    out["encoder"] = encoder(repo, work)
    out["dataset"] = dataset(repo, work)
    return out


def encoder(repo: str, work: Path) -> dict:
    """A folder model with a namespace, dependencies and a code archive; the server picks the version."""
    src = work / "encoder"
    (src / "tokenizer").mkdir(parents=True)
    (src / "weights.bin").write_bytes(bytes(range(256)) * 300)
    (src / "tokenizer" / "vocab.txt").write_text("a\nb\nc\n")
    (work / "requirements.txt").write_text("numpy==2.1.0\n")
    with zipfile.ZipFile(work / "code.zip", "w") as archive:
        archive.writestr("predict.py", "def predict(model, data, **kwargs):\n    return data\n")
    storage = FrogMLStorage()
    version = storage.upload_model_version(
        repository=repo,
        model_name="encoder",
        model_path=str(src),
        model_type={
            "framework": "files",
            "framework_version": "",
            "serialization_format": "bin",
            "runtime": "python",
            "runtime_version": "3.11",
        },
        namespace="nlp",
        dependencies_files_paths=[str(work / "requirements.txt")],
        code_archive_file_path=str(work / "code.zip"),
        properties={"stage": "dev"},
    )
    target = work / "encoder-loaded"
    storage.download_model_version(
        repository=repo, model_name="encoder", version=version.version, target_path=str(target), namespace="nlp"
    )
    return {"version": version.version, "uploaded": tree(src), "downloaded": tree(target)}


def dataset(repo: str, work: Path) -> dict:
    src = work / "transactions"
    (src / "2026").mkdir(parents=True)
    (src / "2026" / "jan.csv").write_text("id,amount\n1,10\n")
    (src / "schema.json").write_text('{"id": "int"}')
    storage = FrogMLStorage()
    storage.upload_dataset_version(
        repository=repo, dataset_name="transactions", dataset_path=str(src), version="2026.1"
    )
    target = work / "transactions-loaded"
    storage.download_dataset_version(
        repository=repo, dataset_name="transactions", version="2026.1", target_path=str(target)
    )
    return {"uploaded": tree(src), "downloaded": tree(target)}


def load(repo: str, name: str, version: str, target: Path) -> dict:
    loaded = frogml.files.load_model(repository=repo, model_name=name, version=version, target_path=str(target))
    return {"loaded": tree(Path(loaded))}


def login_load(repo: str, name: str, version: str, target: Path) -> dict:
    from frogml.storage.authentication.login import frogml_login  # noqa: PLC0415

    url, password = os.environ.pop("JF_URL"), os.environ.pop("JF_ACCESS_TOKEN")
    logged_in = frogml_login(url, "admin", password, None, False, False, None)
    config = json.loads((Path.home() / ".frogml" / "config.json").read_text())
    [server] = config["servers"]
    minted = server.get("access_token") or ""
    return {
        "logged_in": logged_in,
        "minted_token": bool(minted) and minted != password,
        **load(repo, name, version, target),
    }


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    run = {
        "publish": lambda: publish(args[0], Path(args[1])),
        "load": lambda: load(args[0], args[1], args[2], Path(args[3])),
        "login-load": lambda: login_load(args[0], args[1], args[2], Path(args[3])),
    }
    print("RESULT " + json.dumps(run[command]()))
