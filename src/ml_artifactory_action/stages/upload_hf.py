"""upload to a Hugging Face (`huggingfaceml`) repository: one revision, through the Hugging Face protocol.

`model-name` is the model's `organization/name`, the revision is `model-version`, else the commit
being built (JFrog recommends a git commit id). Contents the server already holds are not sent
(the LFS batch API says which). After the commit the stored files get the run's properties, so
build-info, promotion and resolve treat them like any other upload; `snapshot_download` or
`from_pretrained` with `HF_ENDPOINT` on the repository get exactly these files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ml_artifactory_action.artifactory import deploy, storage
from ml_artifactory_action.artifactory import huggingface as hf
from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.properties import Properties
from ml_artifactory_action.artifactory.search import Item
from ml_artifactory_action.errors import ArtifactoryError, ConfigError, IntegrityError
from ml_artifactory_action.model.files import ModelFile
from ml_artifactory_action.model.hash_cache import HashCache
from ml_artifactory_action.runner import Runner, human_size
from ml_artifactory_action.settings import Settings
from ml_artifactory_action.stages.upload_result import UploadedArtifact
from ml_artifactory_action.stages.uploader import cached_sha256

MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def target_of(settings: Settings, repo: str) -> hf.HfTarget:
    """The model and revision this run publishes; ConfigError naming the input that is unusable."""
    model_id = settings.effective_model_name
    if not MODEL_ID.fullmatch(model_id) or model_id.endswith(".git"):
        raise ConfigError(
            "model-name",
            f"{model_id!r} is not a Hugging Face model id: {repo} is a Hugging Face repository",
            fix="Set model-name to 'organization/name' (letters, digits, '.', '_' and '-').",
        )
    revision = settings.model_version or settings.github.sha or settings.effective_model_version
    if not REVISION.fullmatch(revision):
        raise ConfigError(
            "model-version",
            f"{revision!r} cannot name a Hugging Face revision in Artifactory",
            fix="Use letters, digits, '.', '_' and '-' (a git commit id is what JFrog recommends).",
        )
    return hf.HfTarget(repo, model_id, revision)


def model_path(settings: Settings) -> str:
    """The model's folder in the repository (each revision is a folder `<revision>_<commit time>` in it)."""
    return target_of(settings, settings.repo).base


def publish(
    client: ArtifactoryClient,
    settings: Settings,
    runner: Runner,
    files: Sequence[ModelFile],
    *,
    props: Properties,
    file_props: Mapping[str, Properties],
    cache: HashCache,
) -> tuple[str, list[UploadedArtifact]]:
    """Commit the files as one revision (or, in a dry run, say what would be sent)."""
    repo = hf.deployment_repo(client, settings.repo)
    if repo is None:
        raise ConfigError(
            "repo",
            f"{settings.repo!r} is a virtual repository without a default deployment repository",
            fix="Set its default deployment repository in Artifactory, or set repo to a local Hugging Face repository.",
        )
    target = target_of(settings, repo)
    hf_files = [hf.HfFile(f.relative, f.local, f.size, cached_sha256(f, cache)) for f in files]
    runner.info(f"Publishing {target.repo_id} revision {target.revision} to {target.repo} (Hugging Face protocol)")
    wanted = hf.missing_objects(client, target, hf_files)
    if settings.dry_run:
        return _dry_run(client, target, hf_files, wanted, runner)
    unchanged = _unchanged_revision(client, target, hf_files)
    if unchanged is not None:
        folder, stored = unchanged
        runner.info(f"{target.repo}/{folder} already holds exactly these files: nothing to commit")
        _set_properties(client, target.repo, folder, hf_files, props=props, file_props=file_props)
        return folder, _artifacts(client, hf_files, stored, folder, set(), present=True)
    modes = hf.upload_modes(client, target, hf_files)
    lfs = [f for f in hf_files if modes[f.path] == "lfs" and f.size > 0]
    to_send = [f for f in lfs if f.sha256 in wanted]
    for file in (f for f in lfs if f.sha256 not in wanted):
        runner.info(f"Deduplicated {file.path} ({human_size(file.size)}): the server had its content")
    done: list[hf.HfFile] = []
    deploy.deploy_each(  # nothing to send is no work: deploy_each starts no pool for it
        lambda f: _send(client, wanted[f.sha256], f, runner),
        to_send,
        workers=settings.max_workers,
        done=done,
        name=lambda f: str(f.local),
    )
    regular = [f for f in hf_files if f not in lfs]
    sha = hf.commit(client, target, f"Upload {target.repo_id} {target.revision}", regular, lfs)
    folder, stored = hf.revision_items(client, target)
    runner.info(f"Committed {target.repo_id}@{target.revision} as {sha} in {target.repo}/{folder}")
    _set_properties(client, target.repo, folder, hf_files, props=props, file_props=file_props)
    sent = {f.sha256 for f in to_send} | {f.sha256 for f in regular}
    return folder, _artifacts(client, hf_files, stored, folder, sent)


