"""A walk of a pickle's opcodes for the sandbox Xray: are its getattr calls harmless, what does it import.

picklescan's denylist holds `builtins.getattr`, yet ordinary libraries pickle with it: a time-zone
aware pandas object stores its `zoneinfo.ZoneInfo` as `getattr(zoneinfo.ZoneInfo, '_unpickle')`
called with the key (any bound classmethod pickles that way). So, when getattr is the only global
graded dangerous, the sandbox Xray walks the pickle's opcodes (`pickletools.genops`) over a model
of the unpickler's stack and memo, and lets getattr pass only when each call of it is
`getattr(<global>, '<constant>')` where the global is imported by the pickle and the pair passes
xray_global_names' `attribute_finding`: the global is not denied and is a class (xray_class_names
reads the module's source to tell), and the constant is an identifier, no dunder, not a denied
name and no denied global once joined to the class's name.
Anything else: getattr used in any other way, a name built at load time, an opcode the model does
not follow, a stream that does not end where a pickle ends, or joblib's inline arrays it cannot
size, answers False, and the finding stays (the walk fails closed).

joblib writes a numpy array's bytes right after the pickled `NumpyArrayWrapper` (an object array
as a nested pickle). The walk sizes them from the wrapper's state, checks the alignment padding
joblib writes, and skips them (xray_joblib_arrays); a nested pickle is walked with a memo of its
own, as joblib reads it. Since a plain `pickle.load` of the same file would read on where joblib
reads array data, the first pickle is also walked as plain pickle reads it, up to the padding
byte, which is no opcode. The same walk lists every global a file imports (`imported_globals`),
which xray_models grades (picklescan stops at joblib's first array, and elsewhere); where
pickletools cannot read an opcode, xray_pickle_stops tells whether the unpickler surely stops too.
"""

from __future__ import annotations

import itertools
import pickletools
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from .xray_global_names import Denied, attribute_finding
from .xray_joblib_arrays import JOBLIB_WRAPPER, array_count, is_joblib, item_size_of, skip_array, skip_padding
from .xray_pickle_stops import stop_at
from .xray_pickle_values import GETATTR_MODULES, OPCODES, Const, LoadFails, Obj, Ref, Tup, Unresolved

# Who reads the pickle: joblib.load (arrays inline), plain pickle.load, or joblib's plain
# Unpickler for an object array nested in a joblib file (which reads no arrays inline).
JOBLIB, PLAIN, NESTED = "joblib", "pickle", "nested"


_MARK = object()


def getattr_calls_are_harmless(path: Path, denied: Denied) -> bool:
    """True when every pickle in `path` walks to its end and each getattr call in it is harmless."""
    try:
        with path.open("rb") as stream:
            inline_arrays = _walk_file(stream, denied)
            if inline_arrays:  # what a plain pickle.load of the file would run
                stream.seek(0)
                _Walk(stream, denied, PLAIN).run()
    except (Unresolved, ValueError, TypeError, EOFError, OverflowError):  # genops raises ValueError
        return False  # the finding stays
    return True


