"""Real model files loaded by their own loaders, recording every global the real unpickler imports.

An independent account, for the sandbox Xray's walk of pickle opcodes (xray_getattr), of what a
file imports and so of where the walk must stay in step with joblib and pickle.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

# Loads each artefact as its users would (joblib.load, pickle.load), recording every global the
# real unpickler imports: an independent account of where the walk must stay in step.
RECORDING_LOADER = """
import json, pickle, sys
from pathlib import Path
from joblib import load, numpy_pickle

imported = set()
original = numpy_pickle.NumpyUnpickler.find_class
def recorded(self, module, name):
    imported.add((module, name))
    return original(self, module, name)
numpy_pickle.NumpyUnpickler.find_class = recorded

class Recording(pickle.Unpickler):
    def find_class(self, module, name):
        imported.add((module, name))
        return super().find_class(module, name)

seen = {}
for path in sorted(Path(sys.argv[1]).iterdir()):
    imported.clear()
    if ".joblib" in path.name:
        load(path)
    else:
        with path.open("rb") as stream:
            Recording(stream).load()
    seen[path.name] = sorted(imported)
print(json.dumps(seen))
"""


def unpacked(path: Path, folder: Path) -> Path:
    """The pickle stream of a model file: joblib's zlib or gzip dumps decompressed into `folder`."""
    if path.name.endswith("-zlib.joblib"):
        data = zlib.decompress(path.read_bytes())
    elif path.suffix == ".gz":
        data = gzip.decompress(path.read_bytes())
    else:
        return path
    target = folder / path.name
    target.write_bytes(data)
    return target
