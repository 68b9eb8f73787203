"""inputs.py: where every value comes from, and every message a bad input gets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ml_artifactory_action.errors import ConfigError, MissingInputsError
from ml_artifactory_action.inputs import build_parser, flags_from_args, load_settings, read_event, secret_values
from ml_artifactory_action.settings import Stage

ACTIONS = {"GITHUB_ACTIONS": "true"}
NO_MODEL = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_REPOSITORY": "acme/fraud-model",
    "GITHUB_RUN_NUMBER": "7",
    "JF_URL": "https://acme.jfrog.io",
}
BASE = NO_MODEL | {"INPUT_MODEL-PATH": "model.pkl"}


def settings(env: dict[str, str], flags: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return load_settings(BASE | env, flags)


def config_error(
    env: dict[str, str], flags: dict[str, str] | None = None, *, base: dict[str, str] = BASE
) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(base | env, flags)
    return caught.value


def test_the_hyphenated_input_wins_over_the_underscore_form() -> None:
    s = load_settings(NO_MODEL | {"INPUT_MODEL-PATH": "a.pkl", "INPUT_MODEL_PATH": "b.pkl"})
    assert s.model_path == ("a.pkl",)
    assert load_settings(NO_MODEL | {"INPUT_MODEL_PATH": "b.pkl\nc/*.bin\n"}).model_path == ("b.pkl", "c/*.bin")


def test_flags_win_over_inputs_and_empty_values_count_as_unset() -> None:
    s = settings({"INPUT_REPO": "from-env", "INPUT_TARGET-REPO": ""}, {"repo": "from-flag"})
    assert s.repo == "from-flag"
    assert s.target_repo == "ml-models-prod-local"


def test_jfrog_variables_are_defaults_and_inputs_override_them() -> None:
    env = {"JF_ACCESS_TOKEN": "jf-token", "JF_PROJECT": "ml"}
    s = settings(env)
    assert s.url == "https://acme.jfrog.io"
    assert s.access_token is not None
    assert s.access_token.get_secret_value() == "jf-token"
    assert s.project == "ml"
    s = settings(env | {"INPUT_URL": "https://other.jfrog.io/artifactory/", "INPUT_ACCESS-TOKEN": "input-token"})
    assert s.url == "https://other.jfrog.io"
    assert s.access_token is not None
    assert s.access_token.get_secret_value() == "input-token"
    basic = settings({"JF_USER": "ci", "JF_PASSWORD": "pw"})
    assert (basic.user, basic.password.get_secret_value() if basic.password else None) == ("ci", "pw")


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("True", True), ("TRUE", True), ("false", False), ("FALSE", False)]
)
def test_booleans_follow_the_yaml_core_schema(text: str, value: bool) -> None:
    assert settings({"INPUT_DRY-RUN": text}).dry_run is value


def test_a_bad_boolean_names_the_input() -> None:
    error = config_error({"INPUT_DRY-RUN": "yes"})
    assert error.title == "Invalid input 'dry-run'"
    assert error.message == "Input 'dry-run': 'yes' is not a boolean; use true or false"
    assert error.fix == "Set `dry-run` in the step's `with:`. Show what each stage would do without changing anything."


def test_stages_are_put_in_pipeline_order_once_each() -> None:
    s = settings(
        {
            "INPUT_STAGES": "resolve, upload\nupload,gate",
            "INPUT_MODEL-PATH": "m",
            "INPUT_METRICS-FILE": "m.json",
            "INPUT_THRESHOLDS": "a > 1",
        }
    )
    assert s.stages == (Stage.GATE, Stage.UPLOAD, Stage.RESOLVE)


@pytest.mark.parametrize(
    ("env", "input_name", "message"),
    [
        (
            {"INPUT_STAGES": "upload,deploy"},
            "stages",
            "unknown stage 'deploy'; choose from configure, gate, upload, build-publish, scan, promote, resolve",
        ),
        (
            {"INPUT_STAGES": " , "},
            "stages",
            "no stage given; choose from configure, gate, upload, build-publish, scan, promote, resolve",
        ),
        (
            {"INPUT_THRESHOLDS": "accuracy is high"},
            "thresholds",
            "cannot read threshold 'accuracy is high'; write one per line as '<metric> <op> <number>' with op one of >=, <=, >, <, ==, !=, e.g. 'accuracy >= 0.90'",
        ),
        (
            {"INPUT_THRESHOLDS": "accuracy >= high"},
            "thresholds",
            "threshold 'accuracy >= high': 'high' is not a number",
        ),
        (
            {"INPUT_PROPERTIES": "team"},
            "properties",
            "cannot read property 'team'; write 'key=value' pairs separated by ';'",
        ),
        ({"INPUT_MAX-WORKERS": "0"}, "max-workers", "Input should be greater than or equal to 1"),
        (
            {"INPUT_SCAN-TIMEOUT": "ten"},
            "scan-timeout",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        ({"INPUT_MAX-REGRESSION": "-0.1"}, "max-regression", "Input should be greater than or equal to 0"),
        (
            {"INPUT_URL": "acme.jfrog.io"},
            "url",
            "'acme.jfrog.io' is not an http(s) URL; give the platform URL, e.g. https://acme.jfrog.io",
        ),
    ],
)
def test_malformed_values_name_the_input(env: dict[str, str], input_name: str, message: str) -> None:
    error = config_error({"INPUT_STAGES": "upload", "INPUT_MODEL-PATH": "m"} | env)
    assert error.input_name == input_name
    assert error.message == f"Input '{input_name}': {message}"


UPLOAD = {"INPUT_STAGES": "upload", "INPUT_MODEL-PATH": "model.pkl"}
GATE = {"INPUT_STAGES": "gate", "INPUT_METRICS-FILE": "m.json", "INPUT_THRESHOLDS": "accuracy >= 0.9"}


@pytest.mark.parametrize(
    ("env", "base", "input_name", "message", "fix"),
    [
        (
            UPLOAD,
            ACTIONS | {"GITHUB_REPOSITORY": "a/b", "GITHUB_RUN_NUMBER": "7"},
            "url",
            "is empty and JF_URL is not set",
            "Set `url` in the step's `with:`.",
        ),
        (
            UPLOAD | {"INPUT_USER": "ci"},
            BASE,
            "password",
            "user is set but password is empty",
            "Set password (or use access-token, or OIDC with oidc-provider-name).",
        ),
        (
            UPLOAD | {"INPUT_PASSWORD": "pw"},
            BASE,
            "user",
            "password is set but user is empty",
            "Set user to the JFrog user the password belongs to.",
        ),
        (
            UPLOAD | {"INPUT_USER": "ci", "INPUT_PASSWORD": "pw", "INPUT_OIDC-PROVIDER-NAME": "gh"},
            BASE,
            "oidc-provider-name",
            "conflicts with user",
            "Give only one way to log in: access-token, user + password, or oidc-provider-name.",
        ),
        (
            UPLOAD | {"INPUT_REPO": "bad repo"},
            BASE,
            "repo",
            "'bad repo' is not a repository key",
            "Use the key shown in Artifactory",
        ),
        ({"INPUT_STAGES": "upload"}, NO_MODEL, "model-path", "is empty: nothing to upload", "Set `model-path`"),
        (
            UPLOAD,
            ACTIONS | {"JF_URL": "https://a.io", "GITHUB_RUN_NUMBER": "7"},
            "model-name",
            "is empty and GITHUB_REPOSITORY is not set",
            "Set `model-name`",
        ),
        (
            UPLOAD,
            ACTIONS | {"JF_URL": "https://a.io", "GITHUB_REPOSITORY": "a/b"},
            "model-version",
            "is empty and GITHUB_RUN_NUMBER is not set",
            "Set `model-version`",
        ),
        (
            UPLOAD | {"INPUT_TARGET-PATH": "../escape/"},
            BASE,
            "target-path",
            "'../escape/' climbs out of the repository with '..'",
            "Give a path inside the repository",
        ),
        (
            GATE | {"INPUT_MLFLOW-RUN-ID": "r"},
            BASE,
            "metrics-file",
            "conflicts with mlflow-run-id",
            "Read metrics from one place",
        ),
        (
            {"INPUT_STAGES": "gate", "INPUT_MLFLOW-RUN-ID": "r", "INPUT_THRESHOLDS": "a > 1"},
            BASE,
            "mlflow-tracking-uri",
            "is empty but mlflow-run-id is set",
            "Set `mlflow-tracking-uri`",
        ),
        (
            {"INPUT_STAGES": "gate", "INPUT_MLFLOW-TRACKING-URI": "http://m", "INPUT_THRESHOLDS": "a > 1"},
            BASE,
            "mlflow-run-id",
            "is empty but mlflow-tracking-uri is set",
            "Set `mlflow-run-id`",
        ),
        (
            {"INPUT_STAGES": "gate", "INPUT_THRESHOLDS": "a > 1"},
            BASE,
            "metrics-file",
            "the gate needs metrics",
            "Set metrics-file to a JSON or YAML file",
        ),
        (
            {"INPUT_STAGES": "gate", "INPUT_METRICS-FILE": "m.json"},
            BASE,
            "thresholds",
            "the gate has nothing to check",
            "Give thresholds such as 'accuracy >= 0.90'",
        ),
        (
            {"INPUT_STAGES": "promote"},
            ACTIONS | {"JF_URL": "https://a.io", "GITHUB_RUN_NUMBER": "7"},
            "build-name",
            "is empty and GITHUB_REPOSITORY is not set",
            "Set `build-name`",
        ),
        (
            {"INPUT_STAGES": "scan"},
            ACTIONS | {"JF_URL": "https://a.io", "GITHUB_REPOSITORY": "a/b"},
            "build-number",
            "is empty and GITHUB_RUN_NUMBER is not set",
            "Set `build-number`",
        ),
        (
            {"INPUT_STAGES": "resolve"},
            ACTIONS | {"JF_URL": "https://a.io"},
            "build-name",
            "is empty and GITHUB_REPOSITORY is not set",
            "Set `build-name`",
        ),
        (
            {"INPUT_STAGES": "configure"},
            BASE,
            "pypi-repo",
            "configure needs pypi-repo, hf-repo or both",
            "Name the repositories later steps should use.",
        ),
    ],
)
def test_every_cross_input_check_has_its_own_message(
    env: dict[str, str], base: dict[str, str], input_name: str, message: str, fix: str
) -> None:
    error = config_error(env, base=base)
    assert (error.input_name, error.message) == (input_name, f"Input '{input_name}': {message}")
    assert error.fix.startswith(fix)


def test_inputs_that_need_no_server_or_build_name() -> None:
    gate_only = load_settings(GATE)
    assert gate_only.url == ""
    resolve_by_props = load_settings(
        {"JF_URL": "https://a.io", "INPUT_STAGES": "resolve", "INPUT_RESOLVE-PROPERTIES": "env=production"}
    )
    assert resolve_by_props.resolve_properties == (("env", ("production",)),)
    rollback = load_settings(
        {"JF_URL": "https://a.io", "GITHUB_REPOSITORY": "a/b", "INPUT_STAGES": "promote", "INPUT_ROLLBACK": "true"}
    )
    assert rollback.rollback


def test_the_cli_parser_maps_subcommands_and_boolean_flags() -> None:
    parser = build_parser()
    flags = flags_from_args(parser.parse_args(["promote", "--rollback", "--target-repo", "prod"]))
    assert flags == {"rollback": "true", "target-repo": "prod", "stages": "promote"}
    flags = flags_from_args(parser.parse_args(["run", "--stages", "gate,upload", "--dry-run", "false"]))
    assert flags == {"stages": "gate,upload", "dry-run": "false"}
    with pytest.raises(SystemExit):
        parser.parse_args(["promote", "--stages", "gate"])


def test_secret_values_are_collected_from_every_place_they_can_come_from() -> None:
    env = {
        "INPUT_ACCESS-TOKEN": "t1",
        "INPUT_PASSWORD": "p1",
        "INPUT_GITHUB_TOKEN": "g1",
        "JF_ACCESS_TOKEN": "t2",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "o1",
        "GITHUB_TOKEN": "  ",
    }
    assert sorted(set(secret_values(env, {"password": "p2"}))) == ["g1", "o1", "p1", "p2", "t1", "t2"]


def test_the_event_file_is_read_once_and_a_bad_one_is_ignored(tmp_path: Path) -> None:
    good = tmp_path / "event.json"
    good.write_text(json.dumps({"pull_request": {"number": 42}, "head_commit": {"message": "Train v2"}}))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")

    s = settings({"GITHUB_EVENT_PATH": str(good)})
    assert (s.github.pull_request_number, s.github.commit_message) == (42, "Train v2")
    assert read_event(str(bad)) == {}
    assert read_event(str(tmp_path / "missing.json")) == {}
    assert read_event(None) == {}


def test_checksums_are_remembered_under_home_unless_told_otherwise() -> None:
    base = {"INPUT_STAGES": "gate", "INPUT_METRICS-FILE": "m.json", "INPUT_THRESHOLDS": "acc >= 0.5"}

    assert load_settings(base | {"HOME": "/github/home"}).hash_cache_dir == Path(
        "/github/home/.cache/ml-artifactory-action"
    )
    assert load_settings(base | {"HOME": "/h", "XDG_CACHE_HOME": "/xdg"}).hash_cache_dir == Path(
        "/xdg/ml-artifactory-action"
    )
    assert load_settings(base | {"HOME": "/h", "INPUT_HASH-CACHE-DIR": "/mine"}).hash_cache_dir == Path("/mine")


def test_in_actions_every_missing_input_is_named_in_one_error() -> None:
    error = config_error({"INPUT_STAGES": "upload,build-publish"}, base=ACTIONS)

    assert isinstance(error, MissingInputsError)
    assert error.title == "Missing inputs"
    assert error.input_names == ["url", "model-path", "model-name", "model-version", "build-name", "build-number"]
    assert error.message.startswith(
        "6 inputs are missing: url is empty and JF_URL is not set; model-path is empty: nothing to upload; "
        "model-name is empty and GITHUB_REPOSITORY is not set;"
    )
    assert error.fix.endswith("`build-name`, `build-number` in the step's `with:`.")


def test_at_a_terminal_missing_inputs_are_flags_and_only_those_without_a_default() -> None:
    error = config_error({}, {"stages": "upload,build-publish"}, base={})

    assert isinstance(error, MissingInputsError)
    assert error.message == (
        "2 inputs are missing: --url is not given and JF_URL is not set; --model-path is not given: nothing to upload"
    )
    assert error.fix == "Give --url, --model-path (`ml-artifactory run --help` describes each)."
    assert "with:" not in error.message + error.fix


def test_at_a_terminal_one_bad_input_is_named_as_its_flag() -> None:
    error = config_error({}, {"stages": "promote", "url": "https://a.io", "build-name": "fraud"}, base={})

    assert (error.title, error.message) == ("Invalid input '--build-number'", "Input '--build-number': is not given")
    bad = config_error({}, {"stages": "gate", "dry-run": "yes"}, base={})
    assert bad.title == "Invalid input '--dry-run'"
    assert bad.fix.startswith("Give --dry-run. ")


def test_at_a_terminal_the_model_folder_and_the_time_stand_in_for_github_names(tmp_path: Path) -> None:
    (tmp_path / "fraud-model" / "weights").mkdir(parents=True)
    flags = {"stages": "upload,build-publish", "url": "https://a.io", "model-path": "weights/*.bin"}
    now = datetime(2026, 12, 3, 16, 5, 9, tzinfo=UTC)

    s = load_settings({"GITHUB_WORKSPACE": str(tmp_path / "fraud-model")}, flags, now=now)

    assert (s.model_name, s.model_version, s.build_name, s.build_number) == (
        "weights",
        "20261203.160509",
        "weights",
        "20261203.160509",
    )
    assert s.local_defaults == (
        ("model-name", "weights"),
        ("build-name", "weights"),
        ("model-version", "20261203.160509"),
        ("build-number", "20261203.160509"),
    )
    given = load_settings({}, flags | {"model-name": "fraud", "model-version": "1.2"}, now=now)
    assert (given.build_name, given.build_number, given.local_defaults) == (
        "fraud",
        "1.2",
        (("build-name", "fraud"), ("build-number", "1.2")),
    )


def test_in_actions_nothing_is_chosen_for_the_user() -> None:
    s = load_settings(BASE | {"INPUT_STAGES": "upload"})
    assert (s.effective_model_name, s.effective_model_version, s.local_defaults) == ("fraud-model", "7", ())
