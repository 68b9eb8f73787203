"""The request/response types every handler module uses (the seam in docs/dev/sandbox-contract.md).

A handler is `handler(req, ctx, **groups) -> Response`; it may raise `HttpError` anywhere and the
server answers with JFrog's error envelope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

MAX_JSON_BYTES = 64 * 1024 * 1024  # build-info and repository JSON; never a model file
FALSE_FLAGS = frozenset({"0", "false", "no", "off"})

AuthLevel = Literal["none", "read", "write", "admin"]


class HttpError(Exception):
    """Raised by a handler to answer `status` with JFrog's `{"errors":[...]}` envelope."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass(frozen=True)
class Principal:
    """Who made the request: a user name, the token's scopes and its id (None for static tokens)."""

    name: str
    scopes: tuple[str, ...]
    token_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "applied-permissions/admin" in self.scopes

    @property
    def can_write(self) -> bool:
        return self.is_admin or "applied-permissions/user" in self.scopes


class BodyStream(Protocol):
    """The request body: a byte stream limited to Content-Length, or de-chunked."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readinto(self, buffer: bytearray | memoryview, /) -> int: ...


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only header mapping (the last value wins for repeated names)."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._items = {name.lower(): (name, value) for name, value in pairs}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items


@dataclass
class Request:
    """One HTTP request as handlers see it (paths without the query; `path` is decoded)."""

    method: str
    raw_path: str
    path: str
    query: dict[str, list[str]]
    headers: Headers
    body: BodyStream
    base_url: str
    raw_query: str = ""
    principal: Principal | None = None

    def read_json(self) -> Any:
        """The body parsed as JSON; `HttpError(400)` when it is not valid JSON."""
        text = self.read_text()
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise HttpError(400, f"Failed to parse JSON body: {err.msg}") from err

    def read_text(self) -> str:
        data = self.body.read(MAX_JSON_BYTES + 1)
        if len(data) > MAX_JSON_BYTES:
            raise HttpError(413, "Request body too large")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise HttpError(400, "Request body is not valid UTF-8") from err

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter `name`, or `default`."""
        values = self.query.get(name)
        return values[0] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """A boolean query flag: present (`?list`, `=1`, `=true`) unless `0`/`false`."""
        value = self.arg(name)
        if value is None:
            return default
        return value.strip().lower() not in FALSE_FLAGS

    @property
    def user(self) -> str:
        return self.principal.name if self.principal else "anonymous"


@dataclass
class Response:
    """What a handler returns; an iterable body is streamed (chunked unless Content-Length set)."""

    status: int
    body: bytes | Iterable[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    """`pattern` is matched with `re.fullmatch` on `Request.path`; named groups become kwargs."""

    method: str
    pattern: str
    handler: Handler
    auth: AuthLevel = "read"
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))


def json_response(obj: Any, status: int = 200, content_type: str = "application/json") -> Response:
    body = json.dumps(obj, indent=2, ensure_ascii=False).encode("utf-8")
    return Response(status, body, content_type=content_type)


def text_response(text: str, status: int = 200) -> Response:
    return Response(status, text.encode("utf-8"), content_type="text/plain")


def error_response(status: int, message: str) -> Response:
    """JFrog's error envelope: `{"errors":[{"status":<int>,"message":"<text>"}]}`."""
    return json_response({"errors": [{"status": status, "message": message}]}, status)
