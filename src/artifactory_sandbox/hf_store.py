"""Hugging Face model and dataset revisions as ordinary items, in the Machine Learning layout.

A commit to revision `rev` of `org/name` becomes one folder holding the whole tree of that revision:

    models/<org>/<name>/<rev>_<timestamp>/<path in repo>      (datasets/... for datasets; no <org>/
                                                              for a bare id such as `gpt2`)

the folder name being the revision and the commit's ISO time, as JFrog's CLI looks them up
(`FindLatestRevision` in jfrog-cli-artifactory matches `<rev>_*` and takes the newest). The folder
carries the revision's properties, among them `huggingfaceml.generated.revision.sha1`, the commit id
the client sees in `X-Repo-Commit`: the revision itself when it is a 40-hex commit id (JFrog's docs
recommend one), else a generated sha1. Files are plain items, so AQL, properties, copy and build
promotion see them.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from . import items
from .app import iso_time
from .digests import Digests
from .http import HttpError
from .paths import RepoPath

if TYPE_CHECKING:
    from datetime import datetime

REPO_TYPES = {"models": "model", "datasets": "dataset"}
NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
COMMIT_ID = re.compile(r"[0-9a-f]{40}")
STAMP = re.compile(r"_\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
SHA_PROPERTY = "huggingfaceml.generated.revision.sha1"
REVISION_PROPERTY = "huggingfaceml.revision"
MESSAGE_PROPERTY = "huggingfaceml.commit.summary"
# JFrog: "in local repositories, the only integration version is main": asked for `main`, a
# repository without commits to `main` answers its newest commit (so `model_info(id)` works).
INTEGRATION_REVISION = "main"


@dataclass(frozen=True)
class HfRepo:
    """`org/name` of kind `models` or `datasets` inside one Artifactory repository."""

    key: str
    kind: str
    org: str
    name: str

    @property
    def repo_id(self) -> str:
        return f"{self.org}/{self.name}" if self.org else self.name

    @property
    def repo_type(self) -> str:
        return REPO_TYPES[self.kind]

    @property
    def base(self) -> str:
        return f"{self.kind}/{self.repo_id}"


@dataclass(frozen=True)
class Revision:
    """One stored commit: its folder (repository-relative) and the commit id."""

    repo: HfRepo
    folder: str
    sha: str
    modified: str
    created: str


@dataclass(frozen=True)
class Entry:
    """One file of a revision's tree."""

    path: str
    digests: Digests


def check_name(org: str, name: str) -> None:
    """`organization/name`, or a bare `name` (JFrog: the organization is optional, e.g. `gpt2`)."""
    if (org and not NAME_PART.fullmatch(org)) or not NAME_PART.fullmatch(name) or name.endswith(".git"):
        raise HttpError(400, f"Invalid repository id '{org + '/' if org else ''}{name}': use 'organization/name'")


def check_revision(revision: str) -> None:
    """Revisions name folders: no '/', nothing but letters, digits, '.', '_' and '-'."""
    if not REVISION.fullmatch(revision):
        raise HttpError(400, f"Invalid revision '{revision}': use letters, digits, '.', '_' and '-'")


def find(conn: sqlite3.Connection, repo: HfRepo, revision: str) -> Revision | None:
    """The newest commit of `revision`, or the commit whose id is `revision`."""
    rows = [row for row in items.children(conn, repo.key, repo.base) if row["type"] == "folder"]
    named = [row for row in rows if _revision_of(row["name"]) == revision]
    if not named and revision == INTEGRATION_REVISION:  # "main" is the newest commit of any revision
        named = [row for row in rows if _revision_of(row["name"]) is not None]
    if named:
        return _revision(conn, repo, max(named, key=lambda row: _stamp_of(str(row["name"]))))
    if COMMIT_ID.fullmatch(revision):
        folder = _folder_of_commit(conn, repo, revision)
        for row in rows:
            if row["name"] == folder:
                return _revision(conn, repo, row)
    return None


def _folder_of_commit(conn: sqlite3.Connection, repo: HfRepo, sha: str) -> str | None:
    """The revision folder whose files (or itself) carry commit id `sha`; promotion copies files only."""
    row = conn.execute(
        "SELECT i.path, i.name FROM properties p JOIN items i ON i.id = p.item_id"
        " WHERE p.key = ? AND p.value = ? AND i.repo = ? AND (i.path = ? OR substr(i.path, 1, ?) = ?) LIMIT 1",
        (SHA_PROPERTY, sha, repo.key, repo.base, len(repo.base) + 1, repo.base + "/"),
    ).fetchone()
    if row is None:
        return None
    relative = f"{row['path']}/{row['name']}"[len(repo.base) + 1 :]
    return relative.split("/", 1)[0]


