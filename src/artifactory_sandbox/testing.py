"""Start the sandbox from tests: in-process (`run_sandbox`) or as a real process (`SandboxProcess`).

    with run_sandbox(tmp_path) as sandbox:
        httpx.get(f"{sandbox.url}/artifactory/api/system/ping")

`SandboxProcess` runs `python -m artifactory_sandbox` so a test can kill it mid-request and
restart it on the same port and data dir.
"""

from __future__ import annotations

import os
import re
import secrets
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .app import Sandbox, SandboxConfig
from .server import SandboxServer, create_server

READY_TIMEOUT_S = 20.0
STOP_POLL_S = 0.02  # how long stop() may wait for the serving loop to notice
READY_PATTERN = re.compile(r"Sandbox ready at (http://\S+)")


@dataclass
class SandboxHandle:
    """A sandbox serving on a background thread of this process."""

    url: str
    admin_token: str
    read_only_token: str | None
    data_dir: Path
    server: SandboxServer
    thread: threading.Thread = field(repr=False)

    @property
    def ctx(self) -> Sandbox:
        return self.server.ctx

    @property
    def artifactory_url(self) -> str:
        return f"{self.url}/artifactory"

    def stop(self) -> None:
        """Stop serving and close the database (idempotent)."""
        if self.thread.is_alive():
            self.server.shutdown()
            self.thread.join()
            self.server.server_close()
            self.server.ctx.close()


@contextmanager
def run_sandbox(data_dir: Path, **options: Any) -> Iterator[SandboxHandle]:
    """A sandbox on a free port of 127.0.0.1, stopped on exit.

    `options` are `SandboxConfig` fields (admin_token, read_only_token, xray_index_delay, ...);
    tokens default to fresh random ones.
    """
    options.setdefault("admin_token", secrets.token_urlsafe(24))
    options.setdefault("port", 0)
    options.setdefault("host", "127.0.0.1")
    server = create_server(SandboxConfig(data_dir=Path(data_dir), **options))
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": STOP_POLL_S},
        name="sandbox",
        daemon=True,
    )
    thread.start()
    config = server.ctx.config
    handle = SandboxHandle(server.url, config.admin_token, config.read_only_token, Path(data_dir), server, thread)
    try:
        yield handle
    finally:
        handle.stop()


class SandboxProcess:
    """`python -m artifactory_sandbox` in a child process; `.kill()` / `.restart()` for crash tests."""

    def __init__(
        self,
        data_dir: Path,
        admin_token: str | None = None,
        read_only_token: str | None = None,
        port: int = 0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self.read_only_token = read_only_token
        self.port = port
        self.extra_args = list(extra_args)
        self.url = ""
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-sandbox.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "artifactory_sandbox", "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        args += [f"--admin-token={self.admin_token}"]  # "=" form: a token may start with "-"
        if self.read_only_token:
            args += [f"--read-only-token={self.read_only_token}"]
        return args + self.extra_args

    def start(self) -> SandboxProcess:
        """Start the process and wait for its ready line; later starts reuse the same port."""
        self._log = self.log_path.open("ab")
        self._proc = subprocess.Popen(  # noqa: S603  our own module, fixed arguments
            self.command(), stdout=subprocess.PIPE, stderr=self._log, env=_child_env()
        )
        self.url = _wait_ready(self._proc, self.log_path)
        self.port = int(self.url.rsplit(":", 1)[1])
        return self

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as a crash would."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM and wait: the clean shutdown path."""
        self._end(signal.SIGTERM)

    def interrupt(self) -> None:
        """SIGINT (Ctrl-C) and wait: also a clean shutdown."""
        self._end(signal.SIGINT)

    def restart(self) -> SandboxProcess:
        self.kill()
        return self.start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    def _end(self, sig: signal.Signals) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(timeout=READY_TIMEOUT_S)
        if proc is not None and proc.stdout:
            proc.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return env


def _wait_ready(proc: subprocess.Popen[bytes], log_path: Path) -> str:
    if proc.stdout is None:
        raise RuntimeError("the sandbox process was started without a stdout pipe")
    deadline = time.monotonic() + READY_TIMEOUT_S
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=0.1):
                line = proc.stdout.readline().decode("utf-8", "replace")
                if found := READY_PATTERN.search(line):
                    return found.group(1)
            if proc.poll() is not None:
                break
    proc.kill()
    proc.wait()
    raise RuntimeError(f"sandbox did not start; see {log_path}:\n{log_path.read_text()[-2000:]}")
