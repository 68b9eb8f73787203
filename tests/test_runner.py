"""runner.py: what reaches the log, the outputs, the env file and the summary."""

from __future__ import annotations

import io
from pathlib import Path

from ml_artifactory_action.runner import Progress, Runner, human_size
from ml_artifactory_action.settings import GitHubContext
from tests.e2e.conftest import parse_file_command


def runner_in(tmp_path: Path, *, debug: bool = False) -> tuple[Runner, io.StringIO]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name in ("out", "env", "summary"):
        (tmp_path / name).touch()
    github = GitHubContext(
        output_path=tmp_path / "out", env_path=tmp_path / "env", summary_path=tmp_path / "summary", debug=debug
    )
    stream = io.StringIO()
    return Runner(github, stream), stream


def test_a_masked_value_is_announced_once_per_line_and_redacted_everywhere(tmp_path: Path) -> None:
    runner, stream = runner_in(tmp_path)
    runner.mask("first-line\nsecond-line")
    runner.mask("first-line\nsecond-line")
    runner.mask("abc")  # too short to mask without hiding ordinary words

    runner.info("token first-line\nsecond-line used")
    runner.set_output("url", "https://u:first-line\nsecond-line@x")
    runner.add_summary("uses first-line\nsecond-line")
    runner.error("Failed: first-line\nsecond-line", "abc")

    assert stream.getvalue().splitlines()[:2] == ["::add-mask::first-line", "::add-mask::second-line"]
    assert "token *** used" in stream.getvalue()
    assert parse_file_command((tmp_path / "out").read_text()) == {"url": "https://u:***@x"}
    assert (tmp_path / "summary").read_text() == "uses ***\n"
    assert runner.annotations == [("error", "Failed: ***", "abc")]


def test_outputs_and_env_use_the_multiline_form(tmp_path: Path) -> None:
    runner, _ = runner_in(tmp_path)
    runner.set_output("metrics", '{"a": 1}\nsecond line')
    runner.export_env("HF_TOKEN", "hf_secret_value", secret=True)

    assert parse_file_command((tmp_path / "out").read_text()) == {"metrics": '{"a": 1}\nsecond line'}
    text = (tmp_path / "env").read_text()
    assert text.startswith("HF_TOKEN<<ghadelimiter_")
    assert parse_file_command(text) == {"HF_TOKEN": "hf_secret_value"}
    assert runner.outputs == {"metrics": '{"a": 1}\nsecond line'}


def test_the_env_value_is_written_even_though_it_is_masked_in_logs(tmp_path: Path) -> None:
    runner, stream = runner_in(tmp_path)
    runner.export_env("PIP_INDEX_URL", "https://u:tok-1234@x/simple", secret=True)
    runner.info("https://u:tok-1234@x/simple")
    assert stream.getvalue().splitlines() == ["::add-mask::https://u:tok-1234@x/simple", "***"]


def test_annotations_escape_their_properties_and_data(tmp_path: Path) -> None:
    runner, stream = runner_in(tmp_path)
    runner.warning("Title: with, commas", "100% sure\nsecond line")
    assert stream.getvalue() == "::warning title=Title%3A with%2C commas::100%25 sure%0Asecond line\n"


def test_debug_lines_only_in_debug_mode_and_groups(tmp_path: Path) -> None:
    quiet, quiet_stream = runner_in(tmp_path / "q")
    quiet.debug("hidden")
    loud, loud_stream = runner_in(tmp_path / "l", debug=True)
    loud.debug("shown\nhere")
    with loud.group("gate"):
        loud.info("inside")
    assert quiet_stream.getvalue() == ""
    assert loud_stream.getvalue().splitlines() == ["::debug::shown%0Ahere", "::group::gate", "inside", "::endgroup::"]


def test_outside_actions_nothing_is_written_but_kept_in_memory() -> None:
    runner = Runner(GitHubContext(), io.StringIO())
    runner.set_output("a", "1")
    runner.add_summary("## report")
    assert not runner.in_actions
    assert runner.outputs == {"a": "1"}
    assert runner.summary == ["## report"]


def test_progress_lines_and_sizes(tmp_path: Path) -> None:
    runner, stream = runner_in(tmp_path)
    progress = Progress(runner, "model.bin", 4 * 1024**3, interval=0.0)
    progress.advance(1024**3)
    assert stream.getvalue().startswith("model.bin: 1.0 GiB of 4.0 GiB (25%) at ")
    assert [human_size(n) for n in (0, 1023, 1024, 5 * 1024**2, 3 * 1024**4)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "5.0 MiB",
        "3072.0 GiB",
    ]


def test_at_a_terminal_there_are_no_workflow_commands_and_secrets_stay_hidden() -> None:
    stream = io.StringIO()
    runner = Runner(GitHubContext(debug=True), stream)

    runner.mask("tok-0123456789")
    with runner.group("upload"):
        runner.info("sent with tok-0123456789")
        runner.debug("100% done")
    runner.warning("Slow: 50%", "took 100%\nof the time")

    assert stream.getvalue().splitlines() == [
        "== upload",
        "sent with ***",
        "debug: 100% done",
        "Warning: Slow: 50%",
        "took 100%",
        "of the time",
    ]


def test_github_actions_alone_makes_workflow_commands() -> None:
    stream = io.StringIO()
    Runner(GitHubContext(actions=True), stream).mask("tok-0123456789")
    assert stream.getvalue() == "::add-mask::tok-0123456789\n"
