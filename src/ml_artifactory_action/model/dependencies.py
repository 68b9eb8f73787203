"""The model's Python dependencies, for build-info: requirements / `pip freeze`, poetry.lock, uv.lock.

Pinned requirements (`name==version`) give `name:version`; `--hash=sha256:` options are kept (the
first one: a requirement may list one hash per distribution file). Lock files give every locked
package with the sha256 of its first distribution file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from ml_artifactory_action.errors import ConfigError

INPUT_NAME = "dependencies-file"
LOCK_FILES = frozenset({"poetry.lock", "uv.lock"})
_HASH = re.compile(r"--hash[=\s]+sha256:([0-9a-fA-F]{64})")
_OPTION = re.compile(r"\s--?[A-Za-z][\w-]*(?:[=\s]+\S+)?")
_NORMALIZE = re.compile(r"[-_.]+")


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str = ""
    sha256: str = ""
    # Filled from the file Artifactory holds with this sha256 (buildinfo/dependency_links.py):
    # Artifactory links a build's dependencies to its files by sha1.
    sha1: str = ""
    md5: str = ""

    @property
    def id(self) -> str:
        return f"{self.name}:{self.version}" if self.version else self.name


def normalize(name: str) -> str:
    """PEP 503 names: `Torch_Vision` and `torch-vision` are one package."""
    return _NORMALIZE.sub("-", name).lower()


def read_dependencies(path: Path) -> list[Dependency]:
    """Every dependency the file names, sorted by name; ConfigError when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            INPUT_NAME, f"cannot read '{path}': {exc}", fix="Point dependencies-file at a requirements or lock file."
        ) from None
    deps = _from_lock(path, text) if path.name in LOCK_FILES else list(_from_requirements(text))
    return sorted({d.name: d for d in deps}.values(), key=lambda d: d.name)


def _from_lock(path: Path, text: str) -> list[Dependency]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            INPUT_NAME, f"'{path}' is not valid TOML: {exc}", fix="Give the lock file as written by the tool."
        ) from None
    return [_locked(package) for package in document.get("package", []) if isinstance(package, Mapping)]


def _locked(package: Mapping[str, Any]) -> Dependency:
    files: list[Any] = list(package.get("files", []))  # poetry.lock
    if isinstance(package.get("sdist"), Mapping):  # uv.lock
        files.append(package["sdist"])
    files += list(package.get("wheels", []))
    hashes = [str(f.get("hash", "")) for f in files if isinstance(f, Mapping)]
    sha256 = next((h.removeprefix("sha256:") for h in hashes if h.startswith("sha256:")), "")
    return Dependency(normalize(str(package.get("name", ""))), str(package.get("version", "")), sha256)


def _from_requirements(text: str) -> Iterator[Dependency]:
    for line in _logical_lines(text):
        hashes = _HASH.findall(line)
        spec = _OPTION.sub("", f" {line}").strip()
        if not spec or spec.startswith("-"):
            continue  # -r, -e, --index-url and other pip options
        try:
            requirement = Requirement(spec)
        except InvalidRequirement:
            continue
        yield Dependency(normalize(requirement.name), _pinned_version(requirement), hashes[0].lower() if hashes else "")


def _logical_lines(text: str) -> Iterator[str]:
    """Lines with `\\` continuations joined and comments removed."""
    pending = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined = (pending + line).strip()
        pending = ""
        if joined:
            yield joined
    if pending.strip():
        yield pending.strip()


def _pinned_version(requirement: Requirement) -> str:
    pins = [s.version for s in requirement.specifier if s.operator in ("==", "===") and "*" not in s.version]
    return pins[0] if pins else ""
