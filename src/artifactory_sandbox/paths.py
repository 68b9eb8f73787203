"""Repository paths taken from the raw request path, refusing traversal before anything is stored.

Every segment is checked after percent-decoding: `.`/`..`, a decoded `/` or `\\` (from `%2F`,
`%5C`), a backslash or a NUL byte make the request a 400 and nothing is touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from .http import HttpError, Request

FORBIDDEN_IN_SEGMENT = ("/", "\\", "\x00")
DOT_SEGMENTS = (".", "..")


@dataclass(frozen=True)
class RepoPath:
    """`repo` and `path` relative to the repository root (`""` for the root itself)."""

    repo: str
    path: str
    is_folder_request: bool = False  # the URL ended with "/"

    @property
    def parent(self) -> str:
        """The folder the item lives in, `.` at the root (the `items.path` column)."""
        return self.path.rsplit("/", 1)[0] if "/" in self.path else "."

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def display(self) -> str:
        """`repo:path`, the form Artifactory uses in messages."""
        return f"{self.repo}:{self.path}"

    def url_path(self) -> str:
        """`repo/escaped/path` for building download and storage URIs."""
        return quote(f"{self.repo}/{self.path}".rstrip("/"), safe="/")

    def child(self, name: str) -> RepoPath:
        return RepoPath(self.repo, f"{self.path}/{name}" if self.path else name)


def repo_path(req: Request, prefix: str) -> RepoPath:
    """The repository path of `req` after `prefix` (e.g. `/artifactory/api/storage/`)."""
    raw = req.raw_path.split(";", 1)[0]
    if not raw.startswith(prefix):
        raise HttpError(404, "Not Found")
    return parse(raw[len(prefix) :])


def parse(raw: str) -> RepoPath:
    """`repo/a/b.bin` (percent-encoded) -> RepoPath; 400 for traversal and forbidden bytes."""
    segments = [_segment(part, raw) for part in raw.split("/") if part]
    if not segments:
        raise HttpError(404, "Not Found")
    return RepoPath(segments[0], "/".join(segments[1:]), raw.endswith("/"))


def _segment(raw_segment: str, raw: str) -> str:
    try:
        decoded = unquote(raw_segment, errors="strict")
    except UnicodeDecodeError as err:
        raise HttpError(400, f"Invalid path '{raw}': not UTF-8") from err
    if decoded in DOT_SEGMENTS or any(ch in decoded for ch in FORBIDDEN_IN_SEGMENT):
        raise HttpError(400, f"Invalid path '{unquote(raw)}': illegal path segment '{decoded}'")
    return decoded


def parse_checked(raw: str) -> RepoPath:
    """`parse` for paths given in query parameters (e.g. copy's `to=`), already decoded once."""
    return parse(quote(raw, safe="/"))
