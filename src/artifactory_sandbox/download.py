"""Reads: `GET`/`HEAD /artifactory/{repo}/{path}` with checksum headers, single ranges, folder
listings in HTML, and reads through virtual repositories (members tried in order).
"""

from __future__ import annotations

import html
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import quote

from . import items
from .app import iso_time
from .http import HttpError, Request, Response, Route
from .paths import RepoPath, repo_path
from .repos import get_repo, read_order, require_repo

if TYPE_CHECKING:
    from .app import Sandbox

PREFIX = "/artifactory/"
BLOCK_SIZE = 1024 * 1024
DEFAULT_MIME = "application/octet-stream"
MIME_TYPES = {
    "json": "application/json",
    "txt": "text/plain",
    "md": "text/plain",
    "xml": "application/xml",
    "pom": "application/x-maven-pom+xml",
    "html": "text/html",
    "yaml": "text/plain",
    "yml": "text/plain",
    "properties": "text/plain",
    "zip": "application/zip",
    "jar": "application/java-archive",
    "gz": "application/x-gzip",
    "tgz": "application/x-gzip",
    "tar": "application/x-tar",
    "whl": "application/zip",
    "csv": "text/csv",
}
NOT_FOUND = "File not found."
# Repository flags that send downloads to the storage's signed URL instead of answering them.
REDIRECT_FLAGS = ("downloadRedirect", "cdnRedirect")


def mime_type(name: str) -> str:
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return MIME_TYPES.get(extension, DEFAULT_MIME)


class FileBody:
    """A byte range of a stored binary, read in 1 MiB blocks; the server closes it."""

    def __init__(self, handle: BinaryIO, start: int, length: int) -> None:
        self._handle = handle
        self._start = start
        self._length = length

    def __iter__(self) -> Iterator[bytes]:
        self._handle.seek(self._start)
        remaining = self._length
        while remaining > 0:
            block = self._handle.read(min(BLOCK_SIZE, remaining))
            if not block:
                return
            remaining -= len(block)
            yield block

    def close(self) -> None:
        self._handle.close()


def resolve(conn: sqlite3.Connection, where: RepoPath) -> tuple[str, sqlite3.Row | None]:
    """(repository, item) for a read of `where`; item None for a repository root, 404 if absent."""
    require_repo(conn, where.repo)
    order = read_order(conn, where.repo)
    if not where.path:
        return (order[0] if order else where.repo), None
    for key in order:
        row = items.get(conn, key, where.path)
        if row is not None:
            return key, row
    raise HttpError(404, NOT_FOUND)


def get(req: Request, ctx: Sandbox, **_: str) -> Response:
    where = repo_path(req, PREFIX)
    with ctx.db.read() as conn:
        repo, row = resolve(conn, where)
        if row is None or row["type"] == "folder":
            listed = items.children(conn, repo, where.path)
            return _listing(where, listed)
        redirects = req.method == "GET" and _redirects(conn, repo)
    if redirects:
        return _redirect_to_storage(req, ctx, row)
    return _serve_file(req, ctx, row)


def _redirects(conn: sqlite3.Connection, key: str) -> bool:
    repo = get_repo(conn, key)
    return repo is not None and any(repo.config.get(flag) is True for flag in REDIRECT_FLAGS)


def _redirect_to_storage(req: Request, ctx: Sandbox, row: sqlite3.Row) -> Response:
    """302 to a signed URL of the binary, as a repository with direct cloud-storage download does."""
    with ctx.db.tx() as conn:
        items.count_download(conn, row["id"], items.Stamp(req.user, iso_time(ctx.now())))
    return Response(302, b"", {"Location": ctx.blob_store().signed_url(row["sha256"])})


def _serve_file(req: Request, ctx: Sandbox, row: sqlite3.Row) -> Response:
    headers = file_headers(row)
    if req.headers.get("If-None-Match", "").strip('" ') == row["sha1"]:
        return Response(304, None, headers)
    span = parse_range(req.headers.get("Range"), row["size"])
    handle = ctx.files.open(row["sha256"])
    if req.method == "GET":
        with ctx.db.tx() as conn:
            items.count_download(conn, row["id"], items.Stamp(req.user, iso_time(ctx.now())))
    start, length, status = 0, row["size"], 200
    if span is not None:
        start, length, status = span[0], span[1] - span[0] + 1, 206
        headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{row['size']}"
    headers["Content-Length"] = str(length)
    return Response(status, FileBody(handle, start, length), headers, mime_type(row["name"]))


def file_headers(row: sqlite3.Row) -> dict[str, str]:
    name = row["name"]
    return {
        "Accept-Ranges": "bytes",
        "ETag": row["sha1"],
        "Last-Modified": _http_date(row["modified"]),
        "X-Checksum-Sha1": row["sha1"],
        "X-Checksum-Sha256": row["sha256"],
        "X-Checksum-Md5": row["md5"],
        "X-Artifactory-Filename": quote(name),
        "Content-Disposition": f"attachment; filename=\"{quote(name)}\"; filename*=UTF-8''{quote(name)}",
    }


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """A single `bytes=` range as (first, last) inclusive; None to send everything.

    Malformed or multi-range headers are ignored (allowed by RFC 9110); an unsatisfiable one
    is a 416 with `Content-Range: bytes */size`.
    """
    if not header or not header.strip().startswith("bytes=") or "," in header:
        return None
    first, _, last = header.strip()[len("bytes=") :].partition("-")
    try:
        span = _span(first.strip(), last.strip(), size)
    except ValueError:
        return None
    if span[0] > span[1] or span[0] >= size:
        raise HttpError(416, "Requested range not satisfiable", {"Content-Range": f"bytes */{size}"})
    return span


def _span(first: str, last: str, size: int) -> tuple[int, int]:
    if not first:
        suffix = int(last)
        return max(size - suffix, 0), size - 1 if suffix else -1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start < 0:
        raise ValueError(first)
    return start, end


def _http_date(iso: str) -> str:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return format_datetime(moment, usegmt=True)


def _listing(where: RepoPath, rows: list[sqlite3.Row]) -> Response:
    """An `Index of repo/path` page like Artifactory's simple browser."""
    title = html.escape(f"{where.repo}/{where.path}".rstrip("/") + "/")
    lines = ['<a href="../">../</a>']
    for row in rows:
        folder = row["type"] == "folder"
        name = row["name"] + ("/" if folder else "")
        when = datetime.fromisoformat(row["modified"].replace("Z", "+00:00"))
        size = "-" if folder else f"{row['size']} bytes"
        link = f'<a href="{quote(name)}">{html.escape(name)}</a>'
        lines.append(f"{link}{' ' * max(1, 50 - len(name))}{when:%d-%b-%Y %H:%M}  {size:>12}")
    page = (
        f'<!DOCTYPE html>\n<html>\n<head><meta name="robots" content="noindex" />\n'
        f"<title>Index of {title}</title>\n</head>\n<body>\n<h1>Index of {title}</h1>\n"
        f"<pre>Name    Last modified      Size</pre><hr/>\n<pre>"
        + "\n".join(lines)
        + '\n</pre>\n<hr/><address style="font-size:small;">Artifactory Server</address>'
        "</body>\n</html>\n"
    )
    return Response(200, page.encode("utf-8"), content_type="text/html;charset=utf-8")


ROUTES: list[Route] = []  # served through artifacts.ROUTES (the catch-all must stay last)