def exists(conn: sqlite3.Connection, repo: HfRepo) -> bool:
    return any(row["type"] == "folder" for row in items.children(conn, repo.key, repo.base))


def require(conn: sqlite3.Connection, repo: HfRepo, revision: str) -> Revision:
    """The revision, or the 404 the client maps to RevisionNotFound / RepoNotFound."""
    found = find(conn, repo, revision)
    if found is not None:
        return found
    if exists(conn, repo):
        raise HttpError(404, f"Invalid rev id: {revision}", {"X-Error-Code": "RevisionNotFound"})
    raise HttpError(404, f"Repository not found: {repo.repo_id}", {"X-Error-Code": "RepoNotFound"})


def tree(conn: sqlite3.Connection, revision: Revision) -> list[Entry]:
    """Every file of the revision, sorted by path."""
    prefix = revision.folder + "/"
    entries = [
        Entry(items.full_path(row)[len(prefix) :], _digests(row))
        for row in items.descendants(conn, revision.repo.key, revision.folder)
        if row["type"] == "file"
    ]
    return sorted(entries, key=lambda entry: entry.path)


def file_row(conn: sqlite3.Connection, revision: Revision, path: str) -> sqlite3.Row | None:
    row = items.get(conn, revision.repo.key, f"{revision.folder}/{path}")
    return row if row is not None and row["type"] == "file" else None


def write(
    conn: sqlite3.Connection,
    repo: HfRepo,
    revision: str,
    files: dict[str, Digests],
    *,
    stamp: items.Stamp,
    now: datetime,
    summary: str = "",
) -> Revision:
    """Store `files` as a new commit of `revision` (a new timestamped folder)."""
    folder = _free_folder(conn, repo, revision, now)
    sha = revision if COMMIT_ID.fullmatch(revision) else _generated_sha(repo, folder, files)
    items.ensure_folder(conn, repo.key, folder, stamp)
    props = {SHA_PROPERTY: [sha], REVISION_PROPERTY: [revision]}
    for path, digests in sorted(files.items()):
        file_id = items.put_file(conn, RepoPath(repo.key, f"{folder}/{path}"), digests, {}, stamp)
        items.set_properties(conn, file_id, props)  # files carry them too: promotion copies files
    row = items.get(conn, repo.key, folder)
    assert row is not None
    if summary:
        props[MESSAGE_PROPERTY] = [summary[:1024]]
    items.set_properties(conn, row["id"], props)
    return Revision(repo, folder, sha, row["modified"], row["created"])


def _free_folder(conn: sqlite3.Connection, repo: HfRepo, revision: str, now: datetime) -> str:
    """`<base>/<rev>_<time>`, a millisecond later while that name is taken."""
    while True:
        folder = f"{repo.base}/{revision}_{iso_time(now)}"
        if items.get(conn, repo.key, folder) is None:
            return folder
        now += timedelta(milliseconds=1)


def _generated_sha(repo: HfRepo, folder: str, files: dict[str, Digests]) -> str:
    digest = hashlib.sha1(f"{repo.key}\n{folder}\n".encode(), usedforsecurity=False)
    for path, digests in sorted(files.items()):
        digest.update(f"{path}\0{digests.sha256}\n".encode())
    return digest.hexdigest()


def _stamp_of(folder_name: str) -> str:
    match = STAMP.search(folder_name)
    return match.group(0) if match else ""


def _revision_of(folder_name: str) -> str | None:
    match = STAMP.search(folder_name)
    if match is None or match.end() != len(folder_name):
        return None
    return folder_name[: match.start()]


def _revision(conn: sqlite3.Connection, repo: HfRepo, row: sqlite3.Row) -> Revision:
    folder = items.full_path(row)
    shas = items.properties(conn, row["id"]).get(SHA_PROPERTY)
    if not shas:  # a promoted copy: the folder was made anew, its files kept their properties
        files = [r for r in items.descendants(conn, repo.key, folder) if r["type"] == "file"]
        shas = items.properties(conn, files[0]["id"]).get(SHA_PROPERTY) if files else None
    return Revision(repo, folder, (shas or [_revision_of(row["name"]) or ""])[0], row["modified"], row["created"])


def _digests(row: sqlite3.Row) -> Digests:
    return Digests(sha1=row["sha1"], md5=row["md5"], sha256=row["sha256"], size=row["size"])
