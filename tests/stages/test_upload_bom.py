"""upload's AI-BOM: written into the selection for Hugging Face and JFrog ML repositories only (the whole way
through the entrypoint is in tests/e2e/test_bom_signed_repos.py)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tests.fakes.jfrog import log_of, make_context

from ml_artifactory_action.artifactory.storage import Repository
from ml_artifactory_action.errors import ConfigError
from ml_artifactory_action.model.files import ModelFile
from ml_artifactory_action.model.hash_cache import HashCache
from ml_artifactory_action.stages.upload_bom import with_bom

FILES = {"model.safetensors": b"weights", "model.sig": b"an older signature", "fraud.cdx.json": b"an older BOM"}


def selection(tmp_path: Path) -> list[ModelFile]:
    folder = tmp_path / "model"
    folder.mkdir()
    for name, content in FILES.items():
        (folder / name).write_bytes(content)
    return [ModelFile(folder / name, name, len(content)) for name, content in FILES.items()]


def added(tmp_path: Path, kind: str, **inputs: str) -> tuple[list[ModelFile], str]:
    given = {"model-path": "model", "model-name": "acme/fraud", "model-version": "v1", "repo": "models"}
    ctx = make_context(tmp_path, given | inputs)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    files = with_bom(
        ctx, selection(tmp_path), Repository("models", "local", kind), props=(), cache=HashCache(None), scratch=scratch
    )
    return files, log_of(ctx)


@pytest.mark.parametrize(("kind", "name"), [("huggingfaceml", "acme/fraud"), ("machinelearning", "fraud")])
def test_the_bom_replaces_one_of_the_folder_and_leaves_out_the_signature_that_is_made_after_it(
    tmp_path: Path, kind: str, name: str
) -> None:
    files, log = added(tmp_path, kind, sign="key", **{"signing-key": "unused here", "model-name": name})

    assert [f.relative for f in files] == ["model.safetensors", "model.sig", "fraud.cdx.json"]
    bom = json.loads(files[-1].local.read_text(encoding="utf-8"))
    listed = {c["name"]: c["hashes"] for c in bom["metadata"]["component"]["components"]}
    assert listed == {"model.safetensors": [{"alg": "SHA-256", "content": hashlib.sha256(b"weights").hexdigest()}]}
    assert files[-1].size == files[-1].local.stat().st_size
    assert "Replacing fraud.cdx.json from the model folder with this run's AI-BOM." in log
    assert "(CycloneDX 1.6, valid, 1 files)" in log
    assert log.rstrip().endswith(", signed with them.")


def test_without_signing_a_model_sig_of_the_folder_is_a_file_of_the_model(tmp_path: Path) -> None:
    files, log = added(tmp_path, "huggingfaceml")

    bom = json.loads(files[-1].local.read_text(encoding="utf-8"))
    assert [c["name"] for c in bom["metadata"]["component"]["components"]] == ["model.safetensors", "model.sig"]
    assert "Added the AI-BOM fraud.cdx.json (CycloneDX 1.6, valid, 2 files) to the revision's files." in log


def test_a_generic_repository_gets_its_bom_from_build_publish_not_here(tmp_path: Path) -> None:
    files, log = added(tmp_path, "generic")

    assert [f.relative for f in files] == list(FILES)
    assert "AI-BOM" not in log


def test_a_model_name_the_revision_cannot_have_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        added(tmp_path, "huggingfaceml", **{"model-name": "fraud"})

    assert "is not a Hugging Face model id" in refused.value.message
    assert not list((tmp_path / "scratch").iterdir())
