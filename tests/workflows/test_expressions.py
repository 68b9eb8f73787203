"""The expression evaluator behaves as GitHub's does on what our workflows write."""

from __future__ import annotations

from typing import Any

import pytest

from tests.workflows.expressions import ExpressionError, condition, evaluate, interpolate

CONTEXTS: dict[str, Any] = {
    "inputs": {"environment": "production", "staging-repo": "", "promote": True, "model-path": "model/"},
    "github": {"ref": "refs/heads/main", "event": {"repository": {"default_branch": "main"}}},
    "steps": {"latest": {"outputs": {"resolved-build": "8"}}},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("inputs.model-path", "model/"),
        ("inputs.missing", None),
        ("steps.latest.outputs.resolved-build || inputs.build-number", "8"),
        ("steps.nope.outputs.resolved-build || 'latest-passing'", "latest-passing"),
        ("inputs.staging-repo || 'ml-models-staging-local'", "ml-models-staging-local"),
        ("inputs.environment == 'production' && 'Production' || 'Staging'", "Production"),
        ("inputs.environment == 'PRODUCTION'", True),
        ("!inputs.promote", False),
        ("format('refs/heads/{0}', github.event.repository.default_branch)", "refs/heads/main"),
        ("inputs.promote && github.ref == format('refs/heads/{0}', github.event.repository.default_branch)", True),
        ("1 < 2 && '3' == 3", True),
        ("contains('gate,upload', 'UPLOAD')", True),
        ("github['ref']", "refs/heads/main"),
        ('fromJSON(\'["self-hosted", "gpu"]\')', ["self-hosted", "gpu"]),
        ("startsWith(inputs.environment, '[') && fromJSON(inputs.environment) || inputs.environment", "production"),
    ],
)
def test_expressions_evaluate_as_on_github(expression: str, expected: Any) -> None:
    assert evaluate(expression, CONTEXTS) == expected


def test_interpolation_keeps_the_type_of_a_lone_expression_and_stringifies_embedded_ones() -> None:
    assert interpolate("${{ inputs.promote }}", CONTEXTS) is True
    assert interpolate("promote=${{ inputs.promote }} to ${{ inputs.environment }}", CONTEXTS) == (
        "promote=true to production"
    )
    assert interpolate(7, CONTEXTS) == 7


def test_if_conditions_accept_bare_and_wrapped_expressions() -> None:
    assert condition("inputs.environment == 'production'", CONTEXTS)
    assert not condition("${{ inputs.environment != 'production' }}", CONTEXTS)
    assert condition(None, CONTEXTS)


@pytest.mark.parametrize(
    "expression", ["vars.JF_URL", "toJSON(inputs)", "inputs.a ==", "inputs.a ~ 1", "fromJSON(inputs.environment)"]
)
def test_what_the_evaluator_does_not_know_is_an_error_never_a_guess(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression, CONTEXTS)
