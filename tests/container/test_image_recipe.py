"""The image recipe: pinned, hash-checked dependencies and an entrypoint the runner can start anywhere.

The image itself is built and run by `scripts/container_smoke.sh` (from `.ci/run`); these checks
are the static half, fast enough for every `make test`.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
_PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)")


def locked(path: Path) -> dict[str, tuple[Version, int]]:
    """name -> (pinned version, number of hashes) for every requirement of a pip lock file."""
    pins: dict[str, tuple[Version, int]] = {}
    current = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match.group(1))
            pins[current] = (Version(match.group(2)), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


ACTION_LOCK = locked(ROOT / "requirements" / "action.txt")


@pytest.mark.parametrize("spec", PYPROJECT["project"]["dependencies"])
def test_every_runtime_dependency_is_pinned_in_the_lock_within_pyprojects_range(spec: str) -> None:
    requirement = Requirement(spec)
    name = canonicalize_name(requirement.name)

    assert name in ACTION_LOCK, f"{name} is missing from requirements/action.txt: run requirements/lock.sh"
    version, _ = ACTION_LOCK[name]
    assert requirement.specifier.contains(version, prereleases=True), (
        f"requirements/action.txt pins {name}=={version}, outside pyproject's {requirement.specifier}: "
        "run requirements/lock.sh"
    )


def test_every_locked_file_is_checked_by_hash() -> None:
    unhashed = [name for name, (_, hashes) in ACTION_LOCK.items() if hashes == 0]

    assert ACTION_LOCK
    assert unhashed == []


def test_no_dev_dependency_reaches_the_image() -> None:
    dev = {canonicalize_name(Requirement(s).name) for s in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    runtime = {canonicalize_name(Requirement(s).name) for s in PYPROJECT["project"]["dependencies"]}

    assert (dev - runtime) & set(ACTION_LOCK) == set()


def test_the_build_stage_tools_are_pinned_with_hashes_too() -> None:
    build = locked(ROOT / "requirements" / "build.txt")

    assert {"setuptools", "wheel"} <= set(build)
    assert all(hashes > 0 for _, hashes in build.values())
    backend_requires = PYPROJECT["build-system"]["requires"]
    for spec in backend_requires:
        requirement = Requirement(spec)
        assert requirement.specifier.contains(build[canonicalize_name(requirement.name)][0])


def test_both_stages_start_from_the_slim_python_image() -> None:
    assert re.findall(r"^FROM (\S+)", DOCKERFILE, re.MULTILINE) == ["python:3.12-slim", "python:3.12-slim"]


def test_every_pip_install_is_hash_checked_or_of_the_wheel_built_here() -> None:
    installs = re.findall(r"pip install[^\n]*(?:\\\n[^\n]*)*", DOCKERFILE)

    assert len(installs) == 3
    for command in installs:
        assert "--no-cache-dir" in command
        assert "--require-hashes" in command or ("--no-deps" in command and "/tmp/wheels/*.whl" in command)


def test_entrypoint_is_an_absolute_interpreter_running_the_module_without_the_workspace_on_sys_path() -> None:
    entrypoints = re.findall(r"^ENTRYPOINT (.+)$", DOCKERFILE, re.MULTILINE)

    assert entrypoints == ['["/usr/local/bin/python", "-P", "-m", "ml_artifactory_action"]']


@pytest.mark.parametrize("instruction", ["USER", "WORKDIR", "CMD", "VOLUME"])
def test_no_instruction_the_runner_overrides_or_advises_against(instruction: str) -> None:
    assert not re.search(rf"^{instruction}\b", DOCKERFILE, re.MULTILINE)


def test_the_build_context_holds_only_what_the_image_is_built_from() -> None:
    rules = [
        line for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if line and line[0] != "#"
    ]

    assert rules[0] == "*", "start from nothing, then allow what the image needs"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "requirements/action.txt", "requirements/build.txt", "src"}
    copied = set(re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.MULTILINE))
    assert copied == {"pyproject.toml README.md", "src", "requirements/build.txt", "requirements/action.txt"}
