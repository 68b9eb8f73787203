"""The runner-facing contract of the entrypoint, independent of any stage's logic."""

from __future__ import annotations

from tests.e2e.conftest import ActionHarness


def test_unknown_stage_gives_one_error_annotation_and_a_summary_section(action: ActionHarness) -> None:
    result = action.run({"stages": "upload,deploy-to-mars"})

    assert result.returncode == 1
    assert result.errors == [
        (
            "Invalid input 'stages'",
            "Input 'stages': unknown stage 'deploy-to-mars'; choose from configure, gate, upload, build-publish, "
            "scan, promote, resolve. Set `stages` in the step's `with:`. Stages to run, comma or newline separated: "
            "configure, gate, upload, build-publish, scan, promote, resolve. They always run in that order.",
        )
    ]
    assert "### :x: Invalid input 'stages'" in result.summary
    assert "**How to fix:**" in result.summary


def test_secrets_given_as_inputs_are_masked_before_anything_else_is_printed(action: ActionHarness) -> None:
    token = "s3cr3t-token-value-e2e-0001"
    result = action.run({"stages": "nope", "access-token": token})

    first_line = result.stdout.splitlines()[0]
    assert first_line == f"::add-mask::{token}"
    assert token not in "\n".join(result.stdout.splitlines()[1:])
    assert token not in result.summary
