"""A lenient model of the unpickler's stack: which globals a pickle imports, what it calls.

It builds no real object and imports nothing. Values are kept as plain data (numbers, strings,
tuples, lists, dicts), `GlobalRef` for an imported name and `Instance` for what a call or a class
would create. Where a real unpickler would stop on a semantic error (empty stack, missing memo
entry) this model goes on with `UNKNOWN`, so it sees at least every global a real one would reach.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from itertools import compress
from typing import cast

from .limits import LimitExceeded
from .pickle_args import DATA, NUMBER, UNKNOWN, Large, PickleSyntaxError

# Callables whose result is an instance of their first argument, not of themselves.
_FACTORIES = frozenset({"copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__"})
# `getattr(<global>, "<constant>")` (how a classmethod pickles) is read as the dotted global it fetches.
_GETATTR = frozenset({"builtins.getattr", "__builtin__.getattr"})
_NOT_A_NAME = (int, float, bytes, tuple, list, dict, type(None), type(NUMBER), type(DATA))
# Memory bounds. The model counts what it does not keep, so its stack depth stays exact.
MAX_STACK = 5_000_000  # values on the stack (a reference each: 40 MB at most)
MAX_MARKS = 100_000  # MARKs open at once
MAX_GLOBALS = 100_000  # distinct names imported by one pickle (a model imports tens to hundreds)
MAX_NAME_BYTES = 16 * 1024**2  # their characters
KEEP_ON_STACK = 100_000  # deeper than this, pushed literals are kept as NUMBER/UNKNOWN only
MAX_MEMO = 100_000  # memo entries kept; a later GET of one not kept is UNKNOWN
MAX_ITEMS = 1_024  # items kept per list or dict; the rest are counted by nothing: only names matter
# What the model builds (containers, items, long strings, instances), in estimated bytes. Past it
# the model goes lean: it builds no more containers (UNKNOWN instead), keeps no long strings and
# no arguments, so memory stays bounded whatever the pickle; imports are still all seen.
MAX_KEPT = 64 * 1024**2
SHORT = 256  # strings up to this long (names) are kept on the stack whatever the budget
# Estimated sizes, from CPython 3.11's objects: a list or tuple, one slot, a dict entry, an Instance.
_CONTAINER, _ITEM, _PAIR, _INSTANCE, _NUMBER_SIZE = 64, 8, 48, 400, 32
_TEXTS = frozenset({str, bytes})


@dataclass(frozen=True)
class GlobalRef:
    """A `module`/`name` pair the loader would import; `?` where the pickle hides it."""

    module: str
    name: str

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Instance:
    """What a call or class instantiation would return; `attrs` collects the state BUILD sets."""

    cls: str
    init_args: tuple[object, ...] = ()
    initialised: bool = False  # the class's __init__ ran (a call), not only __new__
    attrs: dict[object, object] = field(default_factory=dict)
    state: object = None  # the last state BUILD applied, as pickled
    opaque_state: bool = False


class PickleVM:
    """Feed it opcodes with `step(name, arg)`; read `globals`, `calls` and `result` afterwards."""

    def __init__(self, *, strict: bool = False) -> None:
        # strict: stop (PickleSyntaxError) where the unpickler stops on an empty stack, a missing
        # MARK or a memo key never stored, rather than go on with UNKNOWN. For reads of bytes that
        # pickle.load might be handed: nothing after such a point runs.
        self.strict = strict
        self.memo_whole = True  # every store was kept: a key missing was never stored
        self.stack: list[object] = []
        self.metastack: list[list[object]] = []
        self.memo: dict[object, object] = {}
        self.globals: dict[GlobalRef, None] = {}  # every name imported, once, in order
        self.calls = 0
        self.memo_len = 0  # the unpickler's len(memo), kept entries or not (the key MEMOIZE uses); -1: unknown
        self.put_keys = False  # a PUT chose a key: MEMOIZE's next key may be taken already
        self.result: object = UNKNOWN
        self.kept = 0  # estimated bytes built so far; past MAX_KEPT the model is lean
        self.names_kept = 0  # characters of the distinct names imported (never dropped)
        self.getattr_pushed = 0  # times getattr was put on the stack (imported, fetched, duplicated)
        self.getattr_resolved = 0  # of those, calls on a global and a constant name, read as that name
        self._ops: dict[str, Callable[[object], object]] = _dispatch(self)

    def step(self, name: str, arg: object) -> None:
        self._ops.get(name, _ignore)(arg)

    def handler(self, name: str) -> Callable[[object], object]:
        """What `step(name, arg)` calls, for a caller that dispatches on its own."""
        return self._ops.get(name, _ignore)

    def top(self) -> object:
        if self.stack:
            return self.stack[-1]
        if self.strict:
            raise PickleSyntaxError("an opcode needs a value on an empty stack: pickle.load stops here")
        return UNKNOWN

    def fetch(self, key: object) -> object:
        """GET and its kin: the memo's value, UNKNOWN when not kept."""
        if key in self.memo:
            return self.memo[key]
        if self.strict and self.memo_whole:
            raise PickleSyntaxError(f"memo key {key!r} was never stored: pickle.load stops here")
        return UNKNOWN

    @property
    def lean(self) -> bool:
        return self.kept > MAX_KEPT

    def keep(self, size: int) -> bool:
        """Count `size` estimated bytes about to be built; False once the budget is spent."""
        self.kept += size
        return self.kept <= MAX_KEPT

    @property
    def judged(self) -> list[GlobalRef]:
        """The names the policy judges: every import, but getattr when each use of it was resolved."""
        resolved = self.getattr_pushed == self.getattr_resolved
        return [ref for ref in self.globals if not (resolved and ref.dotted in _GETATTR)]

    def push(self, value: object) -> None:
        if type(value) is GlobalRef and value.dotted in _GETATTR:
            self.getattr_pushed += 1
        if len(self.stack) >= KEEP_ON_STACK:
            self._check_depth(1)
            if not isinstance(value, GlobalRef | Instance):
                value = NUMBER if isinstance(value, int | float) else UNKNOWN
        elif type(value) is str or type(value) is bytes:
            if len(value) > SHORT and not self.keep(len(value)):
                value = Large(len(value))
        elif type(value) is int and value.bit_length() > SHORT * 8 and not self.keep(value.bit_length() // 8):
            value = NUMBER
        self.stack.append(value)

    def container(self, items: list[object] | tuple[object, ...], kind: type) -> object:
        """A list, tuple or dict of `items` as the model keeps it: UNKNOWN once lean."""
        kept = items[:MAX_ITEMS]
        if not self.keep(_CONTAINER + _ITEM * len(kept) + _sizes(kept)):
            return UNKNOWN
        if kind is dict:
            result: dict[object, object] = {}
            _add_pairs(self, result, list(kept))
            return result
        return kind(kept)

    def memoize(self) -> None:
        _memoize(self)

    def put(self, key: object) -> None:
        _put(self, key)

    def puts_dropped(self) -> None:
        """PUTs of new keys into a full memo, done as `put` does them: none is kept, and the
        memo's length is no longer known."""
        self.put_keys = True
        self.memo_len, self.memo_whole = -1, False

    def tuple_of(self, count: int) -> None:
        _tuple_of(self, count)

    def push_run(self, value: object, count: int) -> None:
        """Push `count` copies of one literal (a run of fixed-width opcodes read in bulk)."""
        self._check_depth(count)
        self.stack.extend([value] * count)

    def _check_depth(self, more: int) -> None:
        depth = len(self.stack) + sum(len(level) for level in self.metastack) + more
        if depth > MAX_STACK:
            raise LimitExceeded(f"its stack holds more than {MAX_STACK:,} values", "MAX_STACK")

    def pop(self) -> object:
        if self.stack:
            return self.stack.pop()
        if self.strict:
            raise PickleSyntaxError("an opcode pops an empty stack: pickle.load stops here")
        return self.pop_mark() if self.metastack else UNKNOWN

    def discard(self) -> None:
        """POP: the top value, or the MARK when none is above it (as the unpickler does)."""
        if self.stack:
            self.stack.pop()
        else:
            self.pop_mark()

    def pop_mark(self) -> list[object]:
        if self.strict and not self.metastack:
            raise PickleSyntaxError("no MARK to pop to: pickle.load stops here")
        items, self.stack = self.stack, (self.metastack.pop() if self.metastack else [])
        return items

    def mark(self, _: object) -> None:
        if len(self.metastack) >= MAX_MARKS:
            raise LimitExceeded(f"it opens more than {MAX_MARKS:,} MARKs at once", "MAX_MARKS")
        self.metastack.append(self.stack)
        self.stack = []

    def import_global(self, module: object, name: object) -> GlobalRef:
        ref = GlobalRef(_name_or_unknown(module), _name_or_unknown(name))
        if ref not in self.globals:
            self.names_kept += len(ref.module) + len(ref.name)
            if len(self.globals) >= MAX_GLOBALS or self.names_kept > MAX_NAME_BYTES:
                what = (
                    f"it imports more than {MAX_GLOBALS:,} distinct names, or {MAX_NAME_BYTES // 1024**2} MiB of them"
                )
                raise LimitExceeded(what, "MAX_GLOBALS")
            self.globals[ref] = None
        return ref

    def call(self, func: object, args: tuple[object, ...]) -> Instance:
        self.calls += 1
        if isinstance(func, GlobalRef) and func.dotted in _FACTORIES and args and isinstance(args[0], GlobalRef):
            return Instance(args[0].dotted)
        kept = args[:MAX_ITEMS] if self.keep(_INSTANCE + sum(_ITEM + _size(arg) for arg in args[:MAX_ITEMS])) else ()
        return Instance(_class_name(func), kept, initialised=True)

    def build(self, _: object) -> None:
        state, target = self.pop(), self.top()
        if isinstance(target, Instance):
            _set_state(self, target, state)


def _ignore(_: object) -> None:
    return None


def tuple_size(items: int) -> int:
    """The estimated bytes of a tuple of `items` numbers, as `container` counts them."""
    return _CONTAINER + items * (_ITEM + _NUMBER_SIZE)


def _sizes(items: list[object] | tuple[object, ...]) -> int:
    """`sum(map(_size, items))`, counted by type in C for the exact types the model holds."""
    kinds = Counter(map(type, items))
    numbers = kinds[int] + kinds[float] + kinds[Large]
    texts = kinds[str] + kinds[bytes]
    if numbers + texts + kinds[type(None)] + kinds[bool] < len(items):
        return sum(map(_size, items))  # other objects (subclasses, containers): one by one
    texts_only = cast(Iterable[Sized], compress(items, map(_TEXTS.__contains__, map(type, items))))
    lengths = sum(map(len, texts_only)) if texts else 0
    return _NUMBER_SIZE * numbers + 49 * texts + lengths


def _size(value: object) -> int:
    """Bytes a value put in a container may hold alive by itself (containers count at creation)."""
    kind = type(value)
    if kind is str or kind is bytes:
        return 49 + len(value)  # type: ignore[arg-type]
    if kind is int or kind is float or kind is Large:
        return _NUMBER_SIZE
    if isinstance(value, str | bytes):
        return 49 + len(value)
    if isinstance(value, int | float | Large) and not isinstance(value, bool):
        return _NUMBER_SIZE
    return 0


def _name_or_unknown(value: object) -> str:
    return value if isinstance(value, str) else "?"


def _class_name(value: object) -> str:
    return value.dotted if isinstance(value, GlobalRef) else "?"


def _as_tuple(value: object) -> tuple[object, ...]:
    return tuple(value) if isinstance(value, tuple | list) else ()


def _set_state(vm: PickleVM, target: Instance, state: object) -> None:
    target.state = state
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state, None)
    for part in parts:
        if isinstance(part, dict) and len(target.attrs) < MAX_ITEMS and vm.keep(_PAIR * len(part)):  # shared: no sizes
            target.attrs.update(part)
        elif part is not None:
            target.opaque_state = True  # not a dict, or more than the model keeps


