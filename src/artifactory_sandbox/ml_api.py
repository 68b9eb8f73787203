"""JFrog ML repositories (`packageType: machinelearning`): the `api/machinelearning` calls of `frogml`.

    POST /artifactory/api/machinelearning/{repo}/{model|dataset}/{[ns/]name}/start-transaction[/{version}]
    PUT  /artifactory/api/machinelearning/{repo}/{model|dataset}/entity-manifest/{[ns/]name}/{version}/{txId}
    GET  /artifactory/api/machinelearning/{repo}/{model|dataset}/entity-manifest/{[ns/]name}/{version}

Files are deployed with the ordinary `PUT /artifactory/{repo}/{path}` (checksum deploy first) under
the paths `start-transaction` hands out; the manifest PUT checks every listed file against what was
uploaded, moves the files into the version folder (`ml_layout`) and stores the manifest beside them,
so AQL, properties, copy and build promotion see a version as ordinary files.
"""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from . import items
from .app import iso_time
from .digests import Digests
from .http import HttpError, Request, Response, Route, json_response
from .ml_layout import EntityVersion
from .ml_manifest import ManifestFile, Submission, read_submission, with_download_urls
from .paths import RepoPath
from .props import Properties
from .repos import Repo, deploy_target, read_order, require_repo

if TYPE_CHECKING:
    from .app import Sandbox

PACKAGE_TYPE = "machinelearning"
GENERATED_VERSION_FORMAT = "%Y-%m-%d-%H-%M-%S-%f"  # frogml's own default; the last 3 digits go


def start_transaction(
    req: Request, ctx: Sandbox, *, repo: str, entity_type: str, name: str, version: str | None
) -> Response:
    now = ctx.now()
    entity = EntityVersion.parse(entity_type, name, version or now.strftime(GENERATED_VERSION_FORMAT)[:-3])
    with ctx.db.tx() as conn:
        target = _ml_target(conn, repo)
        _refuse_existing(conn, target.key, entity)
        transaction_id = _free_transaction_id(conn, target.key, entity, now)
        items.ensure_folder(conn, target.key, entity.transaction_folder(transaction_id), _stamp(req, ctx))
    return json_response(
        {
            "filesUploadPath": entity.upload_path(transaction_id, "artifacts"),
            "leadUploadPath": entity.transaction_folder(transaction_id),
            "dependenciesUploadPath": entity.upload_path(transaction_id, "dependency_artifacts"),
            "codeUploadPath": entity.upload_path(transaction_id, "code_artifacts"),
            "transactionId": transaction_id,
        }
    )


def end_transaction(
    req: Request, ctx: Sandbox, *, repo: str, entity_type: str, name: str, version: str, transaction: str
) -> Response:
    entity = EntityVersion.parse(entity_type, name, version)
    submission = read_submission(req, entity.kind)
    stored = submission.manifest | {"id": entity.name, "version": entity.version}
    manifest_digests = ctx.files.ingest(io.BytesIO(json.dumps(stored, indent=2).encode("utf-8")), {})
    stamp = _stamp(req, ctx)
    with ctx.db.tx() as conn:
        target = _ml_target(conn, repo)
        _require_transaction(conn, target.key, entity, transaction)
        _refuse_existing(conn, target.key, entity)
        sources = [_uploaded(conn, target.key, entity, transaction, listed) for listed in submission.files]
        _publish(conn, target.key, entity, submission=submission, sources=sources, stamp=stamp)
        manifest = RepoPath(target.key, entity.manifest_path)
        items.set_properties(conn, items.put_file(conn, manifest, manifest_digests, {}, stamp), submission.properties)
        _close_transaction(conn, target.key, entity, transaction)
    return json_response(with_download_urls(stored, entity, repo, req.base_url))


def get_manifest(req: Request, ctx: Sandbox, *, repo: str, entity_type: str, name: str, version: str) -> Response:
    entity = EntityVersion.parse(entity_type, name, version)
    with ctx.db.read() as conn:
        _require_package_type(require_repo(conn, repo))
        row = next(
            (found for key in read_order(conn, repo) if (found := items.get(conn, key, entity.manifest_path))),
            None,
        )
    if row is None or row["type"] != "file":
        raise HttpError(404, f"The {entity.label} was not found in repository '{repo}'")
    with ctx.files.open(row["sha256"]) as handle:
        manifest = json.load(handle)
    return json_response(with_download_urls(manifest, entity, repo, req.base_url))


def _ml_target(conn: sqlite3.Connection, key: str) -> Repo:
    """The local repository a write to `key` lands in; 400 unless it is a JFrog ML repository."""
    return _require_package_type(deploy_target(conn, key))


