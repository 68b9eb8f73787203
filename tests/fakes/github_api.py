"""A small GitHub REST API on loopback: PR comments and deployments, as PyGithub calls them.

Served under `/api/v3` as GitHub Enterprise Server is, so pointing GITHUB_API_URL at `.url`
tests the GHES path too. Tokens are checked; `deny` makes an area answer 403 the way GitHub does
when the workflow's token lacks a permission. Everything it stores is readable by the test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import answer_json, serve

PREFIX = "/api/v3"
NO_PERMISSION = {
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com/rest",
    "status": "403",
}
TIMESTAMP = "2024-05-01T12:00:00Z"
POLL_SECONDS = 0.02  # how soon shutdown() is noticed


@dataclass
class FakeGitHub:
    token: str
    deny: set[str] = field(default_factory=set)  # "comments", "deployments"
    url: str = ""
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _next_id: int = 1000

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def issue_comments(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["issue"] == number]

    def add_comment(self, repo: str, number: int, body: str, login: str = "someone") -> dict[str, Any]:
        """A comment made by someone else (or an earlier run), as GitHub would list it."""
        cid = self.new_id()
        self.comments[cid] = {
            "id": cid,
            "issue": number,
            "body": body,
            "url": f"{self.url}/repos/{repo}/issues/comments/{cid}",
            "html_url": f"https://github.com/{repo}/pull/{number}#issuecomment-{cid}",
            "user": {"login": login},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        }
        return self.comments[cid]

    # Routes ---------------------------------------------------------------------------------
    def routes(self) -> list[tuple[str, re.Pattern[str], str, Callable[..., tuple[int, Any]]]]:
        repo = r"/repos/(?P<repo>[^/]+/[^/]+)"
        return [
            ("GET", re.compile(rf"{repo}/issues/(?P<number>\d+)/comments"), "comments", self.list_comments),
            ("POST", re.compile(rf"{repo}/issues/(?P<number>\d+)/comments"), "comments", self.create_comment),
            ("PATCH", re.compile(rf"{repo}/issues/comments/(?P<cid>\d+)"), "comments", self.edit_comment),
            ("GET", re.compile(rf"{repo}/deployments"), "deployments", self.list_deployments),
            ("POST", re.compile(rf"{repo}/deployments"), "deployments", self.create_deployment),
            ("POST", re.compile(rf"{repo}/deployments/(?P<did>\d+)/statuses"), "deployments", self.create_status),
        ]

    def list_comments(self, query: dict[str, str], body: Any, repo: str, number: str) -> tuple[int, Any]:
        return 200, [self._public(c) for c in self.issue_comments(int(number))]

    def create_comment(self, query: dict[str, str], body: Any, repo: str, number: str) -> tuple[int, Any]:
        return 201, self._public(self.add_comment(repo, int(number), body["body"], login="github-actions[bot]"))

    def edit_comment(self, query: dict[str, str], body: Any, repo: str, cid: str) -> tuple[int, Any]:
        comment = self.comments.get(int(cid))
        if comment is None:
            return 404, {"message": "Not Found"}
        comment["body"] = body["body"]
        comment["updated_at"] = "2024-05-01T12:05:00Z"
        return 200, self._public(comment)

    def list_deployments(self, query: dict[str, str], body: Any, repo: str) -> tuple[int, Any]:
        found = [
            d
            for d in reversed(self.deployments.values())
            if all(d.get(k) == query[k] for k in ("sha", "environment") if k in query)
        ]
        return 200, found

    def create_deployment(self, query: dict[str, str], body: Any, repo: str) -> tuple[int, Any]:
        did = self.new_id()
        self.deployments[did] = {
            "id": did,
            "url": f"{self.url}/repos/{repo}/deployments/{did}",
            "statuses_url": f"{self.url}/repos/{repo}/deployments/{did}/statuses",
            "sha": body["ref"],
            "ref": body["ref"],
            "task": "deploy",
            "environment": body.get("environment", "production"),
            "description": body.get("description"),
            "payload": body.get("payload", {}),
            "request": body,
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
        }
        return 201, self.deployments[did]

    def create_status(self, query: dict[str, str], body: Any, repo: str, did: str) -> tuple[int, Any]:
        if int(did) not in self.deployments:
            return 404, {"message": "Not Found"}
        status = {"id": self.new_id(), "state": body["state"], **body, "created_at": TIMESTAMP}
        self.statuses.setdefault(int(did), []).append(status)
        return 201, status

    @staticmethod
    def _public(comment: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in comment.items() if k != "issue"}

    # Dispatch -------------------------------------------------------------------------------
    def dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        parts = urlsplit(target)
        self.requests.append((method, parts.path))
        if headers.get("authorization", "") not in (f"token {self.token}", f"Bearer {self.token}"):
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        path = parts.path.removeprefix(PREFIX)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        for route_method, pattern, area, handler in self.routes():
            match = pattern.fullmatch(path)
            if match and route_method == method:
                if area in self.deny:
                    return 403, NO_PERMISSION
                return handler(query, json.loads(raw) if raw else None, **match.groupdict())
        return 404, {"message": "Not Found"}


def _handler_for(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body = fake.dispatch(self.command, self.path, headers, raw)
            answer_json(self, status, body, "application/json; charset=utf-8")

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def run_fake_github(token: str, deny: set[str] | None = None) -> Iterator[FakeGitHub]:
    """Serve a FakeGitHub on a free port of 127.0.0.1 until the block ends."""
    fake = FakeGitHub(token, deny or set())
    with serve(_handler_for(fake), name="fake-github", poll=POLL_SECONDS) as url:
        fake.url = f"{url}{PREFIX}"
        yield fake
