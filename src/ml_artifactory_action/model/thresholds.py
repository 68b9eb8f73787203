"""Gate thresholds: `accuracy >= 0.90`, one per line, parsed and checked."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
# A metric is a dotted path into the metrics document (`eval.f1`, `val/loss`, `top-5`).
_LINE = re.compile(r"^\s*([A-Za-z_][\w.\-/]*)\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*$")


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    def passes(self, actual: float) -> bool:
        return OPERATORS[self.op](actual, self.value)

    @property
    def higher_is_better(self) -> bool:
        """Which way a regression goes for this metric (`loss <= 0.3` means lower is better)."""
        return self.op in (">=", ">")

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


def parse_thresholds(text: str) -> tuple[Threshold, ...]:
    """Parse one threshold per line (commas also separate); raise ValueError naming the bad line."""
    lines = [part.strip() for line in text.splitlines() for part in line.split(",")]
    return tuple(_parse_line(line) for line in lines if line and not line.startswith("#"))


def _parse_line(line: str) -> Threshold:
    match = _LINE.match(line)
    if match is None:
        raise ValueError(
            f"cannot read threshold {line!r}; write one per line as '<metric> <op> <number>' "
            f"with op one of {', '.join(OPERATORS)}, e.g. 'accuracy >= 0.90'"
        )
    metric, op, raw = match.groups()
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"threshold {line!r}: {raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"threshold {line!r}: the limit must be a finite number")
    return Threshold(metric, op, value)