def _require_package_type(repo: Repo) -> Repo:
    if repo.package_type != PACKAGE_TYPE:
        raise HttpError(400, f"Repository '{repo.key}' is not a machinelearning repository (it is {repo.package_type})")
    return repo


def _refuse_existing(conn: sqlite3.Connection, repo: str, entity: EntityVersion) -> None:
    if items.get(conn, repo, entity.manifest_path) is not None:
        raise HttpError(409, f"The {entity.label} already exists in repository '{repo}'")


def _free_transaction_id(conn: sqlite3.Connection, repo: str, entity: EntityVersion, now: datetime) -> str:
    """Epoch milliseconds of the start (frogml parses it as the manifest's `created_date`)."""
    millis = int(now.astimezone(UTC).timestamp() * 1000)
    while items.get(conn, repo, entity.transaction_folder(str(millis))) is not None:
        millis += 1
    return str(millis)


def _require_transaction(conn: sqlite3.Connection, repo: str, entity: EntityVersion, transaction: str) -> None:
    row = items.get(conn, repo, entity.transaction_folder(transaction)) if transaction.isdigit() else None
    if row is None or row["type"] != "folder":
        raise HttpError(404, f"No open transaction '{transaction}' for the {entity.label} in repository '{repo}'")


def _uploaded(
    conn: sqlite3.Connection, repo: str, entity: EntityVersion, transaction: str, listed: ManifestFile
) -> sqlite3.Row:
    """The uploaded file a manifest entry names; 409 when it is missing or differs."""
    path = f"{entity.upload_path(transaction, listed.section)}/{listed.path}"
    row = items.get(conn, repo, path)
    if row is None or row["type"] != "file":
        raise HttpError(409, f"Manifest lists '{listed.path}' but it was not uploaded to '{repo}:{path}'")
    if row["sha256"] != listed.sha256 or row["size"] != listed.size:
        raise HttpError(
            409,
            f"Manifest entry '{listed.path}' (size {listed.size}, sha256 {listed.sha256}) does not match the "
            f"uploaded file (size {row['size']}, sha256 {row['sha256']})",
        )
    return row


def _publish(
    conn: sqlite3.Connection,
    repo: str,
    entity: EntityVersion,
    *,
    submission: Submission,
    sources: list[sqlite3.Row],
    stamp: items.Stamp,
) -> None:
    """Move every listed file into the version folder; user properties go on folder and files."""
    targets = [entity.stored_path(listed.section, listed.path) for listed in submission.files]
    if len(set(targets)) != len(targets):
        raise HttpError(400, f"The manifest of the {entity.label} lists the same path twice")
    items.ensure_folder(conn, repo, entity.folder, stamp)
    folder = items.get(conn, repo, entity.folder)
    if folder is not None:
        items.set_properties(conn, folder["id"], submission.properties)
    for row, path in zip(sources, targets, strict=True):
        _place(conn, row, RepoPath(repo, path), submission.properties, stamp)


def _place(conn: sqlite3.Connection, row: sqlite3.Row, to: RepoPath, props: Properties, stamp: items.Stamp) -> None:
    digests = Digests(sha1=row["sha1"], md5=row["md5"], sha256=row["sha256"], size=row["size"])
    originals = {k: row[f"original_{k}"] for k in ("sha1", "md5", "sha256") if row[f"original_{k}"]}
    new_id = items.put_file(conn, to, digests, originals, stamp)
    items.set_properties(conn, new_id, items.properties(conn, row["id"]) | props)


def _close_transaction(conn: sqlite3.Connection, repo: str, entity: EntityVersion, transaction: str) -> None:
    """Drop the transaction folder (and unlisted uploads), then the `tmp` folders left empty."""
    folder = entity.transaction_folder(transaction)
    items.delete_tree(conn, repo, folder)
    parent = folder.rsplit("/", 1)[0]
    for path in (parent, parent.rsplit("/", 1)[0]):
        if items.children(conn, repo, path):
            return
        items.delete_tree(conn, repo, path)


def _stamp(req: Request, ctx: Sandbox) -> items.Stamp:
    return items.Stamp(req.user, iso_time(ctx.now()))


API = r"/artifactory/api/machinelearning/(?P<repo>[^/]+)/(?P<entity_type>model|dataset)"
NAME = r"(?P<name>.+?)"  # checked by ml_layout.check_name: a 400 names what is wrong
ROUTES = [
    Route("POST", rf"{API}/{NAME}/start-transaction(?:/(?P<version>[^/]+))?", start_transaction, auth="write"),
    Route(
        "PUT", rf"{API}/entity-manifest/{NAME}/(?P<version>[^/]+)/(?P<transaction>[^/]+)", end_transaction, auth="write"
    ),
    Route("GET", rf"{API}/entity-manifest/{NAME}/(?P<version>[^/]+)", get_manifest, auth="read"),
]
