"""Files the action leaves for later steps: normal modes, and the workspace owner's uid and gid.

A Docker action runs as root, while the job's other steps run as the runner's user. Files written
through `tempfile.mkstemp` are 0600 and root's: a later `python serve.py` step could not read the
model it was handed. So every file we leave gets the mode an ordinary write would give (0666 less
the umask), every folder we create 0777 less the umask, and, when we run as root and the workspace
belongs to someone else, that owner's uid and gid.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

FILE_MODE = 0o666
FOLDER_MODE = 0o777
ROOT_UID = 0


def current_umask() -> int:
    """The process umask (os.umask can only be read by setting it; set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@dataclass(frozen=True)
class Handover:
    """How files are left: `owner` (uid, gid) to give them to, or None to keep ours."""

    umask: int
    owner: tuple[int, int] | None = None

    @classmethod
    def for_workspace(cls, workspace: Path | None) -> Handover:
        """Give files to the workspace's owner when we are root and it is not (a Docker action)."""
        owner = None
        if workspace is not None and os.geteuid() == ROOT_UID:
            try:
                st = workspace.stat()
            except OSError:
                st = None
            if st is not None and st.st_uid != ROOT_UID:
                owner = (st.st_uid, st.st_gid)
        return cls(umask=current_umask(), owner=owner)

    def make_folders(self, folder: Path) -> None:
        """`mkdir -p folder`, handing over each folder it created."""
        missing = []
        current = folder
        while not current.exists() and current != current.parent:
            missing.append(current)
            current = current.parent
        folder.mkdir(parents=True, exist_ok=True)
        for created in reversed(missing):
            self._give(created, FOLDER_MODE)

    def file(self, path: Path) -> None:
        """A file we wrote: the mode of an ordinary write, the workspace owner's ids."""
        self._give(path, FILE_MODE)

    def _give(self, path: Path, mode: int) -> None:
        os.chmod(path, mode & ~self.umask)
        if self.owner is not None:
            os.chown(path, *self.owner, follow_symlinks=False)
