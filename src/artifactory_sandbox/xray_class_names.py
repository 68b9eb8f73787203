"""Whether a global a pickle imports names a class rather than a module, told without importing.

`getattr(<module>, name)` reaches anything the module imported (`zoneinfo._tzpath.os.system`), so
the sandbox Xray lets getattr pass on classes only. Nothing is imported to tell (that would run
the module's code); the module's source is found on the import path and read:
- the name must be capitalised, as classes are named;
- it must be no submodule of the module (a package's `Image` may be the module `Image.py`);
- in the module's source it must be bound by a `class` statement, or by `from M import X [as
  name]` where `X` is no submodule of `M`; a name bound by `import ... as name`, by an assignment
  (`N = numpy`), by a star import or not at all, or a module without Python source (compiled or
  not installed here) cannot be told from a module, and the answer is no.
"""

from __future__ import annotations

import ast
import functools
import importlib.machinery
from importlib.machinery import ModuleSpec
from pathlib import Path

MAX_SOURCE_BYTES = 4 << 20  # a module's source larger than this is not read
CLASS_NAMES_CACHE = 1024  # (module, name) answers kept


@functools.lru_cache(maxsize=CLASS_NAMES_CACHE)
def names_a_class(module: str, name: str) -> bool:
    """True when `module.name` is, read from the module's source, a class and no module."""
    if not (name.isidentifier() and name[0].isupper()):
        return False
    spec = _find(module)
    if spec is None or _submodule(spec, name):
        return False
    source = _source(spec)
    return source is not None and _bound_as_class(source, name, module, spec)


def _find(module: str) -> ModuleSpec | None:
    """The module's spec, found on the import path without importing it or its packages."""
    spec: ModuleSpec | None = None
    locations: list[str] | None = None
    for part in module.split("."):
        if not part.isidentifier() or (spec is not None and locations is None):
            return None  # an odd name, or a submodule asked of a module that is no package
        spec = importlib.machinery.PathFinder.find_spec(part, locations)
        if spec is None and locations is None:
            spec = importlib.machinery.BuiltinImporter.find_spec(part)
        if spec is None:
            return None
        locations = list(spec.submodule_search_locations) if spec.submodule_search_locations is not None else None
    return spec


def _submodule(spec: ModuleSpec, name: str) -> bool:
    if spec.submodule_search_locations is None:
        return False
    return importlib.machinery.PathFinder.find_spec(name, list(spec.submodule_search_locations)) is not None


def _source(spec: ModuleSpec) -> str | None:
    origin = Path(spec.origin) if spec.origin else None
    if origin is None or origin.suffix != ".py" or not origin.is_file() or origin.stat().st_size > MAX_SOURCE_BYTES:
        return None
    try:
        return origin.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _bound_as_class(source: str, name: str, module: str, spec: ModuleSpec) -> bool:
    """Every binding of `name` in the source is a class statement or a from-import of no module."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    bindings = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            bindings += 1
        elif isinstance(node, ast.Import) and any((a.asname or a.name.split(".")[0]) == name for a in node.names):
            return False
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return False
                if (alias.asname or alias.name) == name:
                    base = _from_module(node, module, spec)
                    found = _find(base) if base else None
                    if found is None or _submodule(found, alias.name):
                        return False
                    bindings += 1
        elif isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            return False  # an assignment may bind a module
    return bindings > 0


def _from_module(node: ast.ImportFrom, module: str, spec: ModuleSpec) -> str | None:
    """The absolute name of the module a from-import reads (relative ones from the package)."""
    if node.level == 0:
        return node.module
    package = module if spec.submodule_search_locations is not None else module.rpartition(".")[0]
    parts = package.split(".") if package else []
    if node.level - 1 > len(parts) or (node.level - 1 == len(parts) and not node.module):
        return None
    base = parts[: len(parts) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base) or None
