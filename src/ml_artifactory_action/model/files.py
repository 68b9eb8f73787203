"""Which local files make up the model, and where each goes under the target folder.

`model-path` lines are files, folders or globs (`**` included), relative to the workspace. A
folder uploads whole with its structure (a Hugging Face folder: config.json, weights, tokenizer
files), except version-control and Hugging Face cache folders; a glob keeps the structure below
its first wildcard. The selection is sorted and de-duplicated, so two runs send the same list.
Anything surprising stops here, before a byte leaves: nothing matched, an unreadable or special
file, a symlink leading out of the workspace, two files wanting the same target path.

In GitHub Actions every line must stay inside GITHUB_WORKSPACE. At a terminal, a path the user
typed outside the current folder (`/data/model`, `../model`) is the user's choice; only symlinks
found inside it that lead out of it are refused.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ml_artifactory_action.errors import ConfigError, ModelFilesError

GLOB_CHARS = frozenset("*?[")
# Folders never uploaded from inside a model folder (what huggingface_hub's upload_folder skips).
SKIPPED_FOLDERS = (".git", ".cache/huggingface")
# (suffix or exact name, framework), first match wins per file.
FRAMEWORK_RULES: tuple[tuple[str, str], ...] = (
    (".safetensors", "safetensors"),
    (".gguf", "gguf"),
    (".onnx", "onnx"),
    ("pytorch_model.bin", "pytorch"),
    (".pt", "pytorch"),
    (".pth", "pytorch"),
    (".joblib", "sklearn-joblib"),
    (".keras", "keras"),
    (".h5", "keras"),
    ("saved_model.pb", "tensorflow"),
    (".tflite", "tensorflow"),
    (".pkl", "pickle"),
    (".pickle", "pickle"),
)
FILES_FIX = "Check model-path: one file, folder or glob per line, relative to the workspace."


@dataclass(frozen=True)
class ModelFile:
    """One file to upload: where it is, where it goes (relative to the target folder), its size."""

    local: Path
    relative: str
    size: int


def select_files(lines: Sequence[str], workspace: Path, *, outside_allowed: bool = False) -> list[ModelFile]:
    """Resolve every `model-path` line; raise ModelFilesError for anything unusable.

    `outside_allowed` (outside GitHub Actions): a line may name a path outside `workspace`.
    """
    root = workspace.resolve()
    chosen: dict[str, ModelFile] = {}
    for line in lines:
        fence = _fence(line, root, outside_allowed=outside_allowed)
        found = list(_expand(line, root))
        if not found:
            raise ModelFilesError(_nothing_message(line, root), fix=FILES_FIX)
        for local, relative in found:
            _add(chosen, _checked(local, relative, fence, is_workspace=fence == root))
    return [chosen[key] for key in sorted(chosen)]


def _fence(line: str, root: Path, *, outside_allowed: bool) -> Path:
    """The folder no file of this line may lead out of: the workspace, or what the user typed."""
    typed = Path(os.path.normpath(root / PurePosixPath(*_takewhile_literal(PurePosixPath(line).parts))))
    if typed.is_relative_to(root) or typed.resolve().is_relative_to(root):
        return root
    if not outside_allowed:
        raise ModelFilesError(
            f"model-path {line!r} is outside the workspace: in GitHub Actions, model-path must be inside "
            f"GITHUB_WORKSPACE ({root})",
            fix="Write or copy the model into the workspace and give its path relative to it.",
        )
    real = typed.resolve()
    return real if real.is_dir() else real.parent


def _add(chosen: dict[str, ModelFile], file: ModelFile) -> None:
    other = chosen.get(file.relative)
    if other is not None and other.local.resolve() != file.local.resolve():
        raise ModelFilesError(
            f"{other.local} and {file.local} would both be uploaded as {file.relative!r}",
            fix="Select only one of them, or upload their folders so that their paths differ.",
        )
    chosen[file.relative] = file


def _expand(line: str, root: Path) -> Iterator[tuple[Path, str]]:
    """(local path, path relative to the target) for every file one line selects."""
    if GLOB_CHARS & set(line):
        base = _glob_base(line)
        for match in sorted(glob.glob(line, root_dir=root, recursive=True)):
            yield from _expand_path(root / match, PurePosixPath(match).relative_to(base))
        return
    path = root / line
    if not path.exists() and not path.is_symlink():
        raise ModelFilesError(f"model-path {line!r}: no such file or folder in the workspace ({root})", fix=FILES_FIX)
    yield from _expand_path(path, PurePosixPath(path.name) if not path.is_dir() else PurePosixPath())


def _glob_base(line: str) -> PurePosixPath:
    """The literal folders in front of the first wildcard: what a glob match is relative to."""
    return PurePosixPath(*_takewhile_literal(PurePosixPath(line).parts))


def _takewhile_literal(parts: Iterable[str]) -> Iterator[str]:
    for part in parts:
        if GLOB_CHARS & set(part):
            return
        yield part


def _expand_path(path: Path, relative: PurePosixPath) -> Iterator[tuple[Path, str]]:
    if path.is_dir():
        for file in _walk(path, set()):
            yield file, str(relative / file.relative_to(path).as_posix())
    else:
        yield path, str(relative)


def _walk(folder: Path, seen: set[Path]) -> Iterator[Path]:
    """Every file below `folder`, following symlinked folders once (no cycles)."""
    real = folder.resolve()
    if real in seen:
        return
    seen.add(real)
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        path = Path(entry.path)
        if entry.is_dir():
            if not _skipped(path):
                yield from _walk(path, seen)
        else:
            yield path


def _skipped(folder: Path) -> bool:
    posix = folder.as_posix()
    return any(posix.endswith("/" + name) for name in SKIPPED_FOLDERS)


def _checked(local: Path, relative: str, root: Path, *, is_workspace: bool = True) -> ModelFile:
    """The file, if it is a readable regular file inside `root` (the workspace, or the folder typed)."""
    try:
        real = local.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ModelFilesError(f"{local} cannot be read: it is a broken symlink", fix=FILES_FIX) from None
    if not real.is_relative_to(root):
        where = "the workspace" if is_workspace else str(root)
        raise ModelFilesError(
            f"{local} leads outside {where} (to {real})",
            fix=f"Copy the file into {where} instead of linking to it; files outside it are never uploaded.",
        )
    mode = real.stat().st_mode
    if not stat.S_ISREG(mode):
        raise ModelFilesError(f"{local} is not a regular file (a pipe, socket or device)", fix=FILES_FIX)
    _check_readable(local)
    return ModelFile(local=local, relative=relative, size=real.stat().st_size)


def _check_readable(local: Path) -> None:
    try:
        with local.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ModelFilesError(
            f"{local} cannot be read: {exc.strerror or exc}",
            fix="Make the file readable by the runner (e.g. chmod a+r) or leave it out of model-path.",
        ) from None


def _nothing_message(line: str, root: Path) -> str:
    if GLOB_CHARS & set(line):
        return f"model-path {line!r} matched no file in the workspace ({root})"
    return f"model-path {line!r} is an empty folder: there is nothing to upload"


def render_target(template: str, model_name: str, model_version: str) -> str:
    """`target-path` with {model-name} and {model-version} filled in, normalised, inside the repo."""
    text = template.replace("{model-name}", model_name).replace("{model-version}", model_version)
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ConfigError(
            "target-path",
            f"{text!r} climbs out of the repository with '..'",
            fix="Give a path inside the repository (check model-name and model-version too).",
        )
    return "/".join(parts)


def target_of(folder: str, file: ModelFile) -> str:
    """The file's path in the repository: the target folder, then its relative path."""
    return str(PurePosixPath(folder) / file.relative) if folder else file.relative


def detect_frameworks(files: Iterable[ModelFile]) -> tuple[str, ...]:
    """The model formats the files are in, by their names (the safety scan reads their contents)."""
    found = {framework for file in files if (framework := _framework(PurePosixPath(file.relative).name))}
    order = [framework for _, framework in FRAMEWORK_RULES]
    return tuple(sorted(found, key=order.index))


def _framework(name: str) -> str | None:
    lower = name.lower()
    return next((framework for rule, framework in FRAMEWORK_RULES if lower == rule or lower.endswith(rule)), None)
