"""The HTTP server: one host:port serving `/artifactory/`, `/xray/`, `/access/` and `/_sandbox/`.

Stdlib `ThreadingHTTPServer` speaking HTTP/1.1. Each request is parsed into a `Request`, run
through fault injection, authentication and the route table, and answered; every request is
recorded in the request log.
"""

from __future__ import annotations

import hashlib
import importlib
import socket
import struct
import sys
import time
import traceback
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, unquote

from . import artifacts, copymove, faults, repos, storage, system
from .app import Sandbox, SandboxConfig
from .auth import authenticate, authorize
from .body import ChunkedBody, IncompleteBody, LengthBody, _Body
from .faults import Fault, LoggedRequest
from .http import Headers, HttpError, Request, Response, Route, error_response

ARTIFACTORY_VERSION = "7.104.5"
SERVER_HEADER = f"Artifactory/{ARTIFACTORY_VERSION}"
# Handler modules of the other half of the sandbox, imported when present.
OPTIONAL_MODULES = ("aql", "search", "builds", "promotion", "xray", "access", "oidc", "ml_api", "hf_api")
SOCKET_TIMEOUT_S = 300  # a stalled client (mid-body or idle keep-alive) frees its thread
SANDBOX_PREFIX = "/_sandbox/"
NO_BODY_STATUSES = frozenset({204, 304})


def handler_modules() -> list[ModuleType]:
    """Core modules, then whichever optional ones exist; the artifact catch-all routes go last."""
    modules: list[ModuleType] = [system, faults, repos, storage, copymove]
    for name in OPTIONAL_MODULES:
        try:
            modules.append(importlib.import_module(f"{__package__}.{name}"))
        except ModuleNotFoundError as err:
            if err.name != f"{__package__}.{name}":
                raise
    modules.append(artifacts)
    return modules


