"""Gate thresholds: the `metric op number` lines users write."""

from __future__ import annotations

import pytest

from ml_artifactory_action.model.thresholds import Threshold, parse_thresholds


def test_one_per_line_or_comma_separated_with_comments() -> None:
    text = "accuracy >= 0.90\n# the loss\nval/loss<0.3, top-5 == 1\n\n"
    assert parse_thresholds(text) == (
        Threshold("accuracy", ">=", 0.90),
        Threshold("val/loss", "<", 0.3),
        Threshold("top-5", "==", 1.0),
    )


@pytest.mark.parametrize(
    ("op", "actual", "passes"),
    [(">=", 0.9, True), (">", 0.9, False), ("<=", 0.9, True), ("<", 0.9, False), ("==", 0.9, True), ("!=", 0.9, False)],
)
def test_each_operator(op: str, actual: float, passes: bool) -> None:
    assert Threshold("m", op, 0.9).passes(actual) is passes


def test_direction_of_improvement_follows_the_operator() -> None:
    assert Threshold("accuracy", ">=", 0.9).higher_is_better
    assert not Threshold("loss", "<=", 0.3).higher_is_better


def test_str_is_how_the_user_wrote_it() -> None:
    assert str(Threshold("eval.f1", ">=", 0.85)) == "eval.f1 >= 0.85"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("accuracy => 0.9", "cannot read threshold 'accuracy => 0.9'; write one per line as '<metric> <op> <number>'"),
        ("accuracy >= high", "threshold 'accuracy >= high': 'high' is not a number"),
        ("accuracy >= nan", "threshold 'accuracy >= nan': the limit must be a finite number"),
        ("accuracy >= inf", "threshold 'accuracy >= inf': the limit must be a finite number"),
        (">= 0.9", "cannot read threshold '>= 0.9'"),
    ],
)
def test_bad_lines_are_named(line: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_thresholds(line)