class UnreadablePickle(Exception):
    """The walk cannot follow the file's pickles to its end; the message says where it stopped,
    `found` holds the globals imported before."""

    def __init__(self, message: str, found: set[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.found = found or set()


def imported_globals(path: Path, denied: Denied, start: int = 0, pickles: int = 0) -> set[tuple[str, str]]:
    """Every global the pickles of `path` import, from byte `start`, joblib's inline arrays skipped
    (picklescan stops at the first): `pickles` of them, or all to the file's end (0). Raises
    UnreadablePickle when the walk cannot get there, except where the unpickler surely stops
    too before importing anything (content that is no pickle: nothing in it can run)."""
    imported: set[Ref] = set()
    with path.open("rb") as stream:
        stream.seek(start)
        try:
            _walk_file(stream, denied, imported, pickles)
        except LoadFails as err:
            if imported:
                raise UnreadablePickle(f"the pickle breaks off: {err}", _pairs(imported)) from err
        except (Unresolved, ValueError, TypeError, EOFError, OverflowError) as err:
            message = f"the pickle walk stops near byte {stream.tell()}: {err}"
            raise UnreadablePickle(message, _pairs(imported)) from err
    return _pairs(imported)


def _pairs(imported: set[Ref]) -> set[tuple[str, str]]:
    return {(ref.module, ref.name) for ref in imported}


def _walk_file(stream: IO[bytes], denied: Denied, imported: set[Ref] | None = None, pickles: int = 0) -> int:
    """Walk the file's pickles, one after the other, to its last byte (or `pickles` of them); the
    arrays skipped. Bytes after a pickle where the unpickler surely stops before importing
    anything end the file's pickles (padding, torch's storages): nothing in them runs."""
    arrays = 0
    for walked in itertools.count(1):
        walk = _Walk(stream, denied, JOBLIB, imported)
        try:
            arrays += walk.run()
        except LoadFails:
            if walked == 1 or walk.imports:
                raise
            break
        if walked == pickles or not stream.read(1):
            break
        stream.seek(-1, 1)
    return arrays


class _Walk:
    """One pickle, from the stream's position to its STOP, on a model of the unpickler's stack."""

    def __init__(self, stream: IO[bytes], denied: Denied, reader: str, imported: set[Ref] | None = None) -> None:
        self.stream, self.denied, self.reader = stream, denied, reader
        self.imported = imported if imported is not None else set()  # every global imported
        self.stack: list[object] = []
        self.memo: dict[int, object] = {}
        self.arrays = 0
        self.imports = 0  # globals this pickle imported

    def run(self) -> int:
        try:
            return self._run()
        except LoadFails:
            if self.reader == PLAIN:  # the secondary view: pickle.load stops here, having run the rest
                return self.arrays
            raise

    def _run(self) -> int:
        for opcode, arg, _ in self._ops():
            name = opcode.name
            handler = getattr(self, f"op_{name.lower()}", None)
            if handler is not None:
                handler(arg)
            elif name in _CONSTANTS:
                self.stack.append(Const(arg))
            elif name not in _IGNORED:
                raise Unresolved(f"opcode {name} is not modelled")
            if name == "BUILD" and self.reader != NESTED and self._inline_array_follows():
                if self.reader == JOBLIB:
                    self._skip_inline_array()
                elif not self._opcode_follows():
                    return self.arrays  # pickle.load raises here, before anything else runs
        return self.arrays

    def _opcode_follows(self) -> bool:
        head = self.stream.read(1)
        self.stream.seek(-len(head), 1)
        return bool(head) and head.decode("latin-1") in OPCODES

    def _ops(self) -> Iterator[tuple[pickletools.OpcodeInfo, object, int | None]]:
        ops = pickletools.genops(self.stream)
        while True:
            start = self.stream.tell()
            try:
                op = next(ops)
            except StopIteration:
                raise Unresolved("the pickle ends without STOP") from None
            except (ValueError, MemoryError, OverflowError) as err:  # genops cannot read it: does the unpickler stop?
                raise stop_at(self.stream, start, err) from err
            yield op
            if op[0].name == "STOP":
                return

    # --- the stack ---------------------------------------------------------------------------
    def pop(self) -> object:
        if not self.stack or self.stack[-1] is _MARK:
            raise LoadFails("the stack is empty")  # both unpicklers raise on an underflow
        return self.stack.pop()

    def pop_mark(self) -> list[object]:
        if _MARK not in self.stack:
            raise LoadFails("no MARK on the stack")
        at = len(self.stack) - 1 - self.stack[::-1].index(_MARK)
        items = self.stack[at + 1 :]
        del self.stack[at:]  # in place: a caller may hold self.stack.append already
        return [_used(item) for item in items]

    def top(self) -> object:
        if not self.stack or self.stack[-1] is _MARK:
            raise LoadFails("the stack is empty")
        return self.stack[-1]

    # --- opcodes --------------------------------------------------------------------------------
    def op_mark(self, _: object) -> None:
        self.stack.append(_MARK)

    def op_stop(self, _: object) -> None:
        _used(self.pop())  # what the load returns; the rest of the stack is dropped

    def op_pop(self, _: object) -> None:
        self.pop()

    def op_pop_mark(self, _: object) -> None:
        self.pop_mark()

    def op_dup(self, _: object) -> None:
        self.stack.append(self.top())

    def op_global(self, arg: object) -> None:
        module, _, name = str(arg).partition(" ")
        self.stack.append(self._import(module, name))

    def op_stack_global(self, _: object) -> None:
        name, module = self.pop(), self.pop()
        if isinstance(module, Const) and isinstance(name, Const) and {type(module.value), type(name.value)} == {str}:
            self.stack.append(self._import(str(module.value), str(name.value)))
        elif _not_a_str(module) or _not_a_str(name):
            raise LoadFails("STACK_GLOBAL of other than two strings")
        else:
            raise Unresolved("STACK_GLOBAL of a name built at load time")

    def op_memoize(self, _: object) -> None:
        self.memo[len(self.memo)] = self.top()

    def op_put(self, arg: object) -> None:
        self.memo[int(str(arg))] = self.top()

    op_binput = op_long_binput = op_put

    def op_get(self, arg: object) -> None:
        key = int(str(arg))
        if key not in self.memo:
            raise LoadFails(f"memo {key} is read before it is written")
        self.stack.append(self.memo[key])

    op_binget = op_long_binget = op_get

    def op_tuple(self, _: object) -> None:
        self.stack.append(Tup(tuple(self.pop_mark())))

    def op_empty_tuple(self, _: object) -> None:
        self.stack.append(Tup(()))

    def _tuple_of(self, count: int) -> None:
        items = [_used(self.pop()) for _ in range(count)]
        self.stack.append(Tup(tuple(reversed(items))))

    def op_tuple1(self, _: object) -> None:
        self._tuple_of(1)

    def op_tuple2(self, _: object) -> None:
        self._tuple_of(2)

    def op_tuple3(self, _: object) -> None:
        self._tuple_of(3)

    def op_empty_list(self, _: object) -> None:
        self.stack.append(Obj(maker="list"))

    op_empty_set = op_empty_list

    def op_empty_dict(self, _: object) -> None:
        self.stack.append(Obj(maker="dict"))

    def op_list(self, _: object) -> None:
        self.pop_mark()
        self.stack.append(Obj(maker="list"))

    op_frozenset = op_list

    def op_dict(self, _: object) -> None:
        self.stack.append(_dict_of(Obj(maker="dict"), self.pop_mark()))

    def op_append(self, _: object) -> None:
        _used(self.pop())
        self.top()

    def op_appends(self, _: object) -> None:
        self.pop_mark()
        self.top()

    op_additems = op_appends

    def op_setitem(self, _: object) -> None:
        value, key = _used(self.pop()), _used(self.pop())
        _dict_of(self.top(), [key, value])

    def op_setitems(self, _: object) -> None:
        items = self.pop_mark()
        _dict_of(self.top(), items)

    def op_reduce(self, _: object) -> None:
        args, func = _used(self.pop()), self.pop()
        if isinstance(func, Ref) and func.is_getattr:
            self.stack.append(self._getattr_call(args))
        else:
            self.stack.append(Obj(maker=_used(func), args=args))

    def op_newobj(self, _: object) -> None:
        args, cls = _used(self.pop()), self.pop()
        if not (isinstance(cls, Ref) and (cls.module, cls.name) == JOBLIB_WRAPPER and args == Tup(())):
            _used(cls)  # joblib's wrapper is made the way joblib pickles it, or not at all
        self.stack.append(Obj(maker=cls, args=args, made_by="NEWOBJ"))

    def op_newobj_ex(self, _: object) -> None:
        _used(self.pop())
        self.op_newobj(None)

    def op_obj(self, _: object) -> None:
        items = self.pop_mark()
        if not items:
            raise Unresolved("OBJ without a class")
        self.stack.append(Obj(maker=items[0], args=Tup(tuple(items[1:]))))

    def op_inst(self, arg: object) -> None:
        module, _, name = str(arg).partition(" ")
        self.stack.append(Obj(maker=_used(self._import(module, name)), args=Tup(tuple(self.pop_mark()))))

    def op_build(self, _: object) -> None:
        state = _used(self.pop())
        target = _used(self.top())
        if isinstance(target, Obj):
            target.state = state

    def op_binpersid(self, _: object) -> None:
        _used(self.pop())
        self.stack.append(Obj(maker="persistent"))

    def op_persid(self, _: object) -> None:
        self.stack.append(Obj(maker="persistent"))

    def op_ext1(self, arg: object) -> None:
        raise LoadFails(f"extension code {arg}: copyreg registers none unless a program adds them")

    op_ext2 = op_ext4 = op_ext1

    def op_next_buffer(self, _: object) -> None:
        self.stack.append(Obj(maker="buffer"))

    def op_readonly_buffer(self, _: object) -> None:
        self.top()

    def _import(self, module: str, name: str) -> Ref:
        if not all(step.isidentifier() for step in name.split(".")):  # a dotted name is graded by xray_models
            raise Unresolved(f"the global {module} {name!r} is an odd name")
        ref = Ref(module, name)
        self.imported.add(ref)
        self.imports += 1
        return ref

    # --- getattr ------------------------------------------------------------------------------
    def _getattr_call(self, args: object) -> Obj:
        """`getattr(<class>, '<name>')`, read as the attribute it fetches; anything else: Unresolved."""
        if not (isinstance(args, Tup) and len(args.items) == 2):
            raise Unresolved("getattr called with other than two arguments")
        owner, attribute = args.items
        if not (isinstance(owner, Ref) and isinstance(attribute, Const) and isinstance(attribute.value, str)):
            raise Unresolved("getattr of something other than an imported global by a constant name")
        reason = attribute_finding(owner.module, owner.name, attribute.value, self.denied)
        if reason:
            raise Unresolved(f"getattr: {reason}")
        return Obj(maker=Ref(owner.module, f"{owner.name}.{attribute.value}"))

    # --- joblib's inline arrays ---------------------------------------------------------------
    def _inline_array_follows(self) -> bool:
        target = self.top()
        return isinstance(target, Obj) and isinstance(target.maker, Ref) and is_joblib(target.maker)

    def _skip_inline_array(self) -> None:
        wrapper = self.pop()
        assert isinstance(wrapper, Obj)  # _inline_array_follows said so
        state = wrapper.state.items if isinstance(wrapper.state, Obj) else {}
        item_size = item_size_of(state.get("dtype"))
        if item_size == 0:  # an object array: a nested pickle, read with a memo of its own
            _Walk(self.stream, self.denied, NESTED, self.imported).run()
        else:
            skip_padding(self.stream, state.get("numpy_array_alignment_bytes"))
            skip_array(self.stream, array_count(state.get("shape")) * item_size)
        self.arrays += 1
        self.stack.append(Obj(maker="array"))


def _not_a_str(value: object) -> bool:
    """What the unpickler surely does not hold as a str: a constant of another type, a tuple, a
    container, an object made by NEWOBJ of a class outside builtins. A call's result and a global
    (a module's str constant) may be one."""
    if isinstance(value, Const):
        return type(value.value) is not str
    if isinstance(value, Obj) and isinstance(value.maker, Ref) and value.made_by == "NEWOBJ":
        return value.maker.module not in GETATTR_MODULES
    return isinstance(value, Tup) or (isinstance(value, Obj) and value.maker in ("list", "dict"))


def _used(value: object) -> object:
    """A value the unpickler passes on (into a container, a call, a state): never getattr itself,
    nor a class of joblib's (whose objects make joblib read array bytes the walk would not skip)."""
    if isinstance(value, Ref) and value.is_getattr:
        raise Unresolved("getattr is passed on as a value")
    if isinstance(value, Ref) and is_joblib(value):
        raise Unresolved(f"joblib's {value.name} is used other than as joblib pickles its array wrapper")
    if value is _MARK:
        raise Unresolved("a MARK is used as a value")
    return value


def _dict_of(target: object, items: list[object]) -> Obj:
    if len(items) % 2 or not isinstance(target, Obj):
        raise Unresolved("dict items that do not pair up, or set on no dict")
    for key, value in zip(items[::2], items[1::2], strict=True):
        if isinstance(key, Const):
            target.items[key.value] = value
    return target


_CONSTANTS = frozenset(
    {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING", "BINSTRING",
     "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE",
     "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "FLOAT", "BINFLOAT", "NONE", "NEWTRUE",
     "NEWFALSE"}
)  # fmt: skip
_IGNORED = frozenset({"PROTO", "FRAME"})
