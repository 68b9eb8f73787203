"""The release workflow's own scripts, run as its steps run them, on copies of our files."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import parse_file_command
from tests.workflows.declarations import load
from tests.workflows.simulator import OUR_ACTION, OUR_WORKFLOW, ROOT

RELEASE = load(ROOT / ".github" / "workflows" / "release.yml")


def script(step_name: str) -> str:
    steps = RELEASE["jobs"]["release"]["steps"]
    return str(next(s for s in steps if s.get("name") == step_name)["run"])


def run_step(step_name: str, cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    output = cwd / "github_output"
    output.touch()
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script(step_name)],
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(output)} | env,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc, parse_file_command(output.read_text())


def test_a_version_names_the_image_and_its_moving_tags(tmp_path: Path) -> None:
    proc, outputs = run_step(
        "Check the version and name the image",
        tmp_path,
        {"VERSION": "1.4.2", "GITHUB_REPOSITORY": "Acme/ML-Artifactory-Action"},
    )

    assert proc.returncode == 0, proc.stderr
    assert outputs == {
        "image": "ghcr.io/acme/ml-artifactory-action",
        "major": "v1",
        "minor": "v1.4",
        "tag": "v1.4.2",
    }


@pytest.mark.parametrize("version", ["v1.4.2", "1.4", "1.4.2-rc1", "1.4.2; rm -rf /"])
def test_anything_but_x_y_z_is_refused_with_one_annotation(tmp_path: Path, version: str) -> None:
    proc, outputs = run_step(
        "Check the version and name the image", tmp_path, {"VERSION": version, "GITHUB_REPOSITORY": "acme/x"}
    )

    assert proc.returncode == 1
    assert proc.stdout == f"::error title=Invalid input 'version'::'{version}' is not X.Y.Z\n"
    assert outputs == {}


def test_stamping_points_every_reference_at_this_repository_and_the_release_tag(tmp_path: Path) -> None:
    for folder in (".github/workflows", "workflows"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "."], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "source"], cwd=tmp_path, check=True)

    proc, _ = run_step(
        "Stamp this repository and the release tag into the workflows",
        tmp_path,
        {"TAG": "v1.4.2", "GITHUB_REPOSITORY": "acme/ml-artifactory-action"},
    )

    assert proc.returncode == 0, proc.stderr
    stamped = sorted((tmp_path / ".github/workflows").glob("*.yml")) + sorted((tmp_path / "workflows").glob("*.yml"))
    references = []
    for path in stamped:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"your-org/ml-artifactory-action(/\S*)?@main", text), path.name
        jobs = yaml.safe_load(text)["jobs"].values()
        uses = [job.get("uses", "") for job in jobs] + [s.get("uses", "") for j in jobs for s in j.get("steps", [])]
        references += [ref for ref in uses if OUR_ACTION.match(ref) or OUR_WORKFLOW.match(ref)]
    assert references
    for ref in references:
        assert ref.startswith("acme/ml-artifactory-action"), ref
        assert ref.endswith("@v1.4.2"), ref
