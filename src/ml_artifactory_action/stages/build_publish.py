"""build-publish: publish the build-info of the uploaded model, linking files, commit and run.

The files come from this run's upload or, when the upload ran in another job, from the source
repository by their `build.name` / `build.number` properties. Nothing is published unless every
file is on the server with the recorded checksums. Re-publishing an identical build is skipped.
The AI-BOM (`ai_bom.py`) is one of the build's artifacts: written beside the model first, or, in a
Hugging Face or JFrog ML repository, the one the upload stored with the model.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from ml_artifactory_action.artifactory.builds import build_ui_url, get_build, publish_build, started_millis
from ml_artifactory_action.artifactory.models import Item, build_items, items_at
from ml_artifactory_action.buildinfo.dependency_links import unlinked, with_artifactory_checksums
from ml_artifactory_action.buildinfo.document import BuildArtifact, BuildInfoInput, build_info_document
from ml_artifactory_action.buildinfo.env import recorded_env
from ml_artifactory_action.buildinfo.vcs import vcs_for
from ml_artifactory_action.errors import ConfigError, IntegrityError
from ml_artifactory_action.model.dependencies import Dependency
from ml_artifactory_action.settings import Stage
from ml_artifactory_action.stages import ai_bom
from ml_artifactory_action.stages.context import StageContext

MAX_LISTED_FILES = 10


class UploadedFile(Protocol):
    """What build-publish needs of the upload stage's `UploadedArtifact`."""

    repo: str
    path: str
    size: int
    sha1: str
    sha256: str
    md5: str


@dataclass(frozen=True)
class BuildPublishResult:
    name: str
    number: str
    url: str
    artifacts: tuple[BuildArtifact, ...]
    dependencies: int
    env_variables: int
    published: bool  # False in a dry run and when the same build was already there
    already_published: bool = False
    bom_url: str = ""  # the AI-BOM with the model (none in a dry run)


def preflight(ctx: StageContext) -> None:
    """Before any stage runs: the dependencies file must be readable."""
    ai_bom.declared_dependencies(ctx)


def run(ctx: StageContext) -> BuildPublishResult:
    settings = ctx.settings
    name, number = settings.effective_build_name, settings.effective_build_number
    files, started = collect_artifacts(ctx)
    dependencies = _linked_dependencies(ctx)
    files, bom = ai_bom.prepare(ctx, files, dependencies)
    artifacts = (*files, bom.artifact) if bom is not None else files
    document = build_info_document(
        BuildInfoInput(
            name=name,
            number=number,
            module_id=f"{settings.effective_model_name or name}:{settings.effective_model_version or number}",
            started=started,
            run_url=settings.github.run_url,
            artifacts=artifacts,
            dependencies=dependencies,
            vcs=vcs_for(settings.github),
            env=_environment(ctx),
            principal=settings.github.actor,
        ),
        now=dt.datetime.now(dt.UTC),
        in_ci=bool(settings.github.environment.get("CI")),
    )
    bom_url = ai_bom.upload(ctx, bom, started) if bom is not None else ""  # before the build-info that lists it
    result = replace(_publish(ctx, document, artifacts), bom_url=bom_url)
    ctx.runner.set_output("build-name", name)
    ctx.runner.set_output("build-number", number)
    ctx.runner.set_output("build-url", result.url)
    if bom_url:
        ctx.runner.set_output("bom-url", bom_url)
    return result


def collect_artifacts(ctx: StageContext) -> tuple[tuple[BuildArtifact, ...], dt.datetime]:
    """The build's files and its start: from this run's upload, else from the source repository."""
    upload = ctx.state.get(Stage.UPLOAD)
    if upload is not None:
        files = tuple(_from_upload(f) for f in upload.artifacts)
        if not ctx.settings.dry_run:
            verify_on_server(ctx, files)
        return files, ctx.state.started
    return _from_repository(ctx)


def _from_upload(uploaded: UploadedFile) -> BuildArtifact:
    return BuildArtifact(
        repo=uploaded.repo,
        path=uploaded.path.lstrip("/"),
        sha1=uploaded.sha1,
        sha256=uploaded.sha256,
        md5=uploaded.md5,
        size=uploaded.size,
    )


def _from_repository(ctx: StageContext) -> tuple[tuple[BuildArtifact, ...], dt.datetime]:
    settings = ctx.settings
    name, number, repo = settings.effective_build_name, settings.effective_build_number, settings.effective_source_repo
    items = build_items(ctx.client, repo, name, number)
    if not items:
        raise ConfigError(
            "build-name",
            f"no file in {repo} carries build.name={name} and build.number={number}, so build {name} #{number} would be empty",
            fix="Run the upload stage first with the same build-name and build-number (they default to the repository name and run number), or set them to the upload's values.",
        )
    files = tuple(BuildArtifact(i.repo, i.repo_path, i.sha1, i.sha256, i.md5, i.size) for i in items)
    return files, _upload_start(items) or ctx.state.started


