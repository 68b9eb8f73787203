"""What the name of a global reaches, for the sandbox Xray: dunder names, dotted paths, class attributes.

The denylists grade a global as the pair (module, name) it is written as. The unpickler reads more
into it:
- From protocol 4 on, a dotted name is resolved attribute by attribute (`pickle._getattribute`):
  `STACK_GLOBAL('zoneinfo._tzpath', 'os.mkdir')` is `getattr(zoneinfo._tzpath.os, 'mkdir')`,
  which no denylist entry names. So a dotted name is read as the getattr chain it is: its first
  step must name a class (xray_class_names tells from the module's source, without importing),
  and the attribute fetched from that class must pass `attribute_finding`, the check the getattr
  walk (xray_getattr) applies to `getattr(<class>, '<name>')`. A deeper path (a class inside a
  class) is not read, and is a finding.
- A dunder name reaches the interpreter's internals that no model needs: `builtins.__dict__`,
  indexed by `operator.getitem`, hands out `exec`; a function's `__globals__` hands out whatever
  its module imported. Any step named `__x__` is a finding (Cython's `__pyx_unpickle_*` helpers
  and numpy's `__generator_ctor`, which real models import, are no dunders).
"""

from __future__ import annotations

from collections.abc import Callable

from .xray_class_names import names_a_class

Denied = Callable[[str, str], bool]  # (module, name) -> graded dangerous

# Names that start a process, run or load code, or change files whatever class holds them (a
# method fetched from its class runs on whatever object the pickle passes it, pathlib.Path's
# write_text on ~/.bashrc say); the denylists grade the rest.
DENIED_ATTRIBUTES = frozenset(
    {"system", "popen", "spawn", "fork", "execv", "execve", "execl", "execlp", "execvp", "run", "call",
     "check_call", "check_output", "Popen", "import_module", "load", "loads", "runcode", "runsource",
     "write", "write_text", "write_bytes", "unlink", "remove", "rmdir", "rmtree", "removedirs", "mkdir",
     "makedirs", "touch", "rename", "replace", "symlink_to", "hardlink_to", "chmod", "chown", "truncate",
     "copy", "copyfile", "move"}
)  # fmt: skip
ANY_NAME = "_sandbox_xray_any_name"  # asks whether a module is denied whatever name it is asked for


def name_finding(module: str, name: str, denied: Denied) -> str | None:
    """Why importing `module` `name` reaches more than the denylists grade; None when it does not."""
    steps = name.split(".")
    if any(_dunder(step) for step in steps):
        return f"the name {name} reaches a dunder attribute (a module's __dict__, a function's __globals__)"
    if len(steps) == 1:
        return None
    if len(steps) > 2 or not all(step.isidentifier() for step in steps):
        return f"the dotted name {name} is a path deeper than a class's attribute"
    return attribute_finding(module, steps[0], steps[1], denied)


def attribute_finding(module: str, owner: str, attribute: str, denied: Denied) -> str | None:
    """Why `getattr(module.owner, attribute)` may not be harmless; None when `owner` is a class, and
    the attribute no dunder, no name of DENIED_ATTRIBUTES and no denied global in any reading."""
    if not attribute.isidentifier() or attribute.startswith("__") or attribute in DENIED_ATTRIBUTES:
        return f"it fetches {attribute!r} from {module}.{owner}"
    if denied(module, owner) or denied(owner, ANY_NAME) or not names_a_class(module, owner):
        return f"it fetches {attribute!r} from {module}.{owner}, which is denied or may be a module"
    readings = (
        ("builtins", attribute),
        (module, f"{owner}.{attribute}"),
        (f"{module}.{owner}", attribute),
        (owner, attribute),
        (attribute, ANY_NAME),
    )
    if any(denied(where, what) for where, what in readings):
        return f"it fetches the denied {owner}.{attribute}"
    return None


def _dunder(step: str) -> bool:
    return len(step) > 4 and step.startswith("__") and step.endswith("__")
