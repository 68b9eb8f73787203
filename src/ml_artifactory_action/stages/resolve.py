"""resolve: download the production model from `target-repo` to `download-dir`, verified.

Which files: `resolve-properties` (files carrying them; the newest build among them), else
`resolve-build` (that build's files), else the build now in production (the latest promotion with
`status`, as promote and gate read it). The files served must be the build's, exactly as its
build-info recorded them (`resolve_check`), or nothing is downloaded. Files keep their layout below
the build's common folder.
A file already in place with the right sha256 is not downloaded again. What is downloaded gets an
ordinary file's mode and, in a Docker action (root), the workspace owner's ids (`handover`), so
that the job's later steps can read it.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ml_artifactory_action.artifactory.download import download_item, is_current
from ml_artifactory_action.artifactory.models import Item, items_with_properties
from ml_artifactory_action.artifactory.promotion import deployment_repo
from ml_artifactory_action.errors import ConfigError, ResolveError
from ml_artifactory_action.handover import Handover
from ml_artifactory_action.provenance.signing import Verified
from ml_artifactory_action.runner import Progress, human_size
from ml_artifactory_action.settings import Stage
from ml_artifactory_action.stages import signing
from ml_artifactory_action.stages.context import StageContext
from ml_artifactory_action.stages.production import ProductionLine
from ml_artifactory_action.stages.resolve_check import verified_items

PROGRESS_MIN_SIZE = 64 << 20


@dataclass(frozen=True)
class ResolvedFile:
    repo_path: str
    relative: str  # below download-dir
    size: int
    sha256: str
    downloaded: bool  # True: fetched (in a dry run: would be); False: already in place


@dataclass(frozen=True)
class ResolveResult:
    build_number: str
    selected_by: str
    repo: str
    download_dir: Path
    files: tuple[ResolvedFile, ...]
    dry_run: bool = False
    signed_by: str = ""  # verify-signature: who signed what was handed over

    @property
    def downloaded_bytes(self) -> int:
        return sum(f.size for f in self.files if f.downloaded)


def preflight(ctx: StageContext) -> None:
    """Before any stage runs: download-dir must be a folder, or not exist yet."""
    destination = _destination(ctx)
    if destination.exists() and not destination.is_dir():
        raise ConfigError(
            "download-dir",
            f"'{ctx.settings.download_dir}' is a file, not a folder",
            fix="Set download-dir to a folder (it is created when missing), relative to the workspace.",
        )


def run(ctx: StageContext) -> ResolveResult:
    settings = ctx.settings
    pending = _promoted_in_this_dry_run(ctx)
    if pending:
        return _would_resolve(ctx, pending)
    items, number, selected_by = select_items(ctx)
    root = common_folder(items)
    destination = _destination(ctx)
    handover = Handover.for_workspace(settings.github.workspace)
    signed_by = ""
    if settings.verify_signature and not settings.dry_run:
        files, verified = _fetch_verified(ctx, items, destination, root, handover)
        signed_by = verified.signer
    else:
        files = tuple(_fetch(ctx, item, destination, root, handover) for item in items)
    result = ResolveResult(
        number, selected_by, settings.target_repo, settings.download_dir, files, settings.dry_run, signed_by
    )
    fetched = sum(f.downloaded for f in files)
    verb = "Would download" if settings.dry_run else "Downloaded"
    ctx.runner.info(
        f"{verb} {fetched} of {len(files)} files ({human_size(result.downloaded_bytes)}) of {selected_by} to {settings.download_dir}."
    )
    if signed_by:
        ctx.runner.info(f"Signature verified: {verified.files} files of {selected_by} signed by {signed_by}.")
    ctx.runner.set_output("download-path", str(settings.download_dir))
    ctx.runner.set_output("resolved-build", number)
    return result


def _promoted_in_this_dry_run(ctx: StageContext) -> str:
    """The build a dry-run promotion of this run would have put in production ('' if none)."""
    settings = ctx.settings
    promoted = ctx.state.get(Stage.PROMOTE)
    if not settings.dry_run or promoted is None or settings.resolve_build or settings.resolve_properties:
        return ""
    return str(promoted.build_number)


def _would_resolve(ctx: StageContext, number: str) -> ResolveResult:
    settings = ctx.settings
    name = f"build {settings.effective_build_name} #{number}"
    ctx.runner.info(f"Dry run: would download {name} from {settings.target_repo} once promoted.")
    ctx.runner.set_output("download-path", str(settings.download_dir))
    ctx.runner.set_output("resolved-build", number)
    return ResolveResult(number, name, settings.target_repo, settings.download_dir, (), dry_run=True)


def select_items(ctx: StageContext) -> tuple[list[Item], str, str]:
    """The files to fetch, their build number ('' if unknown) and how they were chosen."""
    settings = ctx.settings
    if settings.resolve_properties:
        return _by_properties(ctx)
    line = ProductionLine.of(ctx)
    name, repo = line.build_name, line.repo
    if settings.resolve_build:
        number = settings.resolve_build
    else:
        current = line.current
        if current is None:
            raise ResolveError(
                f"No build of {name} has been promoted to {repo} with status {settings.status}.",
                fix="Promote a build first, or give resolve-build or resolve-properties; check build-name, target-repo and status.",
            )
        number = current.build_number
    items = line.items(number)
    if not items:
        raise ResolveError(
            f"Build {name} #{number} has no files in {repo}.",
            fix="Promote the build to target-repo first, or check resolve-build and build-name.",
        )
    return verified_items(ctx.client, repo, items, (name, number), settings.project), number, f"build {name} #{number}"


def _by_properties(ctx: StageContext) -> tuple[list[Item], str, str]:
    settings = ctx.settings
    wanted = ";".join(f"{k}={','.join(v)}" for k, v in settings.resolve_properties)
    repo = deployment_repo(ctx.client, settings.target_repo)
    items = items_with_properties(ctx.client, repo, settings.resolve_properties)
    if not items:
        raise ResolveError(
            f"No file in {settings.target_repo} carries the properties {wanted}.",
            fix="Check resolve-properties and target-repo (property names and values are case-sensitive).",
        )
    groups: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        groups[item.prop("build.number")].append(item)
    number = max(groups, key=lambda n: max(i.created for i in groups[n]))
    if len(groups) > 1:
        ctx.runner.info(f"{len(groups)} builds carry {wanted}; taking the newest, #{number}.")
    chosen, build_name = groups[number], groups[number][0].prop("build.name")
    if not (number and build_name):
        ctx.runner.info(f"The files with {wanted} name no build: each is checked against the server's sha256 only.")
        return chosen, number, f"files with {wanted}"
    return (
        verified_items(ctx.client, repo, chosen, (build_name, number), settings.project),
        number,
        f"files with {wanted}",
    )


def common_folder(items: list[Item]) -> str:
    return posixpath.commonpath([posixpath.dirname(i.repo_path) or "." for i in items]) if items else ""


def _destination(ctx: StageContext) -> Path:
    folder = ctx.settings.download_dir
    workspace = ctx.settings.github.workspace
    return folder if folder.is_absolute() or workspace is None else workspace / folder


def _fetch_verified(
    ctx: StageContext, items: list[Item], destination: Path, root: str, handover: Handover
) -> tuple[tuple[ResolvedFile, ...], Verified]:
    """verify-signature: download beside download-dir, check model.sig, then move in (`stages.signing`)."""
    fetched: list[ResolvedFile] = []

    def fetch(item: Item, folder: Path) -> tuple[str, bool]:
        file = _fetch(ctx, item, folder, root, handover)
        fetched.append(file)
        return file.relative, file.downloaded

    relatives = [_relative(item, root) for item in items]
    verified = signing.fetch_verified(ctx, items, relatives, destination, fetch)
    return tuple(fetched), verified


def _relative(item: Item, root: str) -> str:
    return str(PurePosixPath(item.repo_path).relative_to(root)) if root not in ("", ".") else item.repo_path


def _fetch(ctx: StageContext, item: Item, destination: Path, root: str, handover: Handover) -> ResolvedFile:
    relative = _relative(item, root)
    local = destination / relative
    if not local.resolve().is_relative_to(destination.resolve()):
        raise ResolveError(f"{item.repo_path} would be written outside download-dir.", fix="Check the files' paths.")
    if is_current(local, item):
        return ResolvedFile(item.repo_path, relative, item.size, item.sha256, downloaded=False)
    if not ctx.settings.dry_run:
        progress = Progress(ctx.runner, relative, item.size) if item.size >= PROGRESS_MIN_SIZE else None
        handover.make_folders(local.parent)
        download_item(ctx.client, item, local, progress=progress.advance if progress else lambda _n: None)
        handover.file(local)
    return ResolvedFile(item.repo_path, relative, item.size, item.sha256, downloaded=True)
