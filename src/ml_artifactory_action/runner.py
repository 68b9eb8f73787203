"""GitHub runner I/O: outputs, env for later steps, the step summary, annotations, masks, logs.

Everything the action writes for the user goes through one `Runner`, which also redacts every
value it was asked to mask, as a second line of defence behind `::add-mask::`.
Outside a runner (no GITHUB_OUTPUT / GITHUB_STEP_SUMMARY), outputs and the summary are kept in
memory so the CLI can print them.

This is the one place that writes workflow commands (`::error::`, `::group::`, `::add-mask::`), and
only under GitHub Actions. At a terminal they would be noise, or worse: `::add-mask::<token>`
prints the token in clear. There, the same calls print plain text for people.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from ml_artifactory_action.settings import GitHubContext

REDACTED = "***"
# Shorter values would redact ordinary words; GitHub's own masking has the same blind spot.
MIN_SECRET_LENGTH = 4


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


class Runner:
    def __init__(self, github: GitHubContext, stream: TextIO | None = None) -> None:
        self._github = github
        self._stream = stream or sys.stdout
        self._secrets: set[str] = set()
        self.outputs: dict[str, str] = {}
        self.summary: list[str] = []
        self.annotations: list[tuple[str, str, str]] = []

    @property
    def in_actions(self) -> bool:
        return self._github.in_actions

    # Secrets -------------------------------------------------------------------------------
    def mask(self, value: str | None) -> None:
        """Tell the runner to hide `value` in logs from now on, and redact it ourselves."""
        if not value or len(value) < MIN_SECRET_LENGTH or value in self._secrets:
            return
        self._secrets.add(value)
        if not self.in_actions:
            return  # no runner hides it: announcing it would print it
        for line in value.splitlines():
            if len(line) >= MIN_SECRET_LENGTH:
                self._emit(f"::add-mask::{_escape_data(line)}", redact=False)

    def redact(self, text: str) -> str:
        for value in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(value, REDACTED)
        return text

    # Logs ----------------------------------------------------------------------------------
    def info(self, message: str) -> None:
        self._emit(message)

    def debug(self, message: str) -> None:
        if self._github.debug:
            self._emit(f"::debug::{_escape_data(message)}" if self.in_actions else f"debug: {message}")

    def warning(self, title: str, message: str) -> None:
        self._annotate("warning", title, message)

    def error(self, title: str, message: str) -> None:
        self._annotate("error", title, message)

    def _annotate(self, level: str, title: str, message: str) -> None:
        title, message = self.redact(title), self.redact(message)
        self.annotations.append((level, title, message))
        if self.in_actions:
            self._emit(f"::{level} title={_escape_property(title)}::{_escape_data(message)}")
        else:
            self._emit(f"{level.capitalize()}: {title}\n{message}")

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        if not self.in_actions:
            self._emit(f"== {title}")
            yield
            return
        self._emit(f"::group::{title}")
        try:
            yield
        finally:
            self._emit("::endgroup::")

    def _emit(self, line: str, *, redact: bool = True) -> None:
        print(self.redact(line) if redact else line, file=self._stream, flush=True)

    # File commands -------------------------------------------------------------------------
    def set_output(self, name: str, value: str) -> None:
        value = self.redact(value)
        self.outputs[name] = value
        self._append(self._github.output_path, _key_value(name, value))

    def export_env(self, name: str, value: str, *, secret: bool = False) -> None:
        """Make `name` visible to later steps; a secret is masked before it is written."""
        if secret:
            self.mask(value)
        self._append(self._github.env_path, _key_value(name, value))

    def add_summary(self, markdown: str) -> None:
        markdown = self.redact(markdown)
        self.summary.append(markdown)
        self._append(self._github.summary_path, markdown if markdown.endswith("\n") else markdown + "\n")

    @staticmethod
    def _append(path: Path | None, text: str) -> None:
        if path is not None:
            with path.open("a", encoding="utf-8") as handle:
                handle.write(text)


def _key_value(name: str, value: str) -> str:
    """The multi-line safe form of GitHub's file commands: name<<DELIM / value / DELIM."""
    delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
    while delimiter in value:
        delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


class Progress:
    """A line every `interval` seconds for long transfers: CI logs have no progress bars."""

    def __init__(self, runner: Runner, label: str, total: int, interval: float = 5.0) -> None:
        self._runner, self._label, self._total, self._interval = runner, label, total, interval
        self._start = self._last = time.monotonic()
        self.done = 0

    def restart(self) -> None:
        """Count again from zero (a retried transfer sends the file again)."""
        self._start = self._last = time.monotonic()
        self.done = 0

    def advance(self, nbytes: int) -> None:
        self.done += nbytes
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._last = now
            self._runner.info(self.line(now))

    def line(self, now: float) -> str:
        rate = self.done / max(now - self._start, 1e-9)
        percent = 100.0 * self.done / self._total if self._total else 100.0
        return f"{self._label}: {_size(self.done)} of {_size(self._total)} ({percent:.0f}%) at {_size(rate)}/s"


def _size(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(nbytes) < 1024 or unit == "GiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.1f} GiB"


human_size = _size
