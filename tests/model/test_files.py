"""Selecting model files: folders, globs, sorting, and every way a selection is refused."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ml_artifactory_action.errors import ConfigError, ModelFilesError
from ml_artifactory_action.model.files import ModelFile, detect_frameworks, render_target, select_files, target_of


def write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def relatives(files: list[ModelFile]) -> list[str]:
    return [f.relative for f in files]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    return workspace


def test_a_file_goes_by_its_name_with_its_size(ws: Path) -> None:
    write(ws / "out" / "model.onnx", b"12345")
    [file] = select_files(["out/model.onnx"], ws)
    assert (file.relative, file.size, file.local) == ("model.onnx", 5, ws / "out" / "model.onnx")


def test_a_folder_uploads_whole_keeping_its_structure_sorted(ws: Path) -> None:
    for name in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "sub/b.txt", "a.txt"]:
        write(ws / "hf" / name)
    files = select_files(["hf"], ws)
    assert relatives(files) == [
        "a.txt",
        "config.json",
        "model.safetensors",
        "sub/b.txt",
        "tokenizer.json",
        "tokenizer_config.json",
    ]


def test_a_folder_skips_version_control_and_hugging_face_cache(ws: Path) -> None:
    write(ws / "hf" / "model.safetensors")
    write(ws / "hf" / ".git" / "HEAD")
    write(ws / "hf" / ".cache" / "huggingface" / "download" / "x.lock")
    write(ws / "hf" / ".gitattributes")
    assert relatives(select_files(["hf/"], ws)) == [".gitattributes", "model.safetensors"]


def test_globs_keep_the_structure_below_the_first_wildcard(ws: Path) -> None:
    write(ws / "runs" / "a" / "model.onnx")
    write(ws / "runs" / "b" / "deep" / "model.onnx")
    write(ws / "runs" / "b" / "notes.txt")
    assert relatives(select_files(["runs/**/*.onnx"], ws)) == ["a/model.onnx", "b/deep/model.onnx"]
    assert relatives(select_files(["runs/*/"], ws)) == ["a/model.onnx", "b/deep/model.onnx", "b/notes.txt"]


def test_several_lines_are_merged_sorted_and_deduplicated(ws: Path) -> None:
    write(ws / "m" / "weights.bin")
    write(ws / "m" / "config.json")
    files = select_files(["m/weights.bin", "m", "m/config.json", "m/*.json"], ws)
    assert relatives(files) == ["config.json", "weights.bin"]


def test_an_absolute_path_inside_the_workspace_is_fine(ws: Path) -> None:
    write(ws / "model.pkl")
    assert relatives(select_files([str(ws / "model.pkl")], ws)) == ["model.pkl"]


def test_no_such_path_names_the_line_and_the_workspace(ws: Path) -> None:
    with pytest.raises(ModelFilesError) as caught:
        select_files(["model.pkl"], ws)
    assert caught.value.message == f"model-path 'model.pkl': no such file or folder in the workspace ({ws})"
    assert "relative to the workspace" in caught.value.fix


def test_an_empty_folder_is_refused(ws: Path) -> None:
    (ws / "empty").mkdir()
    with pytest.raises(ModelFilesError, match="model-path 'empty' is an empty folder: there is nothing to upload"):
        select_files(["empty"], ws)


def test_a_glob_matching_nothing_is_refused(ws: Path) -> None:
    write(ws / "model.onnx")
    with pytest.raises(ModelFilesError, match=r"model-path '\*\.gguf' matched no file in the workspace"):
        select_files(["*.gguf"], ws)


def test_a_symlink_leading_out_of_the_workspace_is_refused(ws: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "outside" / "id_rsa")
    (ws / "model").mkdir()
    (ws / "model" / "weights.bin").symlink_to(secret)
    with pytest.raises(ModelFilesError) as caught:
        select_files(["model"], ws)
    assert caught.value.message == f"{ws / 'model' / 'weights.bin'} leads outside the workspace (to {secret})"


def test_in_actions_a_path_climbing_out_of_the_workspace_is_refused_saying_it_must_be_inside(
    ws: Path, tmp_path: Path
) -> None:
    write(tmp_path / "other.bin")
    for line in ("../other.bin", str(tmp_path / "other.bin"), str(tmp_path / "*.bin")):
        with pytest.raises(ModelFilesError) as caught:
            select_files([line], ws)
        assert caught.value.message == (
            f"model-path {line!r} is outside the workspace: in GitHub Actions, model-path must be inside "
            f"GITHUB_WORKSPACE ({ws})"
        )


def test_at_a_terminal_a_path_outside_the_current_folder_is_the_users_choice(ws: Path, tmp_path: Path) -> None:
    weights = write(tmp_path / "elsewhere" / "model" / "weights.bin", b"w")
    write(tmp_path / "elsewhere" / "model" / "config.json", b"{}")

    by_folder = select_files([str(weights.parent)], ws, outside_allowed=True)
    by_climbing = select_files(["../elsewhere/model/weights.bin"], ws, outside_allowed=True)

    assert [(f.relative, f.local) for f in by_folder] == [
        ("config.json", weights.parent / "config.json"),
        ("weights.bin", weights),
    ]
    assert [f.relative for f in by_climbing] == ["weights.bin"]


def test_at_a_terminal_a_link_leading_out_of_the_folder_typed_is_still_refused(ws: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "secret" / "id_rsa")
    model = tmp_path / "elsewhere" / "model"
    model.mkdir(parents=True)
    (model / "weights.bin").symlink_to(secret)
    with pytest.raises(ModelFilesError) as caught:
        select_files([str(model)], ws, outside_allowed=True)
    assert caught.value.message == f"{model / 'weights.bin'} leads outside {model} (to {secret})"


def test_a_symlink_inside_the_workspace_is_followed(ws: Path) -> None:
    blob = write(ws / "blobs" / "abc", b"weights")
    (ws / "snap").mkdir()
    (ws / "snap" / "model.safetensors").symlink_to(blob)
    [file] = select_files(["snap"], ws)
    assert (file.relative, file.size) == ("model.safetensors", 7)


def test_a_symlinked_folder_cycle_ends(ws: Path) -> None:
    write(ws / "m" / "a.bin")
    (ws / "m" / "loop").symlink_to(ws / "m")
    assert relatives(select_files(["m"], ws)) == ["a.bin"]


def test_a_broken_symlink_cannot_be_read(ws: Path) -> None:
    (ws / "model.bin").symlink_to(ws / "gone.bin")
    with pytest.raises(ModelFilesError, match=r"model.bin cannot be read: it is a broken symlink"):
        select_files(["model.bin"], ws)


def test_a_pipe_is_not_a_model_file(ws: Path) -> None:
    os.mkfifo(ws / "pipe")
    with pytest.raises(ModelFilesError, match="is not a regular file"):
        select_files(["pipe"], ws)


def test_a_socket_in_a_folder_is_not_a_model_file(ws: Path) -> None:
    (ws / "m").mkdir()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(ws / "m" / "s"))
        with pytest.raises(ModelFilesError, match="is not a regular file"):
            select_files(["m"], ws)


NOBODY_ID = 65534


@contextmanager
def as_nobody() -> Iterator[None]:
    """As root (CI, containers) act as `nobody`, for whom mode 000 means unreadable; else as we are.

    Only the effective ids change, so the interpreter and the package stay loaded and readable."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY_ID)
    os.seteuid(NOBODY_ID)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_an_unreadable_file_is_refused() -> None:
    workspace = Path(tempfile.mkdtemp(prefix="unreadable-"))
    try:
        workspace.chmod(0o755)
        write(workspace / "model.pkl").chmod(0)
        with as_nobody(), pytest.raises(ModelFilesError) as caught:
            select_files(["model.pkl"], workspace)
        assert caught.value.message == f"{workspace / 'model.pkl'} cannot be read: Permission denied"
    finally:
        shutil.rmtree(workspace)


