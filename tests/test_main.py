"""The entrypoint: the one place errors become an annotation, a summary section and exit 1."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ml_artifactory_action import __main__ as entrypoint
from ml_artifactory_action.stages import pipeline
from tests.e2e.conftest import parse_annotations, parse_file_command
from tests.fakes.jfrog import BASE_ENV, runner_env


def run(tmp_path: Path, env: dict[str, str]) -> tuple[int, str, dict[str, str], str]:
    environ = BASE_ENV | runner_env(tmp_path) | env
    stream = io.StringIO()
    code = entrypoint.main(environ, {}, stream=stream)
    outputs = parse_file_command((tmp_path / "github_output").read_text())
    return code, stream.getvalue(), outputs, (tmp_path / "github_step_summary").read_text()


def metrics(tmp_path: Path, accuracy: float) -> str:
    path = tmp_path / "workspace" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"accuracy": accuracy}))
    return "metrics.json"


def test_a_passing_run_exits_0_with_outputs_and_the_report(tmp_path: Path) -> None:
    env = {"INPUT_STAGES": "gate", "INPUT_METRICS-FILE": metrics(tmp_path, 0.95), "INPUT_THRESHOLDS": "accuracy >= 0.9"}

    code, log, outputs, summary = run(tmp_path, env)

    assert code == 0
    assert outputs == {"gate-passed": "true", "metrics": '{"accuracy": 0.95}'}
    assert "### :white_check_mark: Quality gate passed" in summary
    assert parse_annotations(log) == []
    assert "::group::gate" in log


def test_an_action_error_is_one_annotation_one_summary_section_and_exit_1(tmp_path: Path) -> None:
    env = {"INPUT_STAGES": "gate", "INPUT_METRICS-FILE": metrics(tmp_path, 0.5), "INPUT_THRESHOLDS": "accuracy >= 0.9"}

    code, log, outputs, summary = run(tmp_path, env)

    assert code == 1
    [(level, title, message)] = parse_annotations(log)
    assert (level, title) == ("error", "Quality gate failed")
    assert message.endswith(
        "- accuracy = 0.5: needs >= 0.9. Improve the model, or change thresholds / max-regression if the limits are wrong. Nothing was uploaded."
    )
    assert outputs["gate-passed"] == "false"
    assert summary.count("### :x: Quality gate failed") == 2  # the gate's section, then the failure with its fix
    assert "**How to fix:** Improve the model" in summary


def test_a_bad_input_fails_before_anything_runs(tmp_path: Path) -> None:
    code, log, outputs, summary = run(tmp_path, {"INPUT_STAGES": "gate", "INPUT_THRESHOLDS": "accuracy >= 0.9"})

    assert code == 1
    assert parse_annotations(log) == [
        (
            "error",
            "Invalid input 'metrics-file'",
            "Input 'metrics-file': the gate needs metrics. Set metrics-file to a JSON or YAML file, or mlflow-tracking-uri + mlflow-run-id.",
        )
    ]
    assert outputs == {}
    assert summary.startswith("### :x: Invalid input 'metrics-file'")


def test_a_bug_is_reported_as_an_internal_error_with_the_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ctx: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "stage_runner", lambda stage: broken)
    env = {"INPUT_STAGES": "gate", "INPUT_METRICS-FILE": "m.json", "INPUT_THRESHOLDS": "a > 1"}

    code, log, _, summary = run(tmp_path, env)

    assert code == 1
    [(_, title, message)] = parse_annotations(log)
    assert title == "Internal error"
    assert "RuntimeError: boom" in message
    assert message.endswith("This is a bug in ml-artifactory-action: please open an issue with the log of this step.")
    assert "### :x: Internal error" in summary


def test_secrets_are_masked_before_the_first_line_and_never_printed(tmp_path: Path) -> None:
    token = "jf-secret-token-0042"
    env = {
        "INPUT_STAGES": "gate",
        "INPUT_METRICS-FILE": metrics(tmp_path, 0.95),
        "INPUT_THRESHOLDS": "nope",
        "JF_ACCESS_TOKEN": token,
    }

    code, log, _, summary = run(tmp_path, env)

    assert code == 1
    assert log.splitlines()[0] == f"::add-mask::{token}"
    assert token not in "\n".join(log.splitlines()[1:]) + summary


def test_a_broken_report_still_leaves_the_error_and_its_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(ctx: object, error: object) -> None:
        raise KeyError("section")

    monkeypatch.setattr(entrypoint.report, "publish", broken)
    env = {"INPUT_STAGES": "gate", "INPUT_METRICS-FILE": metrics(tmp_path, 0.95), "INPUT_THRESHOLDS": "accuracy >= 0.9"}

    code, log, outputs, summary = run(tmp_path, env)

    assert code == 1
    [(level, title, message), (w_level, w_title, w_message)] = parse_annotations(log)
    assert (level, title) == ("error", "Internal error")
    assert "KeyError: 'section'" in message
    assert (w_level, w_title) == ("warning", "Report not written")
    assert "KeyError" in w_message
    assert outputs["gate-passed"] == "true"
    assert summary.startswith("### :x: Internal error")
