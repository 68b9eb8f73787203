"""Where a Hugging Face read is answered from: a local repository, a remote one, or a virtual one.

A remote `huggingfaceml` repository proxies the hub its `url` names (`https://huggingface.co`, or in
tests another sandbox's `api/huggingfaceml/<repo>`). The first read of a revision asks the upstream
for its commit and file list (kept in `hf_remote_revisions`); each file is fetched on its first
download and cached as an ordinary item under `<kind>/<org>/<name>/<rev>_<time>/`, so a second
request never reaches the upstream and cached files resolve while it is down. A branch or tag is
asked again after `metadataRetrievalCachePeriodSecs` (7200 s by default, as in Artifactory). A virtual repository
tries its members in order (`repositories`, nested virtuals expanded).
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import hf_store, items
from .app import iso_time
from .digests import Digests
from .hf_store import Entry, HfRepo, Revision
from .http import HttpError, Request
from .paths import RepoPath
from .repos import Repo, read_order, require_repo

if TYPE_CHECKING:
    from .app import Sandbox

UPSTREAM_TIMEOUT_S = 60
DEFAULT_METADATA_PERIOD_S = 7200  # Artifactory's default metadataRetrievalCachePeriodSecs
SCHEMA = """
CREATE TABLE IF NOT EXISTS hf_remote_revisions(
    key TEXT, kind TEXT, org TEXT, name TEXT, revision TEXT, sha TEXT, folder TEXT,
    listing TEXT, created TEXT, UNIQUE(key, kind, org, name, revision));
"""
UPSTREAM_ERROR_CODES = ("RepoNotFound", "RevisionNotFound", "EntryNotFound")
SCHEMES = ("http://", "https://")


def revision(req: Request, ctx: Sandbox, repo: HfRepo, name: str) -> Revision:
    """The commit `name` designates in `repo.key`, through whatever kind of repository it is."""
    with ctx.db.read() as conn:
        config = require_repo(conn, repo.key)
    if config.rclass == "virtual":
        return _from_members(req, ctx, repo, name)
    if config.rclass == "remote":
        return _remote_revision(ctx, config, repo, name)
    with ctx.db.read() as conn:
        return hf_store.require(conn, repo, name)


def _from_members(req: Request, ctx: Sandbox, repo: HfRepo, name: str) -> Revision:
    with ctx.db.read() as conn:
        members = read_order(conn, repo.key)
    codes: list[str] = []
    for member in members:
        try:
            return revision(req, ctx, HfRepo(member, repo.kind, repo.org, repo.name), name)
        except HttpError as err:
            if err.status != 404:
                raise
            codes.append(err.headers.get("X-Error-Code", ""))
    if "RevisionNotFound" in codes:
        raise HttpError(404, f"Invalid rev id: {name}", {"X-Error-Code": "RevisionNotFound"})
    raise HttpError(404, f"Repository not found: {repo.repo_id}", {"X-Error-Code": "RepoNotFound"})


def entries(ctx: Sandbox, found: Revision) -> list[Entry]:
    """The revision's files: stored ones, or the upstream's list for a remote repository."""
    with ctx.db.read() as conn:
        cached = _cached(conn, found.repo, found.sha)
        if cached is None:
            return hf_store.tree(conn, found)
    listing: list[dict[str, Any]] = json.loads(cached["listing"])
    return [Entry(f["path"], Digests(sha1=f["oid"], md5="", sha256="", size=f["size"])) for f in listing]


def file_row(ctx: Sandbox, found: Revision, path: str) -> sqlite3.Row | None:
    """The stored file, fetching it from the upstream first when a remote repository lacks it."""
    with ctx.db.read() as conn:
        row = hf_store.file_row(conn, found, path)
        cached = _cached(conn, found.repo, found.sha)
    if row is not None or cached is None:
        return row
    listed = {f["path"] for f in json.loads(cached["listing"])}
    if path not in listed:
        return None
    with ctx.db.read() as conn:
        config = require_repo(conn, found.repo.key)
    return _fetch_file(ctx, config, found, path)


# --- remote -----------------------------------------------------------------------------------


def _remote_revision(ctx: Sandbox, config: Repo, repo: HfRepo, name: str) -> Revision:
    """A cached revision while fresh; else the upstream's answer, or the cache when it is down."""
    _ensure_schema(ctx)
    with ctx.db.read() as conn:
        cached = _cached(conn, repo, name)
    if cached is not None and not _stale(ctx, config, cached, name):
        return _as_revision(repo, cached)
    try:
        sha, listing = _ask_upstream(config, repo, name)
    except HttpError as err:
        if cached is not None and err.status == 502:
            return _as_revision(repo, cached)
        raise
    return _remember(ctx, repo, name, sha, listing)


def _stale(ctx: Sandbox, config: Repo, cached: sqlite3.Row, name: str) -> bool:
    """A branch or tag is asked again after `metadataRetrievalCachePeriodSecs`; a commit id never."""
    if hf_store.COMMIT_ID.fullmatch(name):
        return False
    period = float(config.config.get("metadataRetrievalCachePeriodSecs", DEFAULT_METADATA_PERIOD_S))
    checked = datetime.fromisoformat(str(cached["created"]).replace("Z", "+00:00"))
    return (ctx.now() - checked).total_seconds() >= period