def _add_pairs(vm: PickleVM, target: object, items: list[object]) -> None:
    if not isinstance(target, dict):
        return
    start = _add_pairs_at_once(vm, target, items)
    for key, value in zip(items[start::2], items[start + 1 :: 2], strict=False):
        if len(target) >= MAX_ITEMS or not vm.keep(_PAIR + _size(key) + _size(value)):
            return
        _set_item(target, key, value)


def _add_pairs_at_once(vm: PickleVM, target: dict[object, object], items: list[object]) -> int:
    """Add the pairs that fit in one update, as the loop would; the index of the first item left."""
    take = min(MAX_ITEMS - len(target), len(items) // 2) * 2
    if take <= 0 or vm.lean:  # lean: the loop keeps nothing either
        return 0
    size = _PAIR * (take // 2) + _sizes(items[:take])
    if vm.kept + size > MAX_KEPT:
        return 0
    try:
        target.update(zip(items[0:take:2], items[1:take:2], strict=True))
    except TypeError:  # an unhashable key: the loop skips it and goes on
        return 0
    vm.kept += size
    return take


def _set_item(target: dict[object, object], key: object, value: object) -> None:
    try:
        target[key] = value
    except TypeError:  # an unhashable key stops a real unpickler; the model keeps going
        return


def _stack_global(vm: PickleVM) -> None:
    if len(vm.stack) < 2:  # the unpickler stops here: it never pops across a MARK
        raise PickleSyntaxError("STACK_GLOBAL with fewer than two values on the stack")
    name, module = vm.pop(), vm.pop()
    if isinstance(name, _NOT_A_NAME) or isinstance(module, _NOT_A_NAME):
        raise PickleSyntaxError("STACK_GLOBAL on a value that is not a string")
    vm.push(vm.import_global(module, name))


def _inst(vm: PickleVM, arg: object) -> None:
    module, name = arg if isinstance(arg, tuple) else (UNKNOWN, UNKNOWN)
    ref = vm.import_global(module, name)
    vm.push(_instantiate(vm, ref, vm.pop_mark()))


def _obj(vm: PickleVM) -> None:
    items = vm.pop_mark()
    vm.push(_instantiate(vm, items[0] if items else UNKNOWN, items[1:]))


def _instantiate(vm: PickleVM, cls: object, args: list[object]) -> Instance:
    """INST and OBJ call the class with its arguments, or only `__new__` when there are none."""
    instance = vm.call(cls, tuple(args[:MAX_ITEMS]))
    instance.initialised = bool(args)
    return instance


def _newobj(vm: PickleVM, with_kwargs: bool) -> None:
    if with_kwargs:
        vm.pop()
    vm.pop()
    vm.calls += 1
    vm.keep(_INSTANCE)
    vm.push(Instance(_class_name(vm.pop())))


def _reduce(vm: PickleVM) -> None:
    args = vm.pop()
    func = vm.pop()
    vm.push(_attribute(vm, func, args) or vm.call(func, _as_tuple(args)))


def _attribute(vm: PickleVM, func: object, args: object) -> GlobalRef | None:
    """`getattr(module.Class, "name")` as the global `module.Class.name` it fetches (imported, so the
    policy judges it); None for any other call, getattr over anything but a global and a constant
    identifier included (that getattr stays an import of its own, judged dangerous)."""
    if not (isinstance(func, GlobalRef) and func.dotted in _GETATTR and isinstance(args, tuple) and len(args) == 2):
        return None
    target, name = args
    if not (isinstance(target, GlobalRef) and isinstance(name, str) and name.isidentifier()):
        return None
    vm.calls += 1
    vm.getattr_resolved += 1
    return vm.import_global(target.module, f"{target.name}.{name}")


def _append(vm: PickleVM, items: list[object]) -> None:
    target = vm.top()
    if isinstance(target, list) and len(target) < MAX_ITEMS:
        added = items[: MAX_ITEMS - len(target)]
        if vm.keep(_ITEM * len(added) + _sizes(added)):
            target.extend(added)


def _put(vm: PickleVM, key: object) -> None:
    """PUT and its kin. Past `MAX_MEMO` a new key is not kept, and the memo's real length (the
    key MEMOIZE uses) is no longer known."""
    vm.put_keys = True
    if key in vm.memo or len(vm.memo) < MAX_MEMO:
        if vm.memo_len >= 0:
            vm.memo_len += key not in vm.memo
        vm.memo[key] = vm.top()
    else:
        vm.top()  # the unpickler stores the top: an empty stack stops it
        vm.memo_len, vm.memo_whole = -1, False


def _memoize(vm: PickleVM) -> None:
    """MEMOIZE stores at the memo's length, which counts the entries not kept too."""
    key = vm.memo_len
    if key < 0:  # it may overwrite any key kept: forget them all rather than trust one
        vm.top()
        vm.memo.clear()
        vm.memo_whole = False
        return
    if key in vm.memo:  # a PUT took this key before: the unpickler overwrites it, its length stays
        vm.memo[key] = vm.top()
        return
    if len(vm.memo) < MAX_MEMO:
        vm.memo[key] = vm.top()
    else:
        vm.top()
        vm.memo_whole = False
    vm.memo_len += 1


def _tuple_of(vm: PickleVM, count: int) -> None:
    if len(vm.stack) >= count:
        items = vm.stack[-count:]
        del vm.stack[-count:]
    else:
        items = [vm.pop() for _ in range(count)][::-1]
    vm.push(vm.container(items, tuple))


def _stop(vm: PickleVM) -> None:
    vm.result = vm.pop()


def _dispatch(vm: PickleVM) -> dict[str, Callable[[object], object]]:
    push = vm.push
    literal: dict[str, Callable[[object], object]] = {name: push for name in _LITERAL_OPS}
    return literal | {
        "NONE": lambda _: push(None),
        "NEWTRUE": lambda _: push(True),
        "NEWFALSE": lambda _: push(False),
        "NEXT_BUFFER": lambda _: push(UNKNOWN),
        "EMPTY_LIST": lambda _: push(vm.container([], list)),
        "EMPTY_SET": lambda _: push(vm.container([], list)),
        "EMPTY_TUPLE": lambda _: push(()),
        "EMPTY_DICT": lambda _: push(vm.container([], dict)),
        "APPEND": lambda _: _append(vm, [vm.pop()]),
        "APPENDS": lambda _: _append(vm, vm.pop_mark()),
        "ADDITEMS": lambda _: _append(vm, vm.pop_mark()),
        "LIST": lambda _: push(vm.container(vm.pop_mark(), list)),
        "TUPLE": lambda _: push(vm.container(vm.pop_mark(), tuple)),
        "FROZENSET": lambda _: push(vm.container(vm.pop_mark(), tuple)),
        "TUPLE1": lambda _: _tuple_of(vm, 1),
        "TUPLE2": lambda _: _tuple_of(vm, 2),
        "TUPLE3": lambda _: _tuple_of(vm, 3),
        "DICT": lambda _: push(vm.container(vm.pop_mark(), dict)),
        "SETITEM": lambda _: _set_items(vm, _popped(vm, 2)),
        "SETITEMS": lambda _: _set_items(vm, vm.pop_mark()),
        "POP": lambda _: vm.discard(),
        "DUP": lambda _: push(vm.top()),
        "MARK": vm.mark,
        "POP_MARK": lambda _: vm.pop_mark(),
        "GET": lambda key: push(vm.fetch(key)),
        "BINGET": lambda key: push(vm.fetch(key)),
        "LONG_BINGET": lambda key: push(vm.fetch(key)),
        "PUT": lambda key: _put(vm, key),
        "BINPUT": lambda key: _put(vm, key),
        "LONG_BINPUT": lambda key: _put(vm, key),
        "MEMOIZE": lambda _: vm.memoize(),
        "GLOBAL": lambda arg: push(vm.import_global(*(arg if isinstance(arg, tuple) else (UNKNOWN, UNKNOWN)))),
        "STACK_GLOBAL": lambda _: _stack_global(vm),
        "EXT1": lambda code: push(vm.import_global("copyreg._extension_registry", str(code))),
        "EXT2": lambda code: push(vm.import_global("copyreg._extension_registry", str(code))),
        "EXT4": lambda code: push(vm.import_global("copyreg._extension_registry", str(code))),
        "REDUCE": lambda _: _reduce(vm),
        "BUILD": vm.build,
        "INST": lambda arg: _inst(vm, arg),
        "OBJ": lambda _: _obj(vm),
        "NEWOBJ": lambda _: _newobj(vm, with_kwargs=False),
        "NEWOBJ_EX": lambda _: _newobj(vm, with_kwargs=True),
        "PERSID": lambda pid: push(Instance("<persistent id>", (pid,))),
        "BINPERSID": lambda _: push(Instance("<persistent id>", (vm.pop(),))),
        "STOP": lambda _: _stop(vm),
    }


def _set_items(vm: PickleVM, items: list[object]) -> None:
    _add_pairs(vm, vm.top(), items)


def _popped(vm: PickleVM, count: int) -> list[object]:
    items = [vm.pop() for _ in range(count)]
    return list(reversed(items))


_LITERAL_OPS = [
    "INT",
    "BININT",
    "BININT1",
    "BININT2",
    "LONG",
    "LONG1",
    "LONG4",
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
    "BINBYTES",
    "SHORT_BINBYTES",
    "BINBYTES8",
    "BYTEARRAY8",
    "UNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE",
    "BINUNICODE8",
    "FLOAT",
    "BINFLOAT",
]
