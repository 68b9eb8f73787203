"""Real model files loaded by their own loaders, recording every global the real unpickler imports.

An independent account, for the sandbox Xray's walk of pickle opcodes (xray_getattr), of what a
file imports and so of where the walk must stay in step with joblib and pickle.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

# Loads each file as its users would (joblib.load, np.load, the pickle in a zip, else every pickle of
# the file one after the other, until one fails); torch's unpickler reads data.pkl (and each legacy
# pickle) the way pickle.load does.
NATURAL_LOADER = """
import pickle, sys, zipfile
from pathlib import Path
import joblib, numpy as np
for path in sorted(Path(sys.argv[1]).iterdir()):
    try:
        if path.suffix == ".joblib":
            joblib.load(path)
        elif path.suffix == ".npy":
            np.load(path, allow_pickle=True)
        elif zipfile.is_zipfile(path):
            pickle.loads(zipfile.ZipFile(path).read("model/data.pkl"))
        else:
            with path.open("rb") as stream:
                while stream.peek(1):
                    pickle.load(stream)
    except Exception as err:
        print(f"{path.name}: {type(err).__name__}: {err}", file=sys.stderr)
"""


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
