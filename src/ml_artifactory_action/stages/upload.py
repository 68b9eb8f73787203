"""The upload stage: the model's files into Artifactory, fast, checked, and exactly once.

Before a byte leaves, the files are selected and scanned for code that runs on load. Then one AQL
query tells which contents the server may already hold (by size, or by checksum when it is known
locally) and what the target paths hold. A file whose size nobody on the server has cannot be
there: it is streamed while it is hashed. Any other file is hashed first (or its checksum taken
from the local cache) and deployed by checksum, sending no bytes when the server has it.
If any file fails, the files this run created are deleted again and the stage fails.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ml_artifactory_action.artifactory import deploy, storage
from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.models import METRIC_PREFIX, metric_key
from ml_artifactory_action.artifactory.properties import Properties, from_mapping, merge
from ml_artifactory_action.artifactory.search import StoredItem, known_files
from ml_artifactory_action.errors import ActionError, ArtifactoryError, ConfigError, ModelFilesError, UnsafeModelError
from ml_artifactory_action.model.checksums import sha256_file
from ml_artifactory_action.model.files import ModelFile, detect_frameworks, render_target, select_files, target_of
from ml_artifactory_action.model.findings import ScanReport
from ml_artifactory_action.model.hash_cache import FileKey, HashCache
from ml_artifactory_action.runner import Progress, Runner, human_size
from ml_artifactory_action.settings import Settings, Stage
from ml_artifactory_action.stages.context import StageContext

# Smaller files are hashed before asking the server: cheaper than a size lookup, and exact.
SMALL_FILE = 1 << 20
# Files this big get a progress line every PROGRESS_INTERVAL seconds.
PROGRESS_MIN_SIZE = 64 << 20
PROGRESS_INTERVAL = 5.0
# Property keys Artifactory accepts (as properties.py checks the user's); others become '_'.


@dataclass(frozen=True)
class UploadedArtifact:
    """One file of the model as it is (or, in a dry run, would be) stored."""

    local_path: str
    repo: str
    path: str
    size: int
    sha1: str
    sha256: str
    md5: str
    download_uri: str
    sent: bool  # bytes were sent; False: deployed by checksum (deduplicated)
    already_present: bool = False  # the target held this content before the run

    def as_output(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "download_url": self.download_uri,
        }


@dataclass(frozen=True)
class UploadResult:
    """What the upload stage did, for outputs, the report and build-publish."""

    repo: str
    folder: str
    model_url: str
    artifacts: tuple[UploadedArtifact, ...]
    properties: Properties
    build_timestamp: str
    dry_run: bool = False

    @property
    def uploaded_bytes(self) -> int:
        return sum(a.size for a in self.artifacts if a.sent)

    @property
    def deduplicated_files(self) -> int:
        return sum(not a.sent for a in self.artifacts)

    def summary_markdown(self) -> str:
        """The step summary's upload section: one row per file."""
        verb = "would be uploaded" if self.dry_run else "uploaded"
        lines = [
            f"### Model files {verb} to `{self.repo}/{self.folder}`",
            "",
            "| File | Size | SHA-256 | Transfer |",
            "| --- | ---: | --- | --- |",
        ]
        lines += [_summary_row(a, self.folder, dry_run=self.dry_run) for a in self.artifacts]
        sent = human_size(self.uploaded_bytes)
        lines += [
            "",
            f"{len(self.artifacts)} files, {sent} {'to send' if self.dry_run else 'sent'}, "
            f"{self.deduplicated_files} deduplicated. [Browse]({self.model_url})",
        ]
        return "\n".join(lines) + "\n"


def _summary_row(artifact: UploadedArtifact, folder: str, *, dry_run: bool) -> str:
    name = artifact.path.removeprefix(folder.rstrip("/") + "/") if folder else artifact.path
    if dry_run:
        transfer = (
            "already there" if artifact.already_present else "would send" if artifact.sent else "would deduplicate"
        )
    else:
        transfer = "sent" if artifact.sent else "deduplicated"
    short = f"`{artifact.sha256[:12]}`" if artifact.sha256 else "-"
    return f"| [{name}]({artifact.download_uri}) | {human_size(artifact.size)} | {short} | {transfer} |"


@dataclass
class FilePlan:
    """One file's way to the server, decided from what the server already holds."""

    file: ModelFile
    path: str  # in the repository
    key: FileKey
    sha256: str | None = None
    at_target: StoredItem | None = None
    server_sizes: frozenset[int] = frozenset()
    server_sha256s: frozenset[str] = frozenset()

    @property
    def may_be_on_server(self) -> bool:
        return self.sha256 is not None or self.file.size in self.server_sizes

    @property
    def on_server(self) -> bool:
        return self.sha256 is not None and self.sha256 in self.server_sha256s


