"""The upload stage: the model's files into Artifactory, fast, checked, and exactly once.

Before a byte leaves, the files are selected and scanned for code that runs on load, and the
properties every file carries are settled. Then one AQL query tells which contents the server may
already hold and what the target paths hold, and `uploader.Uploader` deploys each file exactly once
(see there). The result and its outputs are in `upload_result`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ml_artifactory_action.artifactory import huggingface, ml_repo, storage
from ml_artifactory_action.artifactory.models import METRIC_PREFIX, metric_key
from ml_artifactory_action.artifactory.properties import Properties, from_mapping, merge
from ml_artifactory_action.errors import ConfigError, UnsafeModelError
from ml_artifactory_action.handover import Handover
from ml_artifactory_action.model.files import ModelFile, detect_frameworks, render_target, select_files, target_of
from ml_artifactory_action.model.findings import ScanReport
from ml_artifactory_action.model.hash_cache import HashCache
from ml_artifactory_action.model.pickle_policy import refusal_advice
from ml_artifactory_action.runner import Runner, human_size
from ml_artifactory_action.settings import Settings, Stage
from ml_artifactory_action.stages import signing, upload_bom, upload_card, upload_hf, upload_ml
from ml_artifactory_action.stages.context import StageContext
from ml_artifactory_action.stages.upload_result import (
    CANNOT_BE_CHECKED,
    UNSAFE_GLOBALS_PROPERTY,
    UploadedArtifact,
    UploadResult,
    flag_unsafe,
    set_outputs,
    unsafe_globals_properties,
)
from ml_artifactory_action.stages.upload_targets import check_targets
from ml_artifactory_action.stages.uploader import SMALL_FILE, Uploader, learn_what_server_holds, plan_file

__all__ = ["SMALL_FILE", "UploadResult", "UploadedArtifact", "check_safety", "run", "set_outputs", "upload_properties"]


def preflight(ctx: StageContext) -> None:
    """Before any stage runs: what signing needs from the job (an ID token for sigstore)."""
    signing.preflight_upload(ctx)


def run(ctx: StageContext) -> UploadResult:
    settings, runner = ctx.settings, ctx.runner
    files = select_files(
        settings.model_path, settings.github.workspace or Path.cwd(), outside_allowed=not settings.github.in_actions
    )
    runner.info(f"Selected {len(files)} files, {human_size(sum(f.size for f in files))}")
    unsafe = check_safety(files, settings, runner)
    single = _single_target(settings, files)
    repository = storage.require_deployable(ctx.client, settings.repo)
    props = upload_properties(settings, files, ctx.state.get(Stage.GATE), ctx.state.build_timestamp, runner)
    cache = HashCache(settings.hash_cache_dir, Handover.for_workspace(settings.github.workspace))
    try:
        with tempfile.TemporaryDirectory(prefix="ml-artifactory-upload-") as scratch:
            # the card and the BOM come before signing: they are signed too
            files = upload_card.with_card(ctx, files, repository, single, Path(scratch))
            files = upload_bom.with_bom(ctx, files, repository, props=props, cache=cache, scratch=Path(scratch))
            sign_boms = upload_bom.in_selection(repository)
            with signing.signed_selection(ctx, files, single, sign_boms=sign_boms) as (selection, signed):
                folder, artifacts = _publish(ctx, selection, single, unsafe, repository, props=props, cache=cache)
    finally:
        _save(cache, runner)
    result = UploadResult(
        repo=settings.repo,
        folder=folder,
        model_url=storage.download_url(ctx.client, settings.repo, folder),
        artifacts=tuple(flag_unsafe(a, unsafe) for a in artifacts),
        properties=props,
        build_timestamp=ctx.state.build_timestamp,
        dry_run=settings.dry_run,
        signed_by=signed.signer if signed else "",
    )
    if not settings.dry_run:
        set_outputs(runner, result)
    return result


def _publish(
    ctx: StageContext,
    files: Sequence[ModelFile],
    single: str,
    unsafe: dict[Path, tuple[str, ...]],
    repository: storage.Repository,
    *,
    props: Properties,
    cache: HashCache,
) -> tuple[str, Sequence[UploadedArtifact]]:
    """Send the files the way the repository's kind takes them: (the model's folder or file, the stored files).

    Hugging Face: one revision of `model-name`; JFrog ML: one version of it; else each file deployed.
    """
    settings, runner, client = ctx.settings, ctx.runner, ctx.client
    file_props = unsafe_globals_properties(unsafe)
    if repository.package_type == huggingface.PACKAGE_TYPE:
        return upload_hf.publish(client, settings, runner, files, props=props, file_props=file_props, cache=cache)
    if repository.package_type == ml_repo.PACKAGE_TYPE:
        return upload_ml.publish(ctx, files, props, cache, file_props=file_props)
    folder = target_folder(settings)
    plans = [plan_file(f, single or target_of(folder, f), cache) for f in files]
    learn_what_server_holds(client, settings.repo, plans)
    uploader = Uploader(client, settings.repo, props, cache, runner, file_props, settings.overwrite)
    check_targets(plans, overwrite=settings.overwrite, hash_file=uploader.hash, runner=runner)
    artifacts = uploader.dry_run(plans) if settings.dry_run else uploader.deploy_all(plans, settings.max_workers)
    return single or folder, artifacts


# Safety -------------------------------------------------------------------------------------
def check_safety(files: Sequence[ModelFile], settings: Settings, runner: Runner) -> dict[Path, tuple[str, ...]]:
    """Scan every file's content; an unsafe one stops the stage unless allow-unsafe-pickle.

    Returns the unsafe files uploaded anyway (allow-unsafe-pickle) with the globals they import.
    """
    from ml_artifactory_action.model.safety import scan_files  # noqa: PLC0415  picklescan loads only here

    reports = scan_files([f.local for f in files], allowed_globals=frozenset(settings.allowed_globals))
    unsafe = [r for r in reports if not r.safe]
    if not unsafe:
        return {}
    details = "; ".join(_describe(r) for r in unsafe)
    if settings.allow_unsafe_pickle:
        runner.warning(
            "Unsafe model files uploaded",
            f"allow-unsafe-pickle is set, uploading anyway: {details}. "
            f"Each carries the property {UNSAFE_GLOBALS_PROPERTY}; review them before promoting.",
        )
        return {r.path: _unsafe_names(r) for r in unsafe}
    raise UnsafeModelError(
        f"{len(unsafe)} of {len(files)} model files would run code when loaded, so nothing was uploaded: {details}",
        fix=refusal_advice(finding for report in unsafe for finding in report.findings),
    )


def _unsafe_names(report: ScanReport) -> tuple[str, ...]:
    return tuple(sorted({f.global_name for f in report.findings})) or (CANNOT_BE_CHECKED,)


def _describe(report: ScanReport) -> str:
    names = sorted({f"{f.global_name} ({f.severity})" for f in report.findings if f.severity != "unreadable"})
    if report.error and not names:
        return f"{report.path}: cannot be checked ({report.error})"
    return f"{report.path}: {', '.join(names) or 'unsafe content'}"


# Target and properties -----------------------------------------------------------------------
def target_folder(settings: Settings) -> str:
    """target-path with {model-name} and {model-version} filled in."""
    return render_target(settings.target_path, settings.effective_model_name, settings.effective_model_version)


def _single_target(settings: Settings, files: Sequence[ModelFile]) -> str:
    """As the JFrog CLI does: a target without a trailing '/' is the file's own path, for one file."""
    if len(files) != 1 or settings.target_path.endswith("/"):
        return ""
    return target_folder(settings)