def test_two_files_wanting_the_same_target_are_refused(ws: Path) -> None:
    write(ws / "a" / "model.onnx", b"1")
    write(ws / "b" / "model.onnx", b"2")
    with pytest.raises(ModelFilesError, match=r"would both be uploaded as 'model\.onnx'"):
        select_files(["a/model.onnx", "b/model.onnx"], ws)


def test_target_of_joins_folder_and_relative_path() -> None:
    file = ModelFile(Path("/ws/hf/sub/a.json"), "sub/a.json", 1)
    assert target_of("fraud/7", file) == "fraud/7/sub/a.json"
    assert target_of("", file) == "sub/a.json"


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["config.json", "model.safetensors", "tokenizer.json"], ("safetensors",)),
        (["model.pt", "model.onnx"], ("onnx", "pytorch")),
        (["pytorch_model.bin"], ("pytorch",)),
        (["model.gguf"], ("gguf",)),
        (["model.joblib"], ("sklearn-joblib",)),
        (["model.keras", "weights.h5"], ("keras",)),
        (["saved_model/saved_model.pb", "saved_model/variables/variables.index"], ("tensorflow",)),
        (["model.pkl"], ("pickle",)),
        (["README.md"], ()),
    ],
)
def test_frameworks_are_detected_from_file_names(names: list[str], expected: tuple[str, ...]) -> None:
    files = [ModelFile(Path("/ws") / n, n, 1) for n in names]
    assert detect_frameworks(files) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{model-name}/{model-version}/", "fraud/7"),
        ("/models//{model-name}/./v{model-version}", "models/fraud/v7"),
        ("models\\{model-name}", "models/fraud"),
        ("", ""),
    ],
)
def test_render_target_fills_in_and_normalises(template: str, expected: str) -> None:
    assert render_target(template, "fraud", "7") == expected


def test_render_target_refuses_to_climb_out_even_through_a_placeholder() -> None:
    with pytest.raises(ConfigError) as caught:
        render_target("{model-name}/{model-version}/", "fraud", "../../etc")
    assert caught.value.message == "Input 'target-path': 'fraud/../../etc/' climbs out of the repository with '..'"
