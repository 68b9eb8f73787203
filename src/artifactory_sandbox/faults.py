"""Fault injection and the request log, for the action's reliability tests (admin only).

`POST /_sandbox/faults` registers a fault the server applies to the next `count` requests whose
method and path match; `GET` lists them with remaining counts and hits; `DELETE` clears them.
`GET /_sandbox/requests` returns recent requests (method, path, status, bytes received).
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from .http import HttpError, Request, Response, Route, json_response

REQUEST_LOG_SIZE = 2000
FAULT_FIELDS = {
    "method",
    "path",
    "count",
    "status",
    "retry_after",
    "reset_after_bytes",
    "delay",
    "body_delay",
    "message",
}


@dataclass
class Fault:
    """What to do to matching requests; at least one of status/reset/delay/body_delay is set."""

    id: int
    path: str
    method: str | None = None
    count: int = 1
    status: int | None = None
    retry_after: float | None = None
    reset_after_bytes: int | None = None
    delay: float | None = None
    body_delay: float | None = None
    message: str | None = None
    hits: int = 0
    regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.regex = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        if self.hits >= self.count:
            return False
        if self.method and self.method.upper() != method:
            return False
        return self.regex.search(path) is not None

    def describe(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "regex" and v is not None}
        return data | {"remaining": self.count - self.hits, "active": self.hits < self.count}


class FaultRegistry:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._next_id = 1

    def add(self, spec: dict[str, Any]) -> Fault:
        with self._lock:
            fault = _build_fault(self._next_id, spec)
            self._next_id += 1
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first matching fault, counting this request as one of its hits."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: str
    status: int
    bytes_received: int
    at: float  # epoch seconds when the request ended
    duration: float
    user: str
    fault: int | None = None


class RequestLog:
    """The last `REQUEST_LOG_SIZE` requests, oldest first."""

    def __init__(self) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=REQUEST_LOG_SIZE)
        self._lock = threading.Lock()

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(entry) for entry in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class _Owner(Protocol):
    """What the handlers below need of the sandbox (its `faults` and `requests`), named here so this
    module does not import `app`, which imports it."""

    @property
    def faults(self) -> FaultRegistry: ...

    @property
    def requests(self) -> RequestLog: ...


def _build_fault(fault_id: int, spec: dict[str, Any]) -> Fault:
    unknown = set(spec) - FAULT_FIELDS
    if unknown:
        raise HttpError(400, f"Unknown fault fields: {', '.join(sorted(unknown))}")
    if not isinstance(spec.get("path"), str):
        raise HttpError(400, "A fault needs 'path', a regular expression on the request path")
    _check_numbers(spec)
    if not any(spec.get(k) is not None for k in ("status", "reset_after_bytes", "delay", "body_delay")):
        raise HttpError(400, "A fault needs one of status, reset_after_bytes, delay, body_delay")
    try:
        return Fault(id=fault_id, **spec)
    except re.error as err:
        raise HttpError(400, f"Invalid path regular expression: {err}") from err


def _check_numbers(spec: dict[str, Any]) -> None:
    for name in ("count", "status", "reset_after_bytes"):
        value = spec.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise HttpError(400, f"Fault field '{name}' must be a non-negative integer")
    for name in ("retry_after", "delay", "body_delay"):
        value = spec.get(name)
        if value is not None and (not isinstance(value, int | float) or value < 0):
            raise HttpError(400, f"Fault field '{name}' must be a non-negative number")
    status = spec.get("status")
    if status is not None and not 400 <= status <= 599:
        raise HttpError(400, "Fault field 'status' must be an error status (400-599)")


def add_fault(req: Request, ctx: _Owner) -> Response:
    spec = req.read_json()
    if not isinstance(spec, dict):
        raise HttpError(400, "The fault must be a JSON object")
    return json_response(ctx.faults.add(spec).describe(), 201)


def list_faults(req: Request, ctx: _Owner) -> Response:
    return json_response(ctx.faults.describe())


def clear_faults(req: Request, ctx: _Owner) -> Response:
    ctx.faults.clear()
    return Response(204)


def list_requests(req: Request, ctx: _Owner) -> Response:
    return json_response(ctx.requests.entries())


def clear_requests(req: Request, ctx: _Owner) -> Response:
    ctx.requests.clear()
    return Response(204)


ROUTES = [
    Route("POST", r"/_sandbox/faults", add_fault, auth="admin"),
    Route("GET", r"/_sandbox/faults", list_faults, auth="admin"),
    Route("DELETE", r"/_sandbox/faults", clear_faults, auth="admin"),
    Route("GET", r"/_sandbox/requests", list_requests, auth="admin"),
    Route("DELETE", r"/_sandbox/requests", clear_requests, auth="admin"),
]
