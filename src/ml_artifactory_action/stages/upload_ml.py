"""The upload stage for a JFrog ML (`machinelearning`) repository: the model's files become model
version `model-version` of model `model-name`, with its manifest, as frogml's `log_model` makes it.

The files are deployed like generic ones (checksum first, streamed, checked on arrival) into the
folder the transaction hands out; publishing the manifest moves them to `models/<name>/<version>/`.
Versions are immutable: a re-run with the same files finds them published and changes nothing,
other files under an existing version are refused, and a failed upload leaves no transaction behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ml_artifactory_action.artifactory import ml_repo, storage
from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.promotion import deployment_repo
from ml_artifactory_action.artifactory.properties import Properties
from ml_artifactory_action.artifactory.search import Item, known_files
from ml_artifactory_action.errors import ArtifactoryError, ConfigError, IntegrityError
from ml_artifactory_action.model.checksums import sha256_file
from ml_artifactory_action.model.files import ModelFile
from ml_artifactory_action.model.hash_cache import HashCache
from ml_artifactory_action.provenance.signing import SIGNATURE_NAME
from ml_artifactory_action.settings import Settings
from ml_artifactory_action.stages import ai_bom
from ml_artifactory_action.stages.context import StageContext
from ml_artifactory_action.stages.upload_result import UploadedArtifact
from ml_artifactory_action.stages.uploader import FilePlan, Uploader, learn_what_server_holds, plan_file


def model_path(settings: Settings) -> str:
    """The version's folder in the repository, `models/<name>/<version>`."""
    name = ml_repo.check_name(settings.effective_model_name, "model-name")
    version = ml_repo.check_name(settings.effective_model_version, "model-version")
    return ml_repo.version_folder(name, version)


def publish(
    ctx: StageContext,
    files: Sequence[ModelFile],
    props: Properties,
    cache: HashCache,
    *,
    file_props: Mapping[str, Properties],
) -> tuple[str, list[UploadedArtifact]]:
    """(the version folder, its files as stored) after publishing, or planning in a dry run.

    `file_props` are a file's own extra properties, by local path (as for generic repositories).
    """
    settings = ctx.settings
    name = ml_repo.check_name(settings.effective_model_name, "model-name")
    version = ml_repo.check_name(settings.effective_model_version, "model-version")
    folder = ml_repo.version_folder(name, version)
    repo = deployment_repo(ctx.client, settings.repo, "repo")  # a virtual repo publishes into its default
    plans = [plan_file(f, f"{folder}/{f.relative}", cache) for f in files]
    existing = ml_repo.read_manifest(ctx.client, repo, name, version)
    if existing is not None:
        return folder, _already_published(ctx, repo, plans, existing, cache)
    if settings.dry_run:
        learn_what_server_holds(ctx.client, repo, plans)
        ctx.runner.info(f"Dry run: model {name} version {version} would be published to {repo} with its manifest")
        return folder, Uploader(ctx.client, repo, props, cache, ctx.runner, file_props).dry_run(plans)
    return folder, _transaction(
        ctx, files, Uploader(ctx.client, repo, props, cache, ctx.runner, file_props), (name, version)
    )


def _transaction(
    ctx: StageContext, files: Sequence[ModelFile], uploader: Uploader, entity: tuple[str, str]
) -> list[UploadedArtifact]:
    client, repo, (name, version) = ctx.client, uploader.repo, entity
    transaction = ml_repo.start_transaction(client, repo, name, version)
    plans = [plan_file(f, f"{transaction.files_path}/{f.relative}", uploader.cache) for f in files]
    try:
        learn_what_server_holds(client, repo, plans)
        sent = uploader.deploy_all(plans, ctx.settings.max_workers)
        manifest = ml_repo.build_manifest(
            [ml_repo.ManifestFile(p.file.relative, p.file.size, p.sha256 or "") for p in plans],
            transaction.transaction_id,
            ml_repo.serialization_format((f.relative, f.size) for f in files),
        )
        _end(client, repo, entity, transaction, manifest=manifest, properties=_additional_data(uploader.props))
    except BaseException:
        _abandon(ctx, repo, transaction)
        raise
    ctx.runner.info(f"Published model {name} version {version} to {repo} ({len(files)} files and its manifest)")
    by_path = {a.path.removeprefix(transaction.files_path + "/"): a for a in sent}
    return _as_stored(client, repo, entity, by_path)


def _end(
    client: ArtifactoryClient,
    repo: str,
    entity: tuple[str, str],
    transaction: ml_repo.Transaction,
    *,
    manifest: dict[str, Any],
    properties: dict[str, str],
) -> None:
    """Publish the manifest. When an answer was lost and the retry finds the transaction closed
    (404) or the version there (409), the version is published if it lists exactly our files."""
    name, version = entity
    try:
        ml_repo.publish_manifest(
            client, repo, name, version, transaction=transaction, manifest=manifest, properties=properties
        )
    except ArtifactoryError as exc:
        stored = ml_repo.read_manifest(client, repo, name, version) if exc.status in (404, 409) else None
        if stored is None or ml_repo.manifest_files(stored) != ml_repo.manifest_files(manifest):
            raise