def _upload_start(items: Iterable[Item]) -> dt.datetime | None:
    """The earliest `build.timestamp` (epoch ms) the uploads recorded."""
    stamps = [int(i.prop("build.timestamp")) for i in items if i.prop("build.timestamp").isdigit()]
    return dt.datetime.fromtimestamp(min(stamps) / 1000, dt.UTC) if stamps else None


def verify_on_server(ctx: StageContext, files: Sequence[BuildArtifact]) -> None:
    """IntegrityError unless every file is stored with the checksum the upload recorded."""
    by_repo: dict[str, list[BuildArtifact]] = defaultdict(list)
    for file in files:
        by_repo[file.repo].append(file)
    problems: list[str] = []
    for repo, group in by_repo.items():
        stored = items_at(ctx.client, repo, [f.path for f in group])
        problems += [_problem(f, stored.get(f.path)) for f in group if _problem(f, stored.get(f.path))]
    if problems:
        shown = "\n".join(f"- {p}" for p in problems[:MAX_LISTED_FILES])
        more = f"\n- and {len(problems) - MAX_LISTED_FILES} more" if len(problems) > MAX_LISTED_FILES else ""
        raise IntegrityError(
            f"{len(problems)} of {len(files)} uploaded files are not on the server as uploaded, so no build-info was published:\n{shown}{more}",
            fix="Re-run the upload stage (it sends only what is missing), then build-publish.",
            title="Build files missing on the server",
        )


def _problem(file: BuildArtifact, stored: Item | None) -> str:
    where = f"{file.repo}/{file.path}"
    if stored is None:
        return f"{where} is missing"
    if file.sha256 and stored.sha256 and stored.sha256 != file.sha256:
        return f"{where} holds sha256 {stored.sha256}, not {file.sha256}"
    return ""


def _linked_dependencies(ctx: StageContext) -> list[Dependency]:
    """The dependencies, with the sha1/md5 Artifactory links them by when it holds their files."""
    if ctx.settings.dry_run:
        return ai_bom.declared_dependencies(ctx)
    dependencies = with_artifactory_checksums(ctx.client, ai_bom.declared_dependencies(ctx))
    if missing := unlinked(dependencies):
        ctx.runner.info(
            f"{len(missing)} of {len(dependencies)} dependencies are not files in Artifactory "
            "(installed from elsewhere, or without a sha256): they show unlinked in the build."
        )
    return dependencies


def _environment(ctx: StageContext) -> dict[str, str]:
    settings = ctx.settings
    unmasked = {k: v for k, v in settings.github.environment.items() if ctx.runner.redact(v) == v}
    harmless = {settings.github.sha} if settings.github.sha else set()
    return recorded_env(unmasked, settings.env_include, settings.env_exclude, harmless=harmless)


def _publish(ctx: StageContext, document: dict[str, Any], files: tuple[BuildArtifact, ...]) -> BuildPublishResult:
    """Publish unless the same build (same files) is already there; a dry run only says what it would do."""
    settings = ctx.settings
    name, number = document["name"], document["number"]
    existing = get_build(ctx.client, name, number, settings.project)
    if existing is not None and _checksums(existing) == {f.sha256 for f in files}:
        ctx.runner.info(f"Build {name} #{number} is already published with these files; nothing to do.")
        return _result(ctx, document, files, started_millis(existing), published=False, already=True)
    if settings.dry_run:
        ctx.runner.info(f"Dry run: would publish {_describe(document)}.")
        return _result(ctx, document, files, started_millis(document), published=False)
    if existing is not None:
        ctx.runner.warning(
            "Build number reused",
            f"Build {name} #{number} was already published with other files; Artifactory keeps both runs and later stages use the newest.",
        )
    publish_build(ctx.client, document, settings.project)
    ctx.runner.info(f"Published {_describe(document)}.")
    return _result(ctx, document, files, started_millis(document), published=True)


def _dependency_count(document: dict[str, Any]) -> int:
    return len(document["modules"][0].get("dependencies", []))


def _describe(document: dict[str, Any]) -> str:
    files = len(document["modules"][0]["artifacts"])
    return f"build {document['name']} #{document['number']}: {files} files, {_dependency_count(document)} dependencies"


def _result(
    ctx: StageContext,
    document: dict[str, Any],
    files: tuple[BuildArtifact, ...],
    started_ms: int | None,
    *,
    published: bool,
    already: bool = False,
) -> BuildPublishResult:
    name, number, project = document["name"], document["number"], ctx.settings.project
    return BuildPublishResult(
        name=name,
        number=number,
        url=build_ui_url(ctx.settings.url, name, number, started_ms, project),
        artifacts=files,
        dependencies=_dependency_count(document),
        env_variables=len(document.get("properties", {})),
        published=published,
        already_published=already,
    )


def _checksums(info: dict[str, Any]) -> set[str]:
    return {str(a.get("sha256", "")) for m in info.get("modules", []) for a in m.get("artifacts", [])}
