"""Which imported globals a model file may use, in three tiers (the tables are in pickle_tiers.py).

1. Dangerous: what runs code, reaches the OS or the network, imports modules or reflects
   (`os.system`, `builtins.eval`, `importlib.*`, `torch.load`, `numpy.f2py.*`, a name such as
   `system` or `loads` wherever it is found, any dunder attribute path). Refused whatever
   allowed-globals says; only allow-unsafe-pickle uploads such a file.
2. Rebuilds ML objects: the classes of the well-known ML libraries (a capitalised name, or a
   Cython `__pyx_unpickle_` helper, in their namespaces) and the listed rebuild functions. Passes.
3. Any other global is judged on its own: refused until the caller lists it in allowed-globals,
   as `module.Name`, or as `module.*` for every name of a package of their own. A wildcard over
   a well-known library or the standard library (`numpy.*`, `collections.*`) adds its classes
   only: functions reach files and processes (`numpy.load`, `pandas.read_pickle`), so each is
   named on its own.

picklescan's denylist is asked too: a name it calls dangerous is dangerous here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from . import pickle_tiers as tiers
from .findings import Finding, Severity

_WILDCARD = ".*"
_CYTHON_REBUILD = "__pyx_unpickle_"
_DANGEROUS = {module: tuple(names.split()) for module, names in tiers.DANGEROUS.items()}
_REEXPORTED = frozenset(tiers.REEXPORTED.split())
_REBUILD = frozenset(f"{module}.{name}" for module, names in tiers.REBUILD.items() for name in names.split())
_COMPUTE = frozenset(tiers.COMPUTE_MODULES)
_NAMESPACES = tuple(tuple(space.split(".")) for space in tiers.ML_CLASS_NAMESPACES)
_KNOWN_ROOTS = (
    frozenset(tiers.WELL_KNOWN_ROOTS.split()) | sys.stdlib_module_names | {"__builtin__", "copy_reg", "cPickle"}
)

# Where the scan's reading puts an EXT1/EXT2/EXT4 opcode's code. CPython's registry is empty
# unless the loading program fills it, so pickle.load fails on an unregistered code; a registered
# one names a global this scan cannot see. Refused as "cannot be checked", not as code that runs:
# four random bytes of tensor data can start with an EXT opcode.
EXTENSION_REGISTRY = "copyreg._extension_registry"
ONLY_UNSAFE = "only allow-unsafe-pickle: true uploads a file that imports it; allowed-globals cannot allow it"


@dataclass(frozen=True)
class Allowlist:
    """Globals a pickle may import: the ML defaults plus the caller's `allowed_globals`.

    An entry is a dotted name (`mypkg.models.Net`) or a module wildcard (`mypkg.*`), which allows
    every plain name of that module and of its submodules (only the classes, for a well-known
    library or the standard library). Dangerous names stay refused whatever the entries say.
    """

    exact: frozenset[str] = frozenset()
    modules: tuple[str, ...] = ()

    @classmethod
    def with_extra(cls, entries: Iterable[str]) -> Allowlist:
        checked = [parse_allowed_global(entry) for entry in entries]
        wild = tuple(sorted(entry[: -len(_WILDCARD)] for entry in checked if entry.endswith(_WILDCARD)))
        return cls(frozenset(entry for entry in checked if not entry.endswith(_WILDCARD)), wild)

    def allows(self, module: str, name: str) -> bool:
        if rebuilds_ml_objects(module, name) or f"{module}.{name}" in self.exact:
            return True
        return "." not in name and any(self._wildcard_allows(prefix, module, name) for prefix in self.modules)

    @staticmethod
    def _wildcard_allows(prefix: str, module: str, name: str) -> bool:
        if not _within(module, prefix):
            return False
        return _class_like(name) or prefix.split(".", maxsplit=1)[0] not in _KNOWN_ROOTS


def severity(module: str, name: str, *, engine_dangerous: bool, allowlist: Allowlist) -> Severity | None:
    """None when allowed; otherwise how bad an import of `module.name` is."""
    if module == EXTENSION_REGISTRY:
        return "unreadable"  # resolved by the loading process's copyreg registry: unknowable here
    if engine_dangerous or is_dangerous(module, name):
        return "dangerous"
    return None if allowlist.allows(module, name) else "suspicious"


def is_dangerous(module: str, name: str) -> bool:
    """Whether importing `module.name` gives a pickle code, the OS, the network, imports or reflection."""
    parts = [*module.split("."), *name.split(".")]
    if not all(part.isidentifier() for part in parts):
        return True  # a name the static reading could not resolve, or a malformed one
    names = name.split(".")
    if names[-1] in _REEXPORTED or (len(names) > 1 and any(_dunder(part) for part in names)):
        return True
    first_of_name = len(parts) - len(names)
    return any(_dangerous_path(parts[start:]) for start in (0, *range(first_of_name, len(parts) - 1)))


def rebuilds_ml_objects(module: str, name: str) -> bool:
    """The default tier: a listed rebuild function, or a class of a well-known ML library."""
    if f"{module}.{name}" in _REBUILD or (module in _COMPUTE and name.isidentifier() and not name.startswith("__")):
        return True
    if "." in name or not (_class_like(name) or name.startswith(_CYTHON_REBUILD)):
        return False
    parts = module.split(".")
    return any(_starts_with(parts, space) for space in _NAMESPACES)


def parse_allowed_global(entry: str) -> str:
    """One allowed-globals entry, checked: `module.Name` or `module.*`; ValueError says how to fix it."""
    entry = entry.strip()
    wildcard = entry.endswith(_WILDCARD)
    body = entry[: -len(_WILDCARD)] if wildcard else entry
    parts = body.split(".")
    if not all(part.isidentifier() for part in parts):
        raise ValueError(
            f"{entry!r} is not a dotted Python name; write 'module.Name' for one name (e.g. "
            "'mypkg.models.Net') or 'module.*' for every name of a module of yours (e.g. 'mypkg.*')"
        )
    if len(parts) < 2 and not wildcard:
        raise ValueError(
            f"{entry!r} names a module, not a global; write '{entry}.*' for every name of it and its "
            f"submodules, or 'module.Name' for one name (e.g. '{entry}.models.Net')"
        )
    reflects = any(_dunder(part) for part in parts[1:])  # `mypkg.Net.__init__.__globals__`
    dangerous = reflects or (_dangerous_path(parts) if wildcard else is_dangerous(".".join(parts[:-1]), parts[-1]))
    if dangerous:
        what = f"every name under {body!r}" if wildcard else repr(entry)
        raise ValueError(
            f"{what} can run code, reach the OS or the network, or import modules when a pickle loads it: {ONLY_UNSAFE}"
        )
    return entry


def describe(global_name: str, level: Severity, where: str) -> Finding:
    if level == "unreadable":
        why = (
            "an extension code, which pickle resolves through the loading program's copyreg registry to a "
            f"global this scan cannot see; {ONLY_UNSAFE}"
        )
    elif level == "dangerous":
        why = f"which can run code, reach the OS or the network, or import modules; {ONLY_UNSAFE}"
    else:
        why = (
            "which is not a class or rebuild function known safe for ML models; if you wrote or trust it, "
            f"add '{global_name}' to the allowed-globals input"
        )
    return Finding(global_name, level, f"{where}: loading it imports {global_name}, {why}")


def hidden_import(where: str) -> Finding:
    return Finding(
        "?.?",
        "dangerous",
        f"{where}: imports a name it hides from a static reading (STACK_GLOBAL); {ONLY_UNSAFE}",
    )


def refusal_advice(findings: Iterable[Finding]) -> str:
    """What to do about refused files, by the worst kinds of finding among them."""
    findings = list(findings)
    levels = {finding.severity for finding in findings}
    advice = ["Save the model in a format that cannot run code (safetensors, ONNX, GGUF)."]
    if "suspicious" in levels:
        advice.append("If you wrote or trust the suspicious globals, list them in allowed-globals.")
    if any(f.global_name.startswith("keras.layers.") and "ambda" in f.global_name for f in findings):
        advice.append(
            "For a Keras Lambda layer, write it as a layer class registered with "
            "keras.saving.register_keras_serializable and save again: such a model passes the scan."
        )
    if levels & {"dangerous", "unreadable"}:
        advice.append(
            "Dangerous globals, Lambda layers and content that cannot be checked are passed only by "
            "allow-unsafe-pickle: true, which uploads the file anyway; set it only for a file you made yourself."
        )
    return " ".join(advice)


def _dangerous_path(parts: list[str]) -> bool:
    """Whether a dotted path lies in a DANGEROUS entry: the module, then a pattern on what follows."""
    for cut in range(1, len(parts) + 1):
        patterns = _DANGEROUS.get(".".join(parts[:cut]))
        if patterns and any(_starts_with(parts[cut:], tuple(p.split("."))) for p in patterns):
            return True
    return False


def _starts_with(parts: list[str], pattern: tuple[str, ...]) -> bool:
    if pattern == ("*",):
        return True
    return len(parts) >= len(pattern) and all(fnmatchcase(p, q) for p, q in zip(parts, pattern, strict=False))


def _class_like(name: str) -> bool:
    return name.lstrip("_")[:1].isupper()


def _dunder(part: str) -> bool:
    return part.startswith("__") and part.endswith("__")


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")