def run(ctx: StageContext) -> UploadResult:
    settings, runner = ctx.settings, ctx.runner
    folder = target_folder(settings)
    files = select_files(settings.model_path, settings.github.workspace or Path.cwd())
    runner.info(f"Selected {len(files)} files, {human_size(sum(f.size for f in files))}")
    check_safety(files, settings, runner)
    single = _single_target(settings, files)
    props = upload_properties(settings, files, ctx.state.get(Stage.GATE), ctx.state.build_timestamp, runner)
    client = ctx.client
    storage.require_deployable(client, settings.repo)
    cache = HashCache(settings.hash_cache_dir)
    try:
        plans = [_plan(f, single or target_of(folder, f), cache) for f in files]
        _learn_what_server_holds(client, settings.repo, plans)
        uploader = Uploader(client, settings.repo, props, cache, runner)
        artifacts = uploader.dry_run(plans) if settings.dry_run else uploader.deploy_all(plans, settings.max_workers)
    finally:
        _save(cache, runner)
    result = UploadResult(
        repo=settings.repo,
        folder=single or folder,
        model_url=storage.download_url(client, settings.repo, single or folder),
        artifacts=tuple(artifacts),
        properties=props,
        build_timestamp=ctx.state.build_timestamp,
        dry_run=settings.dry_run,
    )
    if not settings.dry_run:
        set_outputs(runner, result)
    return result


# Safety -------------------------------------------------------------------------------------
def check_safety(files: Sequence[ModelFile], settings: Settings, runner: Runner) -> None:
    """Scan every file's content; an unsafe one stops the stage unless allow-unsafe-pickle."""
    from ml_artifactory_action.model.safety import scan_files  # noqa: PLC0415  picklescan loads only here

    reports = scan_files([f.local for f in files], allowed_globals=frozenset(settings.allowed_globals))
    unsafe = [r for r in reports if not r.safe]
    if not unsafe:
        return
    details = "; ".join(_describe(r) for r in unsafe)
    if settings.allow_unsafe_pickle:
        runner.warning("Unsafe model files uploaded", f"allow-unsafe-pickle is set, uploading anyway: {details}")
        return
    raise UnsafeModelError(
        f"{len(unsafe)} of {len(files)} model files would run code when loaded, so nothing was uploaded: {details}",
        fix="Save the model in a format that cannot run code (safetensors, ONNX, GGUF), or, if you trust these "
        "globals, list them in allowed-globals (allow-unsafe-pickle: true uploads anyway).",
    )


def _describe(report: ScanReport) -> str:
    names = sorted({f.global_name for f in report.findings})
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


# Planning ------------------------------------------------------------------------------------
def _plan(file: ModelFile, path: str, cache: HashCache) -> FilePlan:
    key = FileKey.of(file.local)
    sha256 = cache.get(key)
    if sha256 is None and file.size < SMALL_FILE:
        sha256 = sha256_file(file.local)
        cache.put(key, sha256)
    return FilePlan(file=file, path=path, key=key, sha256=sha256)


def _learn_what_server_holds(client: ArtifactoryClient, repo: str, plans: list[FilePlan]) -> None:
    found = known_files(
        client,
        sizes=[p.file.size for p in plans if p.sha256 is None],
        sha256s=[p.sha256 for p in plans if p.sha256 is not None],
        repo=repo,
        paths=[p.path for p in plans],
    )
    sizes = frozenset(item.size for item in found)
    sha256s = frozenset(item.sha256 for item in found if item.sha256)
    at = {item.path: item for item in found if item.repo == repo}
    for plan in plans:
        plan.server_sizes, plan.server_sha256s, plan.at_target = sizes, sha256s, at.get(plan.path)


