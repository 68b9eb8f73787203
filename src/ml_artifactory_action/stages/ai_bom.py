"""The AI-BOM of a build: what goes into it (one `bom_input` for every repository), where it is stored.

In a generic repository build-publish writes the BOM (`<model-name>.cdx.json`) into the model's
folder with the build's properties. A Hugging Face revision holds only what its commit put there and
a JFrog ML version only what its manifest lists, so there the upload writes it among the files it
publishes (`upload_bom.py`, before signing) and build-publish finds it among the build's files. Either
way it is an artifact of the build, so promotion copies it and resolve hands it over with the model.
What it says comes from this run's gate and upload when they ran here, else from the properties the
upload left on the files (`metric.*`, `model.framework`), so a build-publish job after the upload's
job writes the same document.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ml_artifactory_action.artifactory import deploy, huggingface, ml_repo, storage
from ml_artifactory_action.artifactory.builds import build_ui_url
from ml_artifactory_action.artifactory.models import METRIC_PREFIX, build_items, metric_properties
from ml_artifactory_action.artifactory.properties import from_mapping
from ml_artifactory_action.artifactory.search import Item
from ml_artifactory_action.buildinfo.document import BuildArtifact
from ml_artifactory_action.model.dependencies import Dependency, read_dependencies
from ml_artifactory_action.provenance.bom import (
    BOM_SUFFIX,
    BomFile,
    BomInput,
    bom_file_name,
    build_bom,
)
from ml_artifactory_action.provenance.datasets import datasets_of
from ml_artifactory_action.provenance.facts import ModelCardFacts
from ml_artifactory_action.settings import Settings, Stage
from ml_artifactory_action.stages.context import StageContext

FRAMEWORK_PROPERTY = "model.framework"
# Repository kinds whose upload writes the BOM among the model's files (see the module's docstring).
WRITTEN_BY_UPLOAD = {
    huggingface.PACKAGE_TYPE: "Hugging Face repository, whose revisions hold only what the upload committed",
    ml_repo.PACKAGE_TYPE: "JFrog ML repository, whose versions hold only what their manifest lists",
}


@dataclass(frozen=True)
class AiBom:
    """The BOM's text and the build artifact it is (or, in a dry run, would be) stored as.

    `by_upload`: the upload stored it with the model (its text is not at hand, build-publish only lists it).
    """

    text: str
    artifact: BuildArtifact
    url: str
    by_upload: bool = False


def bom_name(settings: Settings) -> str:
    return bom_file_name(settings.effective_model_name or settings.effective_build_name)


def bom_input(
    ctx: StageContext,
    files: Sequence[BomFile],
    properties: Mapping[str, tuple[str, ...]],
    dependencies: Sequence[Dependency],
    model_path: str,
) -> BomInput:
    """What the BOM says of these files, for upload and build-publish alike.

    `properties`: those every model file got at upload (`model.framework`, `metric.*`, ...); `model_path`: the
    model's folder inside its repository.
    """
    settings = ctx.settings
    return BomInput(
        model_name=settings.effective_model_name or settings.effective_build_name,
        model_version=settings.effective_model_version or settings.effective_build_number,
        files=files,
        card=_card(ctx, properties),
        dependencies=dependencies,
        model_path=model_path,
        # the build's page across its runs (no start time): the BOM must not change when the build re-runs
        build_url=build_ui_url(
            settings.url, settings.effective_build_name, settings.effective_build_number, None, settings.project
        ),
        run_url=settings.github.run_url,
        vcs_url=settings.github.repository_url,
    )


def declared_dependencies(ctx: StageContext) -> list[Dependency]:
    """The Python dependencies of `dependencies-file` (none without it); ConfigError when it cannot be read."""
    path = ctx.settings.dependencies_file
    if path is None:
        return []
    if not path.is_absolute() and ctx.settings.github.workspace is not None:
        path = ctx.settings.github.workspace / path
    return read_dependencies(path)


def prepare(
    ctx: StageContext, files: Sequence[BuildArtifact], dependencies: Sequence[Dependency]
) -> tuple[tuple[BuildArtifact, ...], AiBom | None]:
    """The model's files and its BOM: in a Hugging Face or JFrog ML repository the one the upload stored
    among them (None if it stored none), else a new, checked one for beside them (nothing is sent yet)."""
    repository = storage.get_repository(ctx.client, files[0].repo)
    kind = repository.package_type if repository is not None else ""
    if kind in WRITTEN_BY_UPLOAD:
        return _stored_by_upload(ctx, files, f"{files[0].repo} is a {WRITTEN_BY_UPLOAD[kind]}")
    files = tuple(f for f in files if not f.path.endswith(BOM_SUFFIX))  # an earlier run's BOM: written anew
    folder = model_folder(ctx, files)
    model = [_bom_file(f, folder) for f in files]
    text = build_bom(bom_input(ctx, model, _stored_properties(ctx), dependencies, folder))
    path = str(PurePosixPath(folder, bom_name(ctx.settings)))
    data = text.encode("utf-8")
    artifact = BuildArtifact(
        repo=files[0].repo,
        path=path.lstrip("/"),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),  # Artifactory links build artifacts by sha1
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        size=len(data),
    )
    return files, AiBom(text, artifact, storage.download_url(ctx.client, artifact.repo, artifact.path))


def _stored_by_upload(
    ctx: StageContext, files: Sequence[BuildArtifact], why: str
) -> tuple[tuple[BuildArtifact, ...], AiBom | None]:
    """The BOM the upload put at the top of the revision or version, and the other files."""
    name = bom_name(ctx.settings)
    found = sorted((f for f in files if PurePosixPath(f.path).name == name), key=lambda f: f.path.count("/"))
    if not found:
        ctx.runner.info(f"No AI-BOM listed: {why}, and the upload stored no {name} in it.")
        return tuple(files), None
    bom = found[0]
    url = storage.download_url(ctx.client, bom.repo, bom.path)
    return tuple(f for f in files if f is not bom), AiBom("", bom, url, by_upload=True)


def upload(ctx: StageContext, bom: AiBom, started: dt.datetime) -> str:
    """Deploy the BOM beside the model with the build's properties (checked on arrival); its URL.

    A BOM the upload stored is only listed. A dry run only says where it would go, and returns ''.
    """
    settings = ctx.settings
    where = f"{bom.artifact.repo}/{bom.artifact.path}"
    if bom.by_upload:
        if settings.dry_run:
            ctx.runner.info(f"Dry run: the AI-BOM the upload would store at {where} would be listed in the build")
            return ""
        ctx.runner.info(f"The AI-BOM the upload stored at {where} is listed in the build")
        return bom.url
    if settings.dry_run:
        ctx.runner.info(f"Dry run: would upload the AI-BOM (CycloneDX 1.6, valid) to {where}")
        return ""
    props = from_mapping(
        {
            "build.name": settings.effective_build_name,
            "build.number": settings.effective_build_number,
            "build.timestamp": str(int(started.timestamp() * 1000)),
        }
    )
    if deploy.deploy_by_checksum(
        ctx.client,
        bom.artifact.repo,
        bom.artifact.path,
        sha256=bom.artifact.sha256,
        size=bom.artifact.size,
        props=props,
    ):  # a re-run writes the same bytes: the server has them already
        ctx.runner.info(f"AI-BOM (CycloneDX 1.6, valid) deployed by checksum to {where}")
        return bom.url
    with tempfile.TemporaryDirectory(prefix="ai-bom-") as temp:
        local = Path(temp, PurePosixPath(bom.artifact.path).name)
        local.write_text(bom.text, encoding="utf-8")
        deploy.deploy_file(
            ctx.client,
            bom.artifact.repo,
            bom.artifact.path,
            local=local,
            size=bom.artifact.size,
            props=props,
            sha256=bom.artifact.sha256,
        )
    ctx.runner.info(f"AI-BOM (CycloneDX 1.6, valid) uploaded to {where}")
    return bom.url


def model_folder(ctx: StageContext, files: Sequence[BuildArtifact]) -> str:
    """The upload's folder when it ran here (a single file: its folder), else the files' common folder."""
    upload = ctx.state.get(Stage.UPLOAD)
    paths = [PurePosixPath(f.path) for f in files]
    if upload is not None and upload.folder:
        folder = PurePosixPath(upload.folder.strip("/"))
        return str(folder.parent if folder in paths else folder).removeprefix(".")
    parents = [p.parent.parts for p in paths]
    common: list[str] = []
    for parts in zip(*parents, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common)


def _bom_file(file: BuildArtifact, folder: str) -> BomFile:
    inside = file.path.removeprefix(folder.rstrip("/") + "/") if folder else file.path
    return BomFile(inside, file.size, file.sha256, file.sha1, file.md5)


def _card(ctx: StageContext, stored: Mapping[str, tuple[str, ...]]) -> ModelCardFacts:
    settings = ctx.settings
    gate = ctx.state.get(Stage.GATE)
    metrics = dict(gate.metrics) if gate is not None else _metrics(stored)
    return ModelCardFacts(
        task=settings.task,
        frameworks=tuple(stored.get(FRAMEWORK_PROPERTY, ())),
        metrics=metrics,
        thresholds=settings.thresholds,
        datasets=datasets_of(settings, ctx.http),
        license=settings.license,
        base_model=settings.base_model,
    )


def _stored_properties(ctx: StageContext) -> Mapping[str, tuple[str, ...]]:
    """The properties every model file got at upload: from this run, else from the server."""
    upload = ctx.state.get(Stage.UPLOAD)
    if upload is not None:
        return dict(upload.properties)
    settings = ctx.settings
    items = build_items(
        ctx.client, settings.effective_source_repo, settings.effective_build_name, settings.effective_build_number
    )
    model: list[Item] = [i for i in items if not i.name.endswith(BOM_SUFFIX)]
    return model[0].properties if model else {}


def _metrics(properties: Mapping[str, tuple[str, ...]]) -> dict[str, float]:
    carrier = Item(
        repo="", path=".", name="", properties={k: v for k, v in properties.items() if k.startswith(METRIC_PREFIX)}
    )
    return metric_properties([carrier])