def _unchanged_revision(
    client: ArtifactoryClient, target: hf.HfTarget, files: Sequence[hf.HfFile]
) -> tuple[str, list[Item]] | None:
    """The revision's newest commit, when it holds exactly these files (a re-run changes nothing)."""
    try:
        folder, stored = hf.revision_items(client, target)
    except ArtifactoryError:
        return None  # no such revision yet
    held = {item.repo_path[len(folder) + 1 :]: item.sha256 for item in stored}
    return (folder, stored) if held == {f.path: f.sha256 for f in files} else None


def _set_properties(
    client: ArtifactoryClient,
    repo: str,
    folder: str,
    files: Sequence[hf.HfFile],
    *,
    props: Properties,
    file_props: Mapping[str, Properties],
) -> None:
    hf.set_properties(client, repo, folder, props)
    for file in files:
        extra = file_props.get(str(file.local))
        if extra:
            hf.set_properties(client, repo, f"{folder}/{file.path}", extra)


def _send(client: ArtifactoryClient, href: str, file: hf.HfFile, runner: Runner) -> hf.HfFile:
    hf.send_object(client, href, file)
    runner.info(f"Uploaded {file.path} ({human_size(file.size)}, sha256 {file.sha256[:12]})")
    return file


def _artifacts(
    client: ArtifactoryClient,
    files: Sequence[hf.HfFile],
    stored: Sequence[Item],
    folder: str,
    sent: set[str],
    *,
    present: bool = False,
) -> list[UploadedArtifact]:
    """What the revision holds for each file; IntegrityError if the server stored other content."""
    by_path = {item.repo_path[len(folder) + 1 :]: item for item in stored}
    artifacts = []
    for file in files:
        item = by_path.get(file.path)
        if item is None or item.sha256 != file.sha256:
            found = "nothing" if item is None else f"sha256 {item.sha256}"
            raise IntegrityError(
                f"{file.path}: the committed revision holds {found} instead of sha256 {file.sha256}",
                fix="Retry the run; if it happens again, a proxy or the server is altering uploads.",
            )
        url = storage.download_url(client, item.repo, item.repo_path)
        artifacts.append(
            UploadedArtifact.stored(item, url, local_path=str(file.local), sent=file.sha256 in sent, present=present)
        )
    return sorted(artifacts, key=lambda a: a.path)


def _dry_run(
    client: ArtifactoryClient,
    target: hf.HfTarget,
    files: Sequence[hf.HfFile],
    wanted: Mapping[str, str],
    runner: Runner,
) -> tuple[str, list[UploadedArtifact]]:
    folder = f"{target.base}/{target.revision}_<commit time>"
    artifacts = []
    for file in files:
        path = f"{folder}/{file.path}"
        sent = file.sha256 in wanted
        verb = "would be uploaded" if sent else "the server has its content: nothing would be sent"
        runner.info(f"Dry run: {path} ({human_size(file.size)}): {verb}")
        url = storage.download_url(client, target.repo, path)
        artifacts.append(
            UploadedArtifact(str(file.local), target.repo, path, file.size, "", file.sha256, "", url, sent)
        )
    return folder, artifacts
