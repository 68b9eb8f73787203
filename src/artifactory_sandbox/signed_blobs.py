"""The cloud storage a redirecting repository sends downloads to: a second loopback endpoint.

A repository with `downloadRedirect` (direct cloud-storage download) or `cdnRedirect` answers a
file GET with 302 to a pre-signed URL of its storage (jfrog-api.md 4.2). Here that storage is a
small HTTP server of its own, on another port of the sandbox's address (so another origin), that
serves stored binaries at `/blobs/<sha256>?expires=<epoch s>&signature=<hex>`. As with a
pre-signed object-store URL, the URL is the credential: an `Authorization` header is refused
(S3: "Only one auth mechanism allowed"), and so is a wrong or expired signature. It never sees
Artifactory tokens; what each request carried is kept for tests to check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .filestore import FileStore

URL_LIFETIME_S = 30
BLOCK_SIZE = 1024 * 1024
SEEN_SIZE = 200
CREDENTIAL_HEADERS = ("authorization", "cookie", "x-jfrog-art-api")


class SignedBlobServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, files: FileStore, host: str) -> None:
        super().__init__((host, 0), _BlobHandler)
        self.files = files
        self.key = secrets.token_bytes(32)
        # (path, credential headers present) of recent requests, oldest first.
        self.seen: deque[tuple[str, tuple[str, ...]]] = deque(maxlen=SEEN_SIZE)
        self._thread = threading.Thread(target=self.serve_forever, name="signed-blobs", daemon=True)
        self._thread.start()

    @property
    def origin(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def signed_url(self, sha256: str, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + URL_LIFETIME_S)
        return f"{self.origin}/blobs/{sha256}?expires={expires}&signature={self._sign(sha256, expires)}"

    def refusal(self, sha256: str, query: dict[str, list[str]], credentials: tuple[str, ...]) -> str | None:
        """Why this request may not have the blob, or None."""
        if credentials:
            return "Only one auth mechanism allowed; only the signature in the URL is accepted"
        expires = (query.get("expires") or [""])[0]
        signature = (query.get("signature") or [""])[0]
        if not expires.isdigit() or not hmac.compare_digest(signature, self._sign(sha256, int(expires))):
            return "The request signature does not match"
        if int(expires) < time.time():
            return "Request has expired"
        return None

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def _sign(self, sha256: str, expires: int) -> str:
        return hmac.new(self.key, f"{sha256}\n{expires}".encode(), hashlib.sha256).hexdigest()


class _BlobHandler(BaseHTTPRequestHandler):
    server: SignedBlobServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        sha256 = parts.path.removeprefix("/blobs/")
        credentials = tuple(name for name in CREDENTIAL_HEADERS if name in {h.lower() for h in self.headers})
        self.server.seen.append((parts.path, credentials))
        refusal = self.server.refusal(sha256, parse_qs(parts.query), credentials)
        if refusal is None and not (len(sha256) == 64 and self.server.files.has(sha256)):
            self._answer(404, b"NoSuchKey")
        elif refusal is not None:
            self._answer(400 if credentials else 403, refusal.encode())
        else:
            self._send_blob(sha256)

    def _send_blob(self, sha256: str) -> None:
        path = self.server.files.path(sha256)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()
        with path.open("rb") as handle:
            while block := handle.read(BLOCK_SIZE):
                self.wfile.write(block)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the sandbox's own request log covers Artifactory; this is the storage."""
