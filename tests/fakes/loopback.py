"""Small HTTP fakes on loopback: serve a request handler on a free port, answer JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler], *, name: str = "fake-http", poll: float = 0.5) -> Iterator[str]:
    """Serve `handler` on a free port of 127.0.0.1 until the block ends; yield its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(poll,), name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def answer_json(
    handler: BaseHTTPRequestHandler, status: int, body: object, content_type: str = "application/json"
) -> None:
    """Send `body` as a JSON answer with an exact Content-Length."""
    raw = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(raw)))
    handler.end_headers()
    handler.wfile.write(raw)
