"""upload's AI-BOM for Hugging Face and JFrog ML repositories: one more file of the selection, before signing.

A Hugging Face revision holds only what its commit put there and a JFrog ML version only what its
manifest lists, so build-publish cannot add the BOM beside the model later as it does in a generic
repository. There the upload writes `<model-name>.cdx.json` (the same document, `ai_bom.bom_input`)
at the top of the model's files, after the model card and before signing, so `model.sig` covers it;
build-publish then finds it among the build's files and lists it. It names every file of the
selection with its sha256 (read once, through the hash cache the upload reuses), but not `model.sig`,
which is made after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from ml_artifactory_action.artifactory import huggingface
from ml_artifactory_action.artifactory.properties import Properties
from ml_artifactory_action.artifactory.storage import Repository
from ml_artifactory_action.model.files import ModelFile
from ml_artifactory_action.model.hash_cache import HashCache
from ml_artifactory_action.provenance.bom import BomFile, build_bom
from ml_artifactory_action.provenance.signing import SIGNATURE_NAME
from ml_artifactory_action.settings import SignMode
from ml_artifactory_action.stages import ai_bom, upload_hf, upload_ml
from ml_artifactory_action.stages.context import StageContext
from ml_artifactory_action.stages.uploader import cached_sha256


def in_selection(repository: Repository) -> bool:
    """Whether the upload writes the BOM among the model's files in this repository."""
    return repository.package_type in ai_bom.WRITTEN_BY_UPLOAD


def with_bom(
    ctx: StageContext,
    files: Sequence[ModelFile],
    repository: Repository,
    *,
    props: Properties,
    cache: HashCache,
    scratch: Path,
) -> list[ModelFile]:
    """The files, with the AI-BOM written into `scratch` among them where the repository needs it."""
    if not in_selection(repository):
        return list(files)
    settings, runner = ctx.settings, ctx.runner
    name = ai_bom.bom_name(settings)
    kept = [f for f in files if f.relative != name]
    if len(kept) < len(files):
        runner.info(f"Replacing {name} from the model folder with this run's AI-BOM.")
    resigned = settings.sign != SignMode.NONE  # a model.sig of the folder is replaced after the BOM is written
    listed = [f for f in kept if not (resigned and PurePosixPath(f.relative).name == SIGNATURE_NAME)]
    model = [BomFile(f.relative, f.size, cached_sha256(f, cache)) for f in sorted(listed, key=lambda f: f.relative)]
    hf = repository.package_type == huggingface.PACKAGE_TYPE
    folder = (upload_hf if hf else upload_ml).model_path(settings)
    text = build_bom(ai_bom.bom_input(ctx, model, dict(props), ai_bom.declared_dependencies(ctx), folder))
    local = scratch / name
    local.write_text(text, encoding="utf-8")
    where = "revision" if hf else "model version"
    signed = ", signed with them" if resigned else ""
    verb = "Dry run: would add" if settings.dry_run else "Added"
    runner.info(f"{verb} the AI-BOM {name} (CycloneDX 1.6, valid, {len(model)} files) to the {where}'s files{signed}.")
    return [*kept, ModelFile(local, name, local.stat().st_size)]