def _abandon(ctx: StageContext, repo: str, transaction: ml_repo.Transaction) -> None:
    """Remove the unfinished transaction's uploads; the error on its way up says what failed."""
    try:
        storage.delete_item(ctx.client, repo, transaction.lead_path)
    except ArtifactoryError as exc:
        ctx.runner.warning(
            "Unfinished upload left behind",
            f"{repo}/{transaction.lead_path} could not be removed ({exc.message}); delete it by hand",
        )


def _already_published(
    ctx: StageContext, repo: str, plans: list[FilePlan], manifest: dict[str, object], cache: HashCache
) -> list[UploadedArtifact]:
    settings = ctx.settings
    name, version = settings.effective_model_name, settings.effective_model_version
    for plan in plans:
        if plan.sha256 is None:
            plan.sha256 = sha256_file(plan.file.local)
            cache.put(plan.key, plan.sha256)
    # model.sig and the AI-BOM name the run (signatures and build links differ): the model's files decide
    made = {SIGNATURE_NAME, ai_bom.bom_name(settings)}
    every = {p.file.relative: (p.file.size, p.sha256 or "") for p in plans}
    stored = {f.path: (f.size, f.sha256) for f in ml_repo.manifest_files(manifest)}
    ours, theirs = ({k: v for k, v in d.items() if k not in made} for d in (every, stored))
    if ours != theirs:
        differ = sorted(set(ours.items()) ^ set(theirs.items()))
        raise ConfigError(
            "model-version",
            f"model {name} version {version} is already in {repo} with other files "
            f"(differing: {', '.join(sorted({path for path, _ in differ}))})",
            fix=ml_repo.IMMUTABLE_FIX,
        )
    first = sorted(path for path in made & set(every) if every[path] != stored.get(path))
    kept = f" ({' and '.join(first)} of this run not used: a version keeps its first)" if first else ""
    ctx.runner.info(f"Model {name} version {version} is already in {repo} with these files: nothing to upload{kept}")
    local = {p.file.relative: str(p.file.local) for p in plans}
    return [_mark_present(a, local) for a in _as_stored(ctx.client, repo, (name, version), {})]


def _mark_present(artifact: UploadedArtifact, local: dict[str, str]) -> UploadedArtifact:
    relative = artifact.path.split("/", 3)[3]
    return replace(artifact, local_path=local.get(relative, ""), sent=False, already_present=True)


def _as_stored(
    client: ArtifactoryClient, repo: str, entity: tuple[str, str], sent: dict[str, UploadedArtifact]
) -> list[UploadedArtifact]:
    """The version's files and manifest as the server now holds them, checked against what was sent."""
    name, version = entity
    manifest = ml_repo.read_manifest(client, repo, name, version)
    if manifest is None:
        raise ArtifactoryError(
            f"model {name} version {version} was published to {repo} but cannot be read back",
            fix="Check the repository in Artifactory; retry the run.",
        )
    folder, urls = ml_repo.version_folder(name, version), ml_repo.download_urls(manifest)
    listed = {f.path: f for f in ml_repo.manifest_files(manifest)}
    paths = [f"{folder}/{path}" for path in listed] + [ml_repo.manifest_path(name, version)]
    items = {i.repo_path: i for i in known_files(client, repo=repo, paths=paths) if i.repo == repo}
    artifacts = []
    for path in paths:
        relative = path.removeprefix(folder + "/")
        item = _require(items.get(path), listed.get(relative), repo, path)
        url = urls.get(relative) or storage.download_url(client, repo, path)
        ours = sent.get(relative)
        local_path, was_sent = (ours.local_path, ours.sent) if ours else ("", True)
        artifacts.append(UploadedArtifact.stored(item, url, local_path=local_path, sent=was_sent))
    return artifacts


def _require(item: Item | None, listed: ml_repo.ManifestFile | None, repo: str, path: str) -> Item:
    if item is None or (listed is not None and item.sha256 != listed.sha256):
        found = (
            "is missing" if item is None else f"has SHA-256 {item.sha256} instead of {listed.sha256 if listed else ''}"
        )
        raise IntegrityError(
            f"{repo}/{path} {found} after the model version was published",
            fix="Retry the run; if it happens again, check the repository in Artifactory.",
        )
    return item


def _additional_data(props: Properties) -> dict[str, str]:
    """The properties as frogml's `additionalData` (one string per key)."""
    return {key: ",".join(values) for key, values in props}