# Deploying -----------------------------------------------------------------------------------
@dataclass
class Uploader:
    """Deploys planned files to one repository with one set of properties."""

    client: ArtifactoryClient
    repo: str
    props: Properties
    cache: HashCache
    runner: Runner

    def deploy_all(self, plans: list[FilePlan], workers: int) -> list[UploadedArtifact]:
        """Deploy every file; on any failure remove what this run created, then raise."""
        done: list[UploadedArtifact] = []
        try:
            deploy.deploy_each(self.deploy_one, plans, workers=workers, done=done, name=lambda p: str(p.file.local))
        except BaseException as error:
            cleanup = self.remove_created(plans, done)
            if isinstance(error, ActionError):
                deploy.reword(error, f"{error.message.rstrip('.')}. {cleanup}.")
            raise
        return sorted(done, key=lambda a: a.path)

    def deploy_one(self, plan: FilePlan) -> UploadedArtifact:
        if plan.sha256 is None and plan.may_be_on_server:
            plan.sha256 = self.hash(plan)
        if plan.on_server and plan.sha256 is not None:
            answer = deploy.deploy_by_checksum(
                self.client, self.repo, plan.path, sha256=plan.sha256, size=plan.file.size, props=self.props
            )
            if answer is not None:
                self.runner.info(f"Deduplicated {plan.path} ({human_size(plan.file.size)}): the server had its content")
                return _artifact(plan, answer, sent=False)
        answer, sha256 = self.send(plan)
        _check_unchanged(plan)
        self.cache.put(plan.key, sha256)
        plan.sha256 = sha256
        return _artifact(plan, answer, sent=True)

    def hash(self, plan: FilePlan) -> str:
        progress = _progress(self.runner, f"Hashing {plan.file.relative}", plan.file.size)
        sha256 = sha256_file(plan.file.local, progress.advance if progress else None)
        self.cache.put(plan.key, sha256)
        return sha256

    def send(self, plan: FilePlan) -> tuple[deploy.Deployed, str]:
        progress = _progress(self.runner, f"Uploading {plan.file.relative}", plan.file.size)
        answer, sha256 = deploy.deploy_file(
            self.client,
            self.repo,
            plan.path,
            local=plan.file.local,
            size=plan.file.size,
            props=self.props,
            sha256=plan.sha256,
            on_block=progress.advance if progress else None,
            on_attempt=progress.restart if progress else None,
        )
        self.runner.info(f"Uploaded {plan.path} ({human_size(plan.file.size)}, sha256 {sha256[:12]})")
        return answer, sha256

    def remove_created(self, plans: list[FilePlan], done: list[UploadedArtifact]) -> str:
        """Delete what this run created (not what the target held before); say what happened."""
        before = {p.path for p in plans if p.at_target is not None}
        created = [a for a in done if a.path not in before]
        failed = []
        for artifact in created:
            try:
                storage.delete_item(self.client, artifact.repo, artifact.path)
            except ArtifactoryError:
                failed.append(f"{artifact.repo}/{artifact.path}")
        if failed:
            return f"Could not remove the files this run had uploaded: {', '.join(failed)}; delete them by hand"
        if created:
            return f"Removed the {len(created)} files this run had uploaded, so nothing is half-uploaded"
        return "Nothing of this run was left on the server"

    def dry_run(self, plans: list[FilePlan]) -> list[UploadedArtifact]:
        """What a real run would do, file by file; nothing is sent or changed."""
        artifacts = []
        for plan in plans:
            if plan.sha256 is None:
                plan.sha256 = self.hash(plan)
            artifact = _planned_artifact(plan, storage.download_url(self.client, self.repo, plan.path), self.repo)
            self.runner.info(f"Dry run: {plan.path} ({human_size(plan.file.size)}): {_dry_verb(artifact)}")
            artifacts.append(artifact)
        return artifacts


def _progress(runner: Runner, label: str, size: int) -> Progress | None:
    return Progress(runner, label, size, PROGRESS_INTERVAL) if size >= PROGRESS_MIN_SIZE else None


def _check_unchanged(plan: FilePlan) -> None:
    if FileKey.of(plan.file.local) != plan.key:
        raise ModelFilesError(
            "changed while it was being uploaded",
            fix="Do not change model files while the action uploads them; write the model, then upload it.",
        )


def _artifact(plan: FilePlan, answer: deploy.Deployed, *, sent: bool) -> UploadedArtifact:
    present = plan.at_target is not None and plan.at_target.sha256 == answer.sha256
    return UploadedArtifact(
        local_path=str(plan.file.local),
        repo=answer.repo,
        path=answer.path,
        size=plan.file.size,
        sha1=answer.sha1,
        sha256=answer.sha256,
        md5=answer.md5,
        download_uri=answer.download_uri,
        sent=sent,
        already_present=present,
    )


def _planned_artifact(plan: FilePlan, url: str, repo: str) -> UploadedArtifact:
    item = plan.at_target
    present = item is not None and item.sha256 == plan.sha256
    return UploadedArtifact(
        local_path=str(plan.file.local),
        repo=repo,
        path=plan.path,
        size=plan.file.size,
        sha1=item.sha1 if item is not None and present else "",
        sha256=plan.sha256 or "",
        md5=item.md5 if item is not None and present else "",
        download_uri=url,
        sent=not plan.on_server,
        already_present=present,
    )


def _dry_verb(artifact: UploadedArtifact) -> str:
    if artifact.already_present:
        return "already there with the same content"
    return "would be sent" if artifact.sent else "would be deduplicated (the server has its content)"


# Outputs -------------------------------------------------------------------------------------
def set_outputs(runner: Runner, result: UploadResult) -> None:
    runner.set_output("artifacts", json.dumps([a.as_output() for a in result.artifacts]))
    runner.set_output("model-url", result.model_url)
    if len(result.artifacts) == 1:
        runner.set_output("model-sha256", result.artifacts[0].sha256)
    runner.set_output("uploaded-bytes", str(result.uploaded_bytes))
    runner.set_output("deduplicated-files", str(result.deduplicated_files))


def _save(cache: HashCache, runner: Runner) -> None:
    try:
        cache.save()
    except OSError as exc:
        runner.warning("Hash cache not saved", f"hash-cache-dir could not be written: {exc}")
