"""GitHub Actions expressions (`${{ ... }}`), evaluated as the runner does, for the workflow tests.

Covers what workflows commonly write: context paths (`inputs.model-path`,
`steps.publish.outputs.build-name`, `github.event.repository.default_branch`), string, number and
boolean literals, `!`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `&&`, `||` (which return an operand, not a
boolean, and short-circuit as GitHub's do: the operand they skip is not evaluated), parentheses and
the functions format, contains, startsWith, endsWith, fromJSON, success, always, failure, cancelled.
Anything else raises `ExpressionError`, so a test never silently guesses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<op>==|!=|<=|>=|&&|\|\||[!<>(),.\[\]])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
_EMBEDDED = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)
_STATUS_FUNCTIONS = {"success": True, "always": True, "failure": False, "cancelled": False}


class ExpressionError(ValueError):
    """An expression this evaluator does not understand."""


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise ExpressionError(f"cannot read {text[pos:]!r} in {text!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


LITERALS = {"true": True, "false": False, "null": None}


def literal(kind: str, text: str) -> Any:
    if kind == "string":
        return text[1:-1].replace("''", "'")
    if kind == "number":
        return float(text)
    return LITERALS[text]


def truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", 0.0)


def to_string(value: Any) -> str:
    """How the runner turns a value into text when it is embedded in a string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _coerce(value: Any) -> Any:
    """Loose equality converts both sides to numbers unless both are strings (case-insensitive)."""
    if isinstance(value, bool):
        return float(value)
    if value is None:
        return 0.0
    if isinstance(value, str):
        try:
            return float(value) if value.strip() else 0.0
        except ValueError:
            return float("nan")
    return float(value)


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    return _coerce(left) == _coerce(right)


class _Parser:
    def __init__(self, text: str, contexts: Mapping[str, Any]) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.contexts = contexts
        self.skipping = 0  # > 0 while reading an operand that && / || do not evaluate

    def parse(self) -> Any:
        value = self.or_()
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos][1]!r} in {self.text!r}")
        return value

    def peek(self) -> str:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ExpressionError(f"{self.text!r} ends too early")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r}, found {token[1]!r} in {self.text!r}")
        self.pos += 1
        return token

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.skipped(self.and_) if truthy(value) else self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.comparison()
        while self.peek() == "&&":
            self.take()
            right = self.comparison() if truthy(value) else self.skipped(self.comparison)
            value = right if truthy(value) else value
        return value

    def skipped(self, read: Callable[[], Any]) -> Any:
        self.skipping += 1
        try:
            return read()
        finally:
            self.skipping -= 1

    def comparison(self) -> Any:
        value = self.unary()
        while self.peek() in {"==", "!=", "<", "<=", ">", ">="}:
            op = self.take()[1]
            right = self.unary()
            value = self.compare(op, value, right)
        return value

    @staticmethod
    def compare(op: str, left: Any, right: Any) -> bool:
        if op == "==":
            return _equal(left, right)
        if op == "!=":
            return not _equal(left, right)
        ordered: dict[str, Callable[[float, float], bool]] = {
            "<": float.__lt__,
            "<=": float.__le__,
            ">": float.__gt__,
            ">=": float.__ge__,
        }
        return ordered[op](_coerce(left), _coerce(right))

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind in {"string", "number"} or text in LITERALS:
            return literal(kind, text)
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r} in {self.text!r}")
        if self.peek() == "(":
            return self.call(text)
        return self.path(self.contexts.get(text) if text in self.contexts else self.unknown(text))

    def unknown(self, name: str) -> Any:
        raise ExpressionError(f"unknown context {name!r} in {self.text!r}")

    def path(self, value: Any) -> Any:
        while self.peek() in {".", "["}:
            if self.take()[1] == ".":
                key = self.take()[1]
            else:
                key = to_string(self.or_())
                self.take("]")
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    def call(self, name: str) -> Any:
        self.take("(")
        args = []
        while self.peek() != ")":
            args.append(self.or_())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return self.apply(name, args)

    def apply(self, name: str, args: list[Any]) -> Any:
        if self.skipping:
            return None
        if name in _STATUS_FUNCTIONS and not args:
            return _STATUS_FUNCTIONS[name]
        function = _FUNCTIONS.get(name)
        if function is None:
            raise ExpressionError(f"function {name}() is not supported in {self.text!r}")
        return function(*args)


def _format(template: Any, *args: Any) -> str:
    return re.sub(r"\{(\d+)\}", lambda m: to_string(args[int(m.group(1))]), str(template))


def _contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, list):
        return any(_equal(item, needle) for item in haystack)
    return to_string(needle).casefold() in to_string(haystack).casefold()


def _from_json(text: Any) -> Any:
    try:
        return json.loads(to_string(text))
    except ValueError:
        raise ExpressionError(f"fromJSON({text!r}): not JSON") from None


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "format": _format,
    "contains": _contains,
    "startsWith": lambda a, b: to_string(a).casefold().startswith(to_string(b).casefold()),
    "endsWith": lambda a, b: to_string(a).casefold().endswith(to_string(b).casefold()),
    "fromJSON": _from_json,
}


def evaluate(expression: str, contexts: Mapping[str, Any]) -> Any:
    """The value of one expression, without the `${{ }}`."""
    return _Parser(expression, contexts).parse()


def interpolate(value: Any, contexts: Mapping[str, Any]) -> Any:
    """A workflow value with every `${{ }}` replaced; a value that is only one expression keeps its type."""
    if not isinstance(value, str):
        return value
    whole = _EMBEDDED.fullmatch(value.strip())
    if whole:
        return evaluate(whole.group(1), contexts)
    return _EMBEDDED.sub(lambda m: to_string(evaluate(m.group(1), contexts)), value)


def condition(value: Any, contexts: Mapping[str, Any]) -> bool:
    """An `if:`: an expression with or without `${{ }}`; empty means success()."""
    if value is None or value == "":
        return True
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    whole = _EMBEDDED.fullmatch(text)
    return truthy(evaluate(whole.group(1) if whole else text, contexts))
