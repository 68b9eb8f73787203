"""What a workflow declares (inputs, secrets, permissions), checked as GitHub checks a call."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

PERMISSION_LEVEL = {"none": 0, "read": 1, "write": 2}


class WorkflowError(AssertionError):
    """The workflow would be refused or would fail on GitHub for a reason of its own making."""


def load(path: Path) -> dict[str, Any]:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["on"] = spec.pop(True, spec.get("on"))  # YAML 1.1 reads the key `on` as True
    return dict(spec)


def check_inputs(
    workflow: str, declared: Mapping[str, Any], given: Mapping[str, Any], *, dispatch: bool
) -> dict[str, Any]:
    unknown = set(given) - set(declared)
    if unknown:
        raise WorkflowError(f"{workflow}: inputs {sorted(unknown)} are not declared")
    values: dict[str, Any] = {}
    for name, declaration in declared.items():
        meta = declaration or {}
        if name not in given and meta.get("required") and "default" not in meta:
            raise WorkflowError(f"{workflow}: required input {name!r} is missing")
        value = given.get(name, meta.get("default", False if meta.get("type") == "boolean" else ""))
        if meta.get("type") == "choice" and value not in meta.get("options", []):
            raise WorkflowError(f"{workflow}: {value!r} is not one of {meta.get('options')} for {name!r}")
        if meta.get("type") == "boolean" and not isinstance(value, bool):
            if dispatch and value in ("true", "false"):
                value = value == "true"
            else:
                raise WorkflowError(f"{workflow}: input {name!r} must be a boolean, got {value!r}")
        values[name] = value
    return values


def check_permissions(workflow: str, spec: Mapping[str, Any], granted: Mapping[str, str] | None) -> None:
    if granted is None:
        return
    for name, job in spec["jobs"].items():
        asked = job.get("permissions", spec.get("permissions")) or {}
        for scope, level in asked.items():
            if PERMISSION_LEVEL[level] > PERMISSION_LEVEL[granted.get(scope, "none")]:
                raise WorkflowError(
                    f"{workflow}: job {name!r} asks for {scope}: {level} but the caller grants "
                    f"{scope}: {granted.get(scope, 'none')}"
                )
