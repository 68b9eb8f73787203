"""Planning and deploying the upload: what the server already holds, then each file exactly once.

A file whose size nobody on the server has cannot be there: it is streamed while it is hashed. Any
other file is hashed first (or its checksum taken from the local cache) and deployed by checksum,
sending no bytes when the server has it. What the target paths may hold, and what a failed upload
leaves there, is `upload_targets`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ml_artifactory_action.artifactory import deploy, storage
from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.properties import Properties, merge
from ml_artifactory_action.artifactory.search import Item, known_files
from ml_artifactory_action.errors import ActionError, ArtifactoryError, ModelFilesError
from ml_artifactory_action.model.checksums import sha256_file
from ml_artifactory_action.model.files import ModelFile
from ml_artifactory_action.model.hash_cache import FileKey, HashCache
from ml_artifactory_action.runner import Progress, Runner, human_size
from ml_artifactory_action.stages import upload_targets as targets
from ml_artifactory_action.stages.upload_result import UploadedArtifact, dry_verb

# Smaller files are hashed before asking the server: cheaper than a size lookup, and exact.
SMALL_FILE = 1 << 20
# Files this big get a progress line every PROGRESS_INTERVAL seconds.
PROGRESS_MIN_SIZE = 64 << 20
PROGRESS_INTERVAL = 5.0


@dataclass
class FilePlan:
    """One file's way to the server, decided from what the server already holds."""

    file: ModelFile
    path: str  # in the repository
    key: FileKey
    sha256: str | None = None
    at_target: Item | None = None
    server_sizes: frozenset[int] = frozenset()
    server_sha256s: frozenset[str] = frozenset()

    @property
    def may_be_on_server(self) -> bool:
        return self.sha256 is not None or self.file.size in self.server_sizes

    @property
    def on_server(self) -> bool:
        return self.sha256 is not None and self.sha256 in self.server_sha256s

    @property
    def held_before(self) -> str | None:
        """The sha256 the target path held before the run; None when it held nothing."""
        return self.at_target.sha256 if self.at_target is not None else None

    @property
    def replaces_other_content(self) -> bool:
        target = self.at_target
        if target is None:
            return False
        return target.size != self.file.size or (self.sha256 is not None and target.sha256 != self.sha256)


# Planning ------------------------------------------------------------------------------------
def cached_sha256(file: ModelFile, cache: HashCache) -> str:
    """The file's sha256 from the cache, else read (and remembered)."""
    key = FileKey.of(file.local)
    sha256 = cache.get(key) or sha256_file(file.local)
    cache.put(key, sha256)
    return sha256


def plan_file(file: ModelFile, path: str, cache: HashCache) -> FilePlan:
    key = FileKey.of(file.local)
    sha256 = cache.get(key)
    if sha256 is None and file.size < SMALL_FILE:
        sha256 = sha256_file(file.local)
        cache.put(key, sha256)
    return FilePlan(file=file, path=path, key=key, sha256=sha256)


def learn_what_server_holds(client: ArtifactoryClient, repo: str, plans: list[FilePlan]) -> None:
    found = known_files(
        client,
        sizes=[p.file.size for p in plans if p.sha256 is None],
        sha256s=[p.sha256 for p in plans if p.sha256 is not None],
        repo=repo,
        paths=[p.path for p in plans],
    )
    sizes = frozenset(item.size for item in found)
    sha256s = frozenset(item.sha256 for item in found if item.sha256)
    at = {item.repo_path: item for item in found if item.repo == repo}
    for plan in plans:
        plan.server_sizes, plan.server_sha256s, plan.at_target = sizes, sha256s, at.get(plan.path)


# Deploying -----------------------------------------------------------------------------------
@dataclass
class Uploader:
    """Deploys planned files to one repository with one set of properties (plus a file's own)."""

    client: ArtifactoryClient
    repo: str
    props: Properties
    cache: HashCache
    runner: Runner
    file_props: Mapping[str, Properties] = field(default_factory=dict)  # by local path
    overwrite: bool = False

    def props_of(self, plan: FilePlan) -> Properties:
        return merge(self.props, self.file_props.get(str(plan.file.local), ()))

    def deploy_all(self, plans: list[FilePlan], workers: int) -> list[UploadedArtifact]:
        """Deploy every file; on any failure remove what this run created, then raise."""
        done: list[UploadedArtifact] = []
        try:
            deploy.deploy_each(self.deploy_one, plans, workers=workers, done=done, name=lambda p: str(p.file.local))
            targets.confirm_stored(self.client, self.repo, {a.path: a.sha256 for a in done})
        except BaseException as error:
            cleanup = self.clean_up(plans, done)
            if isinstance(error, ActionError):
                deploy.reword(error, f"{error.message.rstrip('.')}. {cleanup}.")
            raise
        return sorted(done, key=lambda a: a.path)

    def deploy_one(self, plan: FilePlan) -> UploadedArtifact:
        self.confirm_target(plan)
        if plan.sha256 is None and plan.may_be_on_server:
            plan.sha256 = self.hash(plan)
        if plan.on_server and plan.sha256 is not None:
            answer = deploy.deploy_by_checksum(
                self.client, self.repo, plan.path, sha256=plan.sha256, size=plan.file.size, props=self.props_of(plan)
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
            props=self.props_of(plan),
            sha256=plan.sha256,
            on_block=progress.advance if progress else None,
            on_attempt=progress.restart if progress else None,
        )
        self.runner.info(f"Uploaded {plan.path} ({human_size(plan.file.size)}, sha256 {sha256[:12]})")
        return answer, sha256

    def confirm_target(self, plan: FilePlan) -> None:
        """Just before deploying: the path still holds what it held when planned (or our content).
        With overwrite whatever it holds is replaced, so there is nothing to look at."""
        if self.overwrite:
            return
        now = deploy.stored_sha256(self.client, self.repo, plan.path)
        if now == plan.held_before:
            return
        if now is not None and plan.sha256 is None:
            plan.sha256 = self.hash(plan)  # filled meanwhile: the same content is no conflict
        if now is not None and now == plan.sha256:
            return
        raise targets.taken_meanwhile(self.repo, plan.path, now)

    def clean_up(self, plans: list[FilePlan], done: list[UploadedArtifact]) -> str:
        """Delete the files this run created that still hold its content; say what the server holds."""
        ours = {a.path: a.sha256 for a in done}
        try:
            now = targets.holding(self.client, self.repo, [p.path for p in plans])
        except ArtifactoryError:
            now = dict(ours)  # the server cannot be read: take its own answers as the truth
        outcome = targets.Cleanup()
        for plan in plans:
            outcome.sort(plan.path, plan.held_before, ours.get(plan.path), now.get(plan.path))
        for path in outcome.created:
            try:
                storage.delete_item(self.client, self.repo, path)
                outcome.removed.append(path)
            except ArtifactoryError:
                outcome.failed.append(f"{self.repo}/{path}")
        return outcome.describe()

    def dry_run(self, plans: list[FilePlan]) -> list[UploadedArtifact]:
        """What a real run would do, file by file; nothing is sent or changed."""
        artifacts = []
        for plan in plans:
            if plan.sha256 is None:
                plan.sha256 = self.hash(plan)
            artifact = _planned_artifact(plan, storage.download_url(self.client, self.repo, plan.path), self.repo)
            self.runner.info(f"Dry run: {plan.path} ({human_size(plan.file.size)}): {dry_verb(artifact)}")
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