def collect_routes() -> list[Route]:
    return [route for module in handler_modules() for route in getattr(module, "ROUTES", [])]


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route for `method path`; 405 when only other methods match, else 404."""
        other_method = False
        for wanted in (method, "GET") if method == "HEAD" else (method,):
            for route in self.routes:
                found = route.regex.fullmatch(path)
                if found and route.method == wanted:
                    return route, found.groupdict()
                other_method = other_method or found is not None
        if other_method:
            raise HttpError(405, f"Method {method} is not allowed on {path}")
        raise HttpError(404, "Not Found")


def dispatch(router: Router, req: Request, ctx: Sandbox) -> Response:
    """Authenticate, route and run the handler; errors become JFrog error envelopes."""
    try:
        route, groups = router.match(req.method, req.path)
        req.principal = authenticate(req.headers, ctx)
        authorize(req.principal, route.auth)
        return route.handler(req, ctx, **groups)
    except HttpError as err:
        response = error_response(err.status, err.message)
        response.headers.update(err.headers)
        return response


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, ctx: Sandbox, host: str, port: int) -> None:
        self.ctx = ctx
        self.router = Router(collect_routes())
        super().__init__((host, port), SandboxRequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S
    server: SandboxServer

    def version_string(self) -> str:
        return SERVER_HEADER

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.ctx.config.verbose:
            super().log_message(format, *args)

    def handle_expect_100(self) -> bool:
        """Defer `100 Continue` until a handler starts reading the body."""
        self._continue_pending = True
        return True

    def _send_continue(self) -> None:
        if getattr(self, "_continue_pending", False):
            self._continue_pending = False
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()

    def _dispatch(self) -> None:
        started = time.monotonic()
        req, body = self._build_request()
        ctx = self.server.ctx
        fault = None if req.path.startswith(SANDBOX_PREFIX) else ctx.faults.take(req.method, req.path)
        status = 0
        try:
            status = self._answer(req, body, fault)
        except (IncompleteBody, ConnectionError, TimeoutError):
            self.close_connection = True
        finally:
            self._continue_pending = False
            if not req.path.startswith(SANDBOX_PREFIX):
                ctx.requests.record(_log_entry(req, body, status, fault, started))

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _dispatch

    def _answer(self, req: Request, body: _Body, fault: Fault | None) -> int:
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.reset_after_bytes is not None:
            self._reset(body, fault.reset_after_bytes)
            return 0
        injected = fault is not None and fault.status is not None
        if self._framing_error:
            response = error_response(400, "Invalid Content-Length header")
        else:
            response = _fault_response(fault) if fault and injected else self._run_handler(req)
        self._write(req, body, response, fault.body_delay if fault else None)
        return response.status

    def _run_handler(self, req: Request) -> Response:
        try:
            return dispatch(self.server.router, req, self.server.ctx)
        except (IncompleteBody, ConnectionError, TimeoutError):
            raise
        except Exception:  # any handler bug must still answer the client
            traceback.print_exc(file=sys.stderr)
            return error_response(500, "Internal Server Error")

    def _build_request(self) -> tuple[Request, _Body]:
        raw_path, _, raw_query = self.path.partition("?")
        body = self._body()
        headers = Headers(self.headers.items())
        req = Request(
            method=self.command,
            raw_path=raw_path,
            path=unquote(raw_path.split(";", 1)[0]),
            query=parse_qs(raw_query, keep_blank_values=True),
            headers=headers,
            body=body,
            base_url=f"http://{headers.get('Host') or _host_port(self.server)}",
            raw_query=raw_query,
        )
        return req, body

    def _body(self) -> _Body:
        self._framing_error = False
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return ChunkedBody(self.rfile, self._send_continue)
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not declared.isdigit():
            self._framing_error = True  # the body's end is unknown: answer 400 and close
            self.close_connection = True
            return LengthBody(self.rfile, 0, None)
        return LengthBody(self.rfile, int(declared), self._send_continue)

    def _reset(self, body: _Body, limit: int) -> None:
        """Read `limit` body bytes, then drop the connection with a TCP reset."""
        body.drain(limit)
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _write(self, req: Request, body: _Body, response: Response, body_delay: float | None) -> None:
        if not body.complete:
            self.close_connection = True  # the unread rest of the body would poison keep-alive
        try:
            self._write_head(req, response)
            if body_delay:
                self.wfile.flush()
                time.sleep(body_delay)
            if req.method != "HEAD" and response.status not in NO_BODY_STATUSES:
                self._write_body(response)
            self.wfile.flush()
        finally:
            _close_body(response.body)

    def _write_head(self, req: Request, response: Response) -> None:
        self.send_response(response.status)
        headers = _standard_headers(self.server.ctx) | response.headers
        if response.content_type:
            headers["Content-Type"] = response.content_type
        _set_framing(headers, response)
        if self.close_connection:
            headers["Connection"] = "close"
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def _write_body(self, response: Response) -> None:
        payload = response.body
        if payload is None or isinstance(payload, bytes):
            self.wfile.write(payload or b"")
            return
        chunked = "Content-Length" not in response.headers
        for block in payload:
            self._write_block(block, chunked)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _write_block(self, block: bytes, chunked: bool) -> None:
        if not block:
            return
        if chunked:
            self.wfile.write(b"%x\r\n" % len(block) + block + b"\r\n")
        else:
            self.wfile.write(block)


def _set_framing(headers: dict[str, str], response: Response) -> None:
    if response.status in NO_BODY_STATUSES:
        headers.pop("Content-Length", None)
    elif response.body is None or isinstance(response.body, bytes):
        headers["Content-Length"] = str(len(response.body or b""))
    elif "Content-Length" not in headers:
        headers["Transfer-Encoding"] = "chunked"


def _standard_headers(ctx: Sandbox) -> dict[str, str]:
    return {
        "X-Artifactory-Id": ctx.state.get("artifactory_id", "sandbox"),
        "X-Artifactory-Node-Id": "sandbox",
        "X-JFrog-Version": SERVER_HEADER,
    }


def _fault_response(fault: Fault) -> Response:
    status = fault.status or 500
    response = error_response(status, fault.message or f"Injected fault {fault.id}")
    if fault.retry_after is not None:
        response.headers["Retry-After"] = f"{fault.retry_after:g}"
    return response


def _close_body(payload: bytes | Iterable[bytes] | None) -> None:
    close = getattr(payload, "close", None)
    if callable(close):
        close()


def _host_port(server: SandboxServer) -> str:
    host, port = server.server_address[:2]
    return f"{host!s}:{port}"


def _log_entry(req: Request, body: _Body, status: int, fault: Fault | None, started: float) -> LoggedRequest:
    return LoggedRequest(
        method=req.method,
        path=req.path,
        query=req.raw_query,
        status=status,
        bytes_received=body.bytes_read,
        at=time.time(),
        duration=round(time.monotonic() - started, 6),
        user=req.user,
        fault=fault.id if fault else None,
    )


def create_server(config: SandboxConfig) -> SandboxServer:
    """Open the data dir, create the default repositories and bind the listening socket."""
    ctx = Sandbox.open(config)
    repos.ensure_default_repos(ctx)
    ctx.state["artifactory_id"] = hashlib.sha1(  # a stable 40-hex id, like Artifactory's
        str(config.data_dir.resolve()).encode(), usedforsecurity=False
    ).hexdigest()
    return SandboxServer(ctx, config.host, config.port)