def _ask_upstream(config: Repo, repo: HfRepo, name: str) -> tuple[str, list[dict[str, Any]]]:
    info = _upstream_json(config, f"api/{repo.kind}/{repo.repo_id}/revision/{quote(name, safe='')}")
    sha = str(info.get("sha") or "") if isinstance(info, dict) else ""
    if not hf_store.COMMIT_ID.fullmatch(sha):
        raise HttpError(502, f"Upstream {config.config.get('url')} answered no commit for {repo.repo_id}@{name}")
    tree = _upstream_json(config, f"api/{repo.kind}/{repo.repo_id}/tree/{sha}?recursive=true")
    listing = [
        {"path": f["path"], "size": int(f["size"]), "oid": str(f.get("oid", ""))}
        for f in tree
        if isinstance(f, dict) and f.get("type") == "file"
    ]
    return sha, listing


def _remember(ctx: Sandbox, repo: HfRepo, name: str, sha: str, listing: list[dict[str, Any]]) -> Revision:
    """Record that `name` is commit `sha` now (a new folder when the commit is new to the cache)."""
    now = ctx.now()
    stamp = items.Stamp("anonymous", iso_time(now))
    hf_store.check_revision(name)
    with ctx.db.tx() as conn:
        existing = _cached(conn, repo, name)
        if existing is not None and existing["sha"] == sha:
            conn.execute("UPDATE hf_remote_revisions SET created = ? WHERE rowid = ?", (stamp.time, existing["rowid"]))
            return _as_revision(repo, existing)
        folder = f"{repo.base}/{name}_{iso_time(now)}"
        items.ensure_folder(conn, repo.key, folder, stamp)
        row = items.get(conn, repo.key, folder)
        assert row is not None
        props = {hf_store.SHA_PROPERTY: [sha], hf_store.REVISION_PROPERTY: [name]}
        items.set_properties(conn, row["id"], props)
        conn.execute(
            "INSERT OR REPLACE INTO hf_remote_revisions(key, kind, org, name, revision, sha, folder, listing, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (repo.key, repo.kind, repo.org, repo.name, name, sha, folder, json.dumps(listing), stamp.time),
        )
        cached = _cached(conn, repo, name)
    assert cached is not None
    return _as_revision(repo, cached)


def _ensure_schema(ctx: Sandbox) -> None:
    with ctx.lock:
        if ctx.state.get("hf_remote_schema"):
            return
        with ctx.db.tx() as conn:
            conn.execute(SCHEMA)
        ctx.state["hf_remote_schema"] = True


def _cached(conn: sqlite3.Connection, repo: HfRepo, name: str) -> sqlite3.Row | None:
    """The cached revision named `name`, or whose commit is `name` (None when the table is new)."""
    try:
        return conn.execute(  # type: ignore[no-any-return]
            "SELECT rowid, * FROM hf_remote_revisions WHERE key = ? AND kind = ? AND org = ? AND name = ?"
            " AND (revision = ? OR sha = ?) ORDER BY revision = ? DESC LIMIT 1",
            (repo.key, repo.kind, repo.org, repo.name, name, name, name),
        ).fetchone()
    except sqlite3.OperationalError:
        return None


def _as_revision(repo: HfRepo, row: sqlite3.Row) -> Revision:
    return Revision(repo, row["folder"], row["sha"], row["created"], row["created"])


def _fetch_file(ctx: Sandbox, config: Repo, found: Revision, path: str) -> sqlite3.Row | None:
    prefix = "datasets/" if found.repo.kind == "datasets" else ""
    url = f"{prefix}{found.repo.repo_id}/resolve/{found.sha}/{quote(path)}"
    with _open_upstream(config, url) as response:
        digests = ctx.files.ingest(response, {})
    stamp = items.Stamp("anonymous", iso_time(ctx.now()))
    with ctx.db.tx() as conn:
        items.put_file(conn, RepoPath(found.repo.key, f"{found.folder}/{path}"), digests, {}, stamp)
        return hf_store.file_row(conn, found, path)


def _upstream_json(config: Repo, relative: str) -> Any:
    with _open_upstream(config, relative) as response:
        return json.loads(response.read())


def _open_upstream(config: Repo, relative: str) -> Any:
    base = str(config.config.get("url", "")).rstrip("/")
    if not base.startswith(SCHEMES):
        raise HttpError(502, f"Remote repository {config.key} has no http(s) url")
    request = urllib.request.Request(f"{base}/{relative}")  # noqa: S310  scheme checked above
    token = config.config.get("password")
    if token:  # not carried over a redirect (the Hub sends LFS downloads to a CDN host)
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    try:
        return urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT_S)  # noqa: S310  url from repo config
    except urllib.error.HTTPError as err:
        code = err.headers.get("X-Error-Code", "")
        if err.code == 404:
            headers = {"X-Error-Code": code} if code in UPSTREAM_ERROR_CODES else {}
            raise HttpError(404, f"Not found upstream: {relative}", headers) from err
        raise HttpError(502, f"Upstream {base} answered {err.code} for {relative}") from err
    except (urllib.error.URLError, OSError) as err:
        raise HttpError(502, f"Upstream {base} is unreachable: {err}") from err
