"""Every pickle a model file holds, read to its end by the sandbox Xray's own walk (xray_getattr).

picklescan lists the globals a file imports, but where it stops early it says so only sometimes:
a stream that breaks before its first global reads as "no pickle", and the single pickles of
torch's legacy format drop their errors. So the engine walks each pickle itself, where its loader
would read it:
- a zip (torch's archive, .npz, a zip of pickles): each member picklescan reads as a pickle or a
  numpy array (by its name or first bytes), copied out first and read by these same rules (a zip
  in a zip too, MAX_ZIP_DEPTH deep); a member zipfile cannot read is unreadable;
- torch's legacy format (a .bin, .pt, .pth or .ckpt that is no zip and whose first pickle is
  torch's magic number): the five pickles torch.load reads; the storages' bytes after are no pickle;
- a .npy whose dtype holds objects: the one pickle numpy loads after the header;
- anything else: every pickle, one after the other, to the file's last byte (joblib's arrays
  skipped).
A walk that stops where the unpickler surely stops too (xray_pickle_stops), before the pickle it
is in imports anything, has read content that is no pickle (a protobuf named model.pb), or the
bytes after the last pickle (padding, the storages of torch's legacy format saved as .pkl):
nothing there can run. Any other stop raises UnreadablePickle, saying where.
"""

from __future__ import annotations

import pickletools
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from .xray_getattr import UnreadablePickle, imported_globals
from .xray_global_names import Denied

TORCH_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".ckpt"})
TORCH_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of torch's legacy format
TORCH_LEGACY_PICKLES = 5  # magic number, protocol version, sys info, the object, its storage keys
NUMPY_MAGIC = b"\x93NUMPY"
SEVEN_ZIP_SIGNATURE = b"7z\xbc\xaf\x27\x1c"
# What picklescan reads as a pickle inside a zip: these names, or a PROTO opcode first.
PICKLE_MEMBER_SUFFIXES = frozenset({".pkl", ".pickle", ".joblib", ".dat", ".data"})
PICKLE_MEMBER_HEADS = tuple(bytes([0x80, version]) for version in range(6))
MAX_MEMBER_BYTES = 8 << 30  # a member larger than this is not copied out: unreadable
COPY_CHUNK = 1 << 20
MAX_ZIP_DEPTH = 4  # a member read as a pickle may be a zip again (a zip quine holds itself)

Globals = set[tuple[str, str]]


def pickle_globals(path: Path, name: str, denied: Denied, depth: int = 0) -> Globals:
    """Every global the pickles of `path` (a model file named `name`) import; UnreadablePickle
    when a pickle in it cannot be read to its end. `depth`: zips this one is inside."""
    with path.open("rb") as stream:
        head = stream.read(len(SEVEN_ZIP_SIGNATURE))
    if head == SEVEN_ZIP_SIGNATURE:
        raise UnreadablePickle("the sandbox Xray does not open 7z archives")
    if zipfile.is_zipfile(path):
        if depth >= MAX_ZIP_DEPTH:
            raise UnreadablePickle(f"zips nested more than {MAX_ZIP_DEPTH} deep are not read")
        return _zip_globals(path, denied, depth + 1)
    suffix = PurePosixPath(name).suffix
    if suffix in TORCH_SUFFIXES and _torch_legacy(path):
        return imported_globals(path, denied, pickles=TORCH_LEGACY_PICKLES)
    if suffix == ".npy" and head.startswith(NUMPY_MAGIC):
        return _npy_globals(path, denied)
    return imported_globals(path, denied)


def _torch_legacy(path: Path) -> bool:
    """Whether the first number in `path`'s first pickle is torch's magic (as picklescan tells)."""
    with path.open("rb") as stream:
        try:
            for opcode, arg, _ in pickletools.genops(stream):
                if "INT" in opcode.name or "LONG" in opcode.name:
                    return arg == TORCH_MAGIC
        except ValueError:
            return False
    return False


def _npy_globals(path: Path, denied: Denied) -> Globals:
    import numpy as np  # noqa: PLC0415  only for .npy files; picklescan reads them with numpy too

    try:
        with path.open("rb") as stream:
            version = np.lib.format.read_magic(stream)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            _, _, dtype = read_header(stream)
            start = stream.tell()
    except ValueError as err:
        raise UnreadablePickle(f"the numpy header cannot be read: {err}") from err
    return imported_globals(path, denied, start=start, pickles=1) if dtype.hasobject else set()


def _zip_globals(path: Path, denied: Denied, depth: int) -> Globals:
    found: Globals = set()
    with tempfile.TemporaryDirectory(prefix="sandbox-xray-member-") as folder:
        target = Path(folder) / "member"
        try:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    member = PurePosixPath(info.filename)
                    if info.is_dir() or not _read_as_pickle(archive, info):
                        continue
                    _copy_out(archive, info, target)
                    found |= pickle_globals(target, member.name, denied, depth)
        except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, zlib.error) as err:
            raise UnreadablePickle(f"a member of the archive cannot be read: {err}") from err
    return found


def _read_as_pickle(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    suffix = PurePosixPath(info.filename).suffix
    if suffix in PICKLE_MEMBER_SUFFIXES or suffix == ".npy":
        return True
    with archive.open(info) as member:
        head = member.read(len(NUMPY_MAGIC))
    return head.startswith(PICKLE_MEMBER_HEADS) or head.startswith(NUMPY_MAGIC)


def _copy_out(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    if info.file_size > MAX_MEMBER_BYTES:
        raise UnreadablePickle(f"{info.filename} is larger than {MAX_MEMBER_BYTES} bytes")
    with archive.open(info) as member, target.open("wb") as out:
        shutil.copyfileobj(member, out, COPY_CHUNK)
