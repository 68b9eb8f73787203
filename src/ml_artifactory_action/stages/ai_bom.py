"""build-publish's AI-BOM: gathered from the stored model and the settings, checked, uploaded beside it.

The BOM (`<model-name>.cdx.json`) goes into the model's folder in the model's repository with the
build's properties, and build-publish lists it as an artifact of the build, so promotion copies it
and resolve hands it over with the model. What it says comes from this run's gate and upload when
they ran here, else from the properties the upload left on the files (`metric.*`,
`model.framework`), so a build-publish job after the upload's job writes the same document.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ml_artifactory_action.artifactory import deploy, huggingface, ml_repo, storage
from ml_artifactory_action.artifactory.models import METRIC_PREFIX, build_items, metric_properties
from ml_artifactory_action.artifactory.properties import from_mapping
from ml_artifactory_action.artifactory.search import Item
from ml_artifactory_action.buildinfo.document import BuildArtifact
from ml_artifactory_action.model.dependencies import Dependency
from ml_artifactory_action.provenance.bom import (
    BOM_SUFFIX,
    BomFile,
    BomInput,
    bom_file_name,
    build_bom,
)
from ml_artifactory_action.provenance.datasets import datasets_of
from ml_artifactory_action.provenance.facts import ModelCardFacts
from ml_artifactory_action.settings import Stage
from ml_artifactory_action.stages.context import StageContext

FRAMEWORK_PROPERTY = "model.framework"


@dataclass(frozen=True)
class AiBom:
    """The BOM's text and the build artifact it is (or, in a dry run, would be) stored as."""

    text: str
    artifact: BuildArtifact
    url: str


def model_files(files: Sequence[BuildArtifact]) -> tuple[BuildArtifact, ...]:
    """The model's files without an earlier run's BOM (build-publish writes it anew)."""
    return tuple(f for f in files if not f.path.endswith(BOM_SUFFIX))


def prepare(
    ctx: StageContext,
    files: Sequence[BuildArtifact],
    dependencies: Sequence[Dependency],
    build_url: str,
) -> AiBom | None:
    """The checked BOM of these files and where it goes (nothing is sent yet); None where it cannot go."""
    settings = ctx.settings
    if reason := _no_room(ctx, files[0].repo):
        ctx.runner.info(f"No AI-BOM written: {reason}.")
        return None
    folder = model_folder(ctx, files)
    text = build_bom(
        BomInput(
            model_name=settings.effective_model_name or settings.effective_build_name,
            model_version=settings.effective_model_version or settings.effective_build_number,
            files=[_bom_file(f, folder) for f in files],
            card=_card(ctx),
            dependencies=dependencies,
            model_path=folder,
            build_url=build_url,
            run_url=settings.github.run_url,
            vcs_url=settings.github.repository_url,
        )
    )
    path = str(PurePosixPath(folder, bom_file_name(settings.effective_model_name or settings.effective_build_name)))
    data = text.encode("utf-8")
    artifact = BuildArtifact(
        repo=files[0].repo,
        path=path.lstrip("/"),
        sha1=hashlib.sha1(data, usedforsecurity=False).hexdigest(),  # Artifactory links build artifacts by sha1
        sha256=hashlib.sha256(data).hexdigest(),
        md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        size=len(data),
    )
    return AiBom(text, artifact, storage.download_url(ctx.client, artifact.repo, artifact.path))


def upload(ctx: StageContext, bom: AiBom, started: dt.datetime) -> str:
    """Deploy the BOM beside the model with the build's properties (checked on arrival); its URL.

    A dry run only says where it would go, and returns ''.
    """
    settings = ctx.settings
    where = f"{bom.artifact.repo}/{bom.artifact.path}"
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


def _no_room(ctx: StageContext, repo: str) -> str:
    """Why a BOM cannot be stored beside the model in `repo` ('' when it can)."""
    repository = storage.get_repository(ctx.client, repo)
    kind = repository.package_type if repository is not None else ""
    if kind == huggingface.PACKAGE_TYPE:
        return f"{repo} is a Hugging Face repository, whose revisions hold only what the upload committed"
    if kind == ml_repo.PACKAGE_TYPE:
        return f"{repo} is a JFrog ML repository, whose versions hold only what their manifest lists"
    return ""


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


def _card(ctx: StageContext) -> ModelCardFacts:
    settings = ctx.settings
    stored = _stored_properties(ctx)
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
