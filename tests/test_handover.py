"""handover.py: files left for later steps get ordinary modes and, as root, the workspace owner's ids."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from ml_artifactory_action.handover import Handover


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_mkstemp_file_and_new_folders_get_the_modes_of_an_ordinary_write(tmp_path: Path) -> None:
    before = mode(tmp_path)
    handover = Handover(umask=0o027)
    handover.make_folders(tmp_path / "a" / "b")
    fd, name = tempfile.mkstemp(dir=tmp_path / "a" / "b")
    os.close(fd)
    assert mode(Path(name)) == 0o600

    handover.file(Path(name))

    assert (mode(tmp_path / "a"), mode(tmp_path / "a" / "b"), mode(Path(name))) == (0o750, 0o750, 0o640)
    assert mode(tmp_path) == before  # a folder that was there is left as it was


def test_files_go_to_the_workspace_owner_only_when_we_are_root_and_it_is_not(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    if os.geteuid() == 0:
        os.chown(workspace, 1001, 1002)
    expected = (1001, 1002) if os.geteuid() == 0 else None

    assert Handover.for_workspace(workspace).owner == expected
    assert Handover.for_workspace(None).owner is None
    assert Handover.for_workspace(tmp_path / "missing").owner is None