def upload_properties(
    settings: Settings, files: Sequence[ModelFile], gate: Any, timestamp: str, runner: Runner
) -> Properties:
    """Build, VCS, model and metric properties, then the user's (which win on the same key)."""
    github = settings.github
    owner, _, name = github.repository.partition("/")
    auto = {
        "build.name": settings.effective_build_name,
        "build.number": settings.effective_build_number,
        "build.timestamp": timestamp,
        "vcs.provider": "github" if github.repository else "",
        "vcs.org": owner,
        "vcs.repo": name,
        "vcs.url": github.repository_url,
        "vcs.revision": github.sha,
        "vcs.branch": github.ref_name,
        "ci.run.url": github.run_url,
        "model.name": settings.effective_model_name,
        "model.version": settings.effective_model_version,
    }
    frameworks = detect_frameworks(files)
    model_format: Properties = (("model.framework", frameworks),) if frameworks else ()
    props = merge(from_mapping(auto), model_format, _metric_properties(gate), settings.properties)
    _refuse_secrets(props, runner)
    return props


def _metric_properties(gate: Any) -> Properties:
    metrics = getattr(gate, "metrics", None)
    if not isinstance(metrics, dict):
        return ()
    return tuple(
        (METRIC_PREFIX + metric_key(str(metric)), (repr(float(value)),))
        for metric, value in sorted(metrics.items())
        if isinstance(value, int | float)
    )


def _refuse_secrets(props: Properties, runner: Runner) -> None:
    for key, values in props:
        if any(runner.redact(v) != v for v in values):
            raise ConfigError(
                "properties",
                f"the value of {key!r} contains a secret (it is masked in this run)",
                fix="Properties are readable by everyone who can read the repository: never put tokens in them.",
            )


def _save(cache: HashCache, runner: Runner) -> None:
    try:
        cache.save()
    except OSError as exc:
        runner.warning("Hash cache not saved", f"hash-cache-dir could not be written: {exc}")
