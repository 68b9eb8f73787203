"""What the sandbox Xray's pickle walk (xray_getattr) puts on its model of the unpickler's stack."""

from __future__ import annotations

import pickletools
from dataclasses import dataclass, field

GETATTR_MODULES = frozenset({"builtins", "__builtin__"})
OPCODES = frozenset(op.code for op in pickletools.opcodes)  # a byte not in it stops any unpickler


class Unresolved(Exception):
    """The walk cannot tell what a getattr call fetches (or where the pickle ends)."""


class LoadFails(Unresolved):
    """The unpickler would certainly raise here (so nothing after this point runs)."""


@dataclass(frozen=True)
class Ref:
    """A global the unpickler imports."""

    module: str
    name: str

    @property
    def is_getattr(self) -> bool:
        return self.module in GETATTR_MODULES and self.name == "getattr"


@dataclass(frozen=True)
class Const:
    value: object


@dataclass(frozen=True)
class Tup:
    items: tuple[object, ...]


@dataclass(eq=False)
class Obj:
    """Whatever a call or a container opcode builds: what made it, its arguments and state."""

    maker: object = None
    args: object = None
    state: object = None
    items: dict[object, object] = field(default_factory=dict)  # a dict's constant keys
    made_by: str = ""  # the opcode that made it
