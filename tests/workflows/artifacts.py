"""actions/upload-artifact and actions/download-artifact, as the workflow tests need them."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from tests.workflows.declarations import WorkflowError

GLOB_CHARS = re.compile(r"[*?\[]")


def upload_artifact(workspace: Path, store: Path, step: str, with_: Mapping[str, str]) -> None:
    """actions/upload-artifact: files are stored relative to the least common ancestor of the search paths.

    Its docs/MIGRATION.md: "In v4, Artifacts are immutable (unless deleted). So you must change each of
    the uploaded Artifacts to have a different name": a second upload of a name in one run fails.
    """
    if (store / with_["name"]).exists() and with_.get("overwrite") != "true":
        raise WorkflowError(f"step {step!r}: an artifact named {with_['name']!r} was already uploaded in this run")
    patterns = [line.strip() for line in with_.get("path", "").splitlines() if line.strip()]
    roots = [workspace / GLOB_CHARS.split(p, maxsplit=1)[0] for p in patterns]
    files = sorted({f for p in patterns for f in _matches(workspace, p)})
    if not files:
        if with_.get("if-no-files-found", "warn") == "error":
            raise WorkflowError(f"step {step!r}: no files match {patterns}")
        return
    if len(roots) == 1:
        root = roots[0] if roots[0].is_dir() else roots[0].parent
    else:
        root = Path(os.path.commonpath([str(r) for r in roots]))
    target = store / with_["name"]
    for file in files:
        (target / file.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target / file.relative_to(root))


def download_artifact(workspace: Path, store: Path, with_: Mapping[str, str]) -> None:
    """actions/download-artifact: the named artifact into `path` (default: the workspace)."""
    source = store / with_["name"]
    if not source.is_dir():
        raise WorkflowError(f"artifact {with_['name']!r} was not uploaded by an earlier job")
    destination = workspace / with_.get("path", "")
    shutil.copytree(source, destination, dirs_exist_ok=True)


def _matches(workspace: Path, pattern: str) -> list[Path]:
    path = workspace / pattern
    found = list(workspace.glob(pattern)) if GLOB_CHARS.search(pattern) else [path] * path.exists()
    files: list[Path] = []
    for item in found:
        files += [f for f in item.rglob("*") if f.is_file()] if item.is_dir() else [item]
    return files
