"""End-to-end fixtures: a fresh sandbox per test, and the action run the way the runner runs it.

`action.run(inputs)` starts `python -m ml_artifactory_action` in a subprocess with:
- every input declared in action.yml set to its default, then the test's inputs, as
  `INPUT_<NAME>` upper-cased with hyphens kept (what a Docker action receives);
- GITHUB_OUTPUT, GITHUB_ENV, GITHUB_STEP_SUMMARY files and a GITHUB_EVENT_PATH event file;
- the workspace as working directory; JF_URL / JF_ACCESS_TOKEN pointing at the sandbox.
It returns what a user would look at: exit code, log, outputs, exported env, summary, annotations.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from artifactory_sandbox.testing import SandboxHandle, run_sandbox

ROOT = Path(__file__).resolve().parents[2]
ACTION_YML = ROOT / "action.yml"
RUN_TIMEOUT_S = 180
FAKE_GITHUB_TOKEN = "ghs_e2eFakeGithubToken0123456789abcdef"
_ANNOTATION = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$")


def _unescape(text: str) -> str:
    return text.replace("%0A", "\n").replace("%0D", "\r").replace("%3A", ":").replace("%2C", ",").replace("%25", "%")


def parse_file_command(text: str) -> dict[str, str]:
    """Read GITHUB_OUTPUT / GITHUB_ENV: `name<<DELIM` blocks and `name=value` lines."""
    values: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line:
            name, _, delimiter = line.partition("<<")
            body: list[str] = []
            for inner in lines:
                if inner == delimiter:
                    break
                body.append(inner)
            values[name] = "\n".join(body)
        elif "=" in line:
            name, _, value = line.partition("=")
            values[name] = value
    return values


@dataclass
class ActionResult:
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    env_file: dict[str, str]
    summary: str
    annotations: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def errors(self) -> list[tuple[str, str]]:
        return [(title, message) for level, title, message in self.annotations if level == "error"]

    @property
    def log(self) -> str:
        return self.stdout + self.stderr

    def json_output(self, name: str) -> Any:
        return json.loads(self.outputs[name])


def parse_annotations(stdout: str) -> list[tuple[str, str, str]]:
    found = []
    for line in stdout.splitlines():
        match = _ANNOTATION.match(line)
        if match:
            level, props, message = match.groups()
            title = ""
            for prop in (props or "").split(","):
                key, _, value = prop.partition("=")
                if key == "title":
                    title = _unescape(value)
            found.append((level, title, _unescape(message)))
    return found


def action_defaults() -> dict[str, str]:
    """Each input of action.yml with its default, as the runner would pass it."""
    if not ACTION_YML.exists():
        return {}
    spec = yaml.safe_load(ACTION_YML.read_text())
    defaults = {}
    for name, meta in (spec.get("inputs") or {}).items():
        default = str((meta or {}).get("default", ""))
        defaults[name] = FAKE_GITHUB_TOKEN if default == "${{ github.token }}" else default
    return defaults


class ActionHarness:
    def __init__(self, sandbox: SandboxHandle | None, tmp_path: Path) -> None:
        self.sandbox = sandbox
        self.root = tmp_path
        self.workspace = tmp_path / "workspace"
        self.workspace.mkdir(exist_ok=True)
        self.home = tmp_path / "home"
        self.home.mkdir(exist_ok=True)
        self.runs = 0

    def base_env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "acme/fraud-model",
            "GITHUB_REPOSITORY_OWNER": "acme",
            "GITHUB_SERVER_URL": "https://github.com",
            # Nothing listens on port 9 of loopback: a test that does not fake GitHub never reaches the internet.
            "GITHUB_API_URL": "http://127.0.0.1:9",
            "GITHUB_RUN_ID": "90001",
            "GITHUB_RUN_NUMBER": "7",
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_SHA": "3f786850e387550fdab836ed7e6dc881de23001b",
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REF_NAME": "main",
            "GITHUB_WORKFLOW": "train",
            "GITHUB_JOB": "publish",
            "GITHUB_ACTOR": "octocat",
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_WORKSPACE": str(self.workspace),
            "RUNNER_TEMP": str(self.root / "runner-temp"),
        }
        if self.sandbox is not None:
            env["JF_URL"] = self.sandbox.url
            env["JF_ACCESS_TOKEN"] = self.sandbox.admin_token
        return env

    def run(
        self,
        inputs: Mapping[str, str],
        env: Mapping[str, str | None] | None = None,
        event: Mapping[str, Any] | None = None,
        argv: list[str] | None = None,
    ) -> ActionResult:
        """Run the entrypoint once; `env` values of None remove a variable."""
        self.runs += 1
        files = self.root / f"run-{self.runs}"
        files.mkdir()
        paths = {name: files / name.lower() for name in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY")}
        for path in paths.values():
            path.touch()
        event_path = files / "event.json"
        event_path.write_text(json.dumps(event or {"ref": "refs/heads/main"}))
        full_env = self.base_env() | {k: str(v) for k, v in paths.items()} | {"GITHUB_EVENT_PATH": str(event_path)}
        (self.root / "runner-temp").mkdir(exist_ok=True)
        for name, value in (action_defaults() | dict(inputs)).items():
            full_env[f"INPUT_{name.upper()}"] = value
        for name, override in (env or {}).items():
            if override is None:
                full_env.pop(name, None)
            else:
                full_env[name] = override
        command = [sys.executable, "-m", "ml_artifactory_action", *(argv or [])]
        proc = subprocess.run(
            command,
            cwd=self.workspace,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        return ActionResult(
            returncode=proc.returncode,
            stdout=proc.stdout,
            stderr=proc.stderr,
            outputs=parse_file_command(paths["GITHUB_OUTPUT"].read_text()),
            env_file=parse_file_command(paths["GITHUB_ENV"].read_text()),
            summary=paths["GITHUB_STEP_SUMMARY"].read_text(),
            annotations=parse_annotations(proc.stdout),
        )


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path / "sandbox-data", xray_index_delay=0.3) as handle:
        yield handle


@pytest.fixture
def action(sandbox: SandboxHandle, tmp_path: Path) -> ActionHarness:
    return ActionHarness(sandbox, tmp_path)
