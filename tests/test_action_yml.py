"""action.yml is the action's public contract: it must say exactly what the settings model accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from scripts import gen_action_yml as gen

from ml_artifactory_action.outputs import OUTPUTS
from ml_artifactory_action.settings import NOT_INPUTS, Settings

ROOT = Path(__file__).resolve().parents[1]
SPEC = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def test_committed_action_yml_and_readme_are_what_the_generator_writes() -> None:
    expected = gen.expected_files(gen.committed_image(gen.ACTION_YML), gen.README.read_text(encoding="utf-8"))

    stale = gen.stale_files(expected)

    assert stale == {}, "run `make action-yml`:\n" + "\n".join(stale.values())


def test_a_stale_action_yml_is_reported_with_a_diff(tmp_path: Path) -> None:
    committed = tmp_path / "action.yml"
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    committed.write_text(text.replace("Files uploaded in parallel.", "Files uploaded at once."), encoding="utf-8")

    stale = gen.stale_files({committed: text})

    assert list(stale) == [committed]
    assert "-    description: Files uploaded at once." in stale[committed]
    assert "+    description: Files uploaded in parallel." in stale[committed]


def test_every_settings_field_is_an_input_with_its_description_and_default() -> None:
    fields = {f.alias or n: f for n, f in Settings.model_fields.items() if n not in NOT_INPUTS}

    assert list(SPEC["inputs"]) == list(fields)
    for name, meta in SPEC["inputs"].items():
        extra = fields[name].json_schema_extra
        action_default = extra.get("action_default", "") if isinstance(extra, dict) else ""
        assert meta == {"description": fields[name].description, "required": False, "default": action_default}
        assert meta["description"], f"input {name} has no description"


def test_every_output_is_declared_with_its_description() -> None:
    assert SPEC["outputs"] == {name: {"description": text} for name, text in OUTPUTS.items()}


def test_the_action_runs_a_prebuilt_image_never_the_dockerfile() -> None:
    runs = SPEC["runs"]

    assert runs["using"] == "docker"
    assert gen.IMAGE_PATTERN.match(runs["image"]), runs["image"]
    assert "args" not in runs, "inputs reach the container as INPUT_* variables; args would duplicate them"


def test_branding_uses_a_marketplace_icon_and_colour() -> None:
    assert SPEC["branding"] == {"icon": "package", "color": "green"}
    assert len(SPEC["description"]) <= 125, "the Marketplace cuts descriptions longer than 125 characters"


@pytest.mark.parametrize(
    ("image", "valid"),
    [
        ("docker://ghcr.io/your-org/ml-artifactory-action:main", True),
        ("docker://ghcr.io/acme/ml-artifactory-action:v1.2.3", True),
        ("docker://ghcr.io/acme/ml-artifactory-action@sha256:" + "a" * 64, True),
        ("Dockerfile", False),
        ("docker://ghcr.io/Acme/ml-artifactory-action:v1", False),
        ("docker://ghcr.io/acme/ml-artifactory-action@sha256:abc", False),
    ],
)
def test_only_released_ghcr_images_are_accepted_as_the_reference(image: str, valid: bool) -> None:
    assert bool(gen.IMAGE_PATTERN.match(image)) is valid


def test_the_generator_refuses_an_image_that_would_be_built_at_run_time(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        gen.main(["--check", "--image", "Dockerfile"])

    assert exit_info.value.code == 2
    assert "'Dockerfile' is not a docker://ghcr.io/<owner>/<name>:<tag>" in capsys.readouterr().err


def test_readme_markers_must_be_present_once_each() -> None:
    with pytest.raises(ValueError, match=r"README\.md must contain <!-- inputs:start -->"):
        gen.replace_between("no markers", gen.INPUTS_START, gen.INPUTS_END, "table")


def test_a_release_image_is_pinned_by_digest_without_the_main_branch_exception() -> None:
    digest = "docker://ghcr.io/acme/ml-artifactory-action@sha256:" + "0123456789abcdef" * 4

    text = gen.render_action_yml(digest, gen.action_inputs(), OUTPUTS)

    assert text.endswith(f"runs:\n  using: docker\n  image: {digest}\n")
    assert "zizmor" not in text.split("runs:")[1]
