"""A route table behind `httpx.MockTransport`, for unit tests of the JFrog clients and stages.

Tests register answers by method and path regex; every request is recorded; a request nobody
registered is answered 599 and recorded in `unexpected`, so tests can assert none happened.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.retry import RetryPolicy
from ml_artifactory_action.inputs import load_settings
from ml_artifactory_action.runner import Runner
from ml_artifactory_action.settings import Settings
from ml_artifactory_action.stages.context import RunState, StageContext

PLATFORM_URL = "https://acme.jfrog.io"
Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


def jfrog_json(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def jfrog_error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"errors": [{"status": status, "message": message}]})


def raw_path(request: httpx.Request) -> str:
    """The path as sent, still percent-encoded (so `%2F` in a build name stays visible)."""
    return request.url.raw_path.decode().partition("?")[0]


@dataclass
class FakeJFrog:
    routes: list[tuple[str, re.Pattern[str], list[Answer]]] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Answer) -> None:
        """Answer `method path` (regex on the raw URL path) with these answers in turn (the last repeats)."""
        self.routes.append((method, re.compile(path), list(answers)))

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        for method, pattern, answers in self.routes:
            if method == request.method and pattern.fullmatch(raw_path(request)):
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                return answer(request) if callable(answer) else answer
        self.unexpected.append(f"{request.method} {request.url}")
        return httpx.Response(599, text=f"unexpected request {request.method} {request.url.path}")

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and re.fullmatch(path, raw_path(r))]

    def json_sent(self, method: str, path: str) -> list[Any]:
        return [json.loads(r.content) for r in self.sent(method, path)]

    def client(self) -> ArtifactoryClient:
        http = httpx.Client(transport=self.transport)
        return ArtifactoryClient(PLATFORM_URL, http, policy=RetryPolicy(attempts=1))


BASE_ENV = {
    "GITHUB_REPOSITORY": "acme/fraud-model",
    "GITHUB_RUN_ID": "90001",
    "GITHUB_RUN_NUMBER": "7",
    "GITHUB_SHA": "3f786850e387550fdab836ed7e6dc881de23001b",
    "GITHUB_REF_NAME": "main",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_EVENT_NAME": "push",
}


def runner_env(tmp_path: Path) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV / GITHUB_STEP_SUMMARY files in tmp_path, and a workspace."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    files = {name: tmp_path / name.lower() for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY")}
    for path in files.values():
        path.touch()
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    return {name: str(path) for name, path in files.items()} | {"GITHUB_WORKSPACE": str(workspace)}


def make_context(
    tmp_path: Path,
    inputs: Mapping[str, str],
    *,
    fake: FakeJFrog | None = None,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> StageContext:
    """A StageContext as the entrypoint builds it, with the client talking to `fake`."""
    environ = BASE_ENV | runner_env(tmp_path) | {"JF_URL": PLATFORM_URL, "JF_ACCESS_TOKEN": "fake-admin-token"}
    environ |= {f"INPUT_{name.upper()}": value for name, value in inputs.items()}
    environ |= dict(env or {})
    settings = load_settings(environ)
    runner = RecordingRunner(settings)
    ctx = StageContext(settings, runner, RunState(), transport=transport or (fake.transport if fake else None))
    if fake is not None:
        ctx.client_factory = fake.client
    return ctx


class RecordingRunner(Runner):
    """A runner whose log lines are kept for the test to read."""

    def __init__(self, settings: Settings) -> None:
        self.stream = io.StringIO()
        super().__init__(settings.github, self.stream)

    @property
    def log(self) -> str:
        return self.stream.getvalue()


def log_of(ctx: StageContext) -> str:
    assert isinstance(ctx.runner, RecordingRunner)
    return ctx.runner.log
