"""The release and CI workflows: their scripts run as their steps run them, on copies of our files.

GitHub refuses a push made with GITHUB_TOKEN that creates or updates a workflow file ("refusing to
allow a GitHub App to create or update workflow `.github/workflows/...` without `workflows`
permission"; that permission cannot be given to GITHUB_TOKEN), so a release may change action.yml
only. Docker, GHCR and GitHub's API are not here: the steps that talk to them are checked for what
they run and in which order; the git steps run for real against a local bare "origin".
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import parse_file_command
from tests.workflows.declarations import load
from tests.workflows.simulator import ROOT

RELEASE = load(ROOT / ".github" / "workflows" / "release.yml")
CI = load(ROOT / ".github" / "workflows" / "ci.yml")
DIGEST = "docker://ghcr.io/acme/ml-artifactory-action@sha256:" + "0123456789abcdef" * 4
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]


def step(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for job in workflow["jobs"].values() for s in job.get("steps", []) if s.get("name") == name)


def run_step(
    workflow: dict[str, Any], name: str, cwd: Path, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    output = cwd / "github_output"
    output.touch()
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", str(step(workflow, name)["run"])],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "HOME": str(cwd), "GITHUB_OUTPUT": str(output)} | env,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc, parse_file_command(output.read_text())


def test_a_version_names_the_image_and_its_moving_tags(tmp_path: Path) -> None:
    proc, outputs = run_step(
        RELEASE,
        "Check the version and name the image",
        tmp_path,
        {"VERSION": "1.4.2", "GITHUB_REPOSITORY": "Acme/ML-Artifactory-Action"},
    )

    assert proc.returncode == 0, proc.stderr
    assert outputs == {"image": "ghcr.io/acme/ml-artifactory-action", "major": "v1", "minor": "v1.4", "tag": "v1.4.2"}


@pytest.mark.parametrize("version", ["v1.4.2", "1.4", "1.4.2-rc1", "1.4.2; rm -rf /"])
def test_anything_but_x_y_z_is_refused_with_one_annotation(tmp_path: Path, version: str) -> None:
    proc, outputs = run_step(
        RELEASE, "Check the version and name the image", tmp_path, {"VERSION": version, "GITHUB_REPOSITORY": "acme/x"}
    )

    assert proc.returncode == 1
    assert proc.stdout == f"::error title=Invalid input 'version'::'{version}' is not X.Y.Z\n"
    assert outputs == {}


# The release commit, for real, in a copy of the files the release job checks out ----------------
COMMIT = "Commit action.yml and push the version tags in one atomic push"
POINT = "Point action.yml at that image by digest"
TAGS = {
    "TAG": "v1.4.2",
    "MINOR": "v1.4",
    "MAJOR": "v1",
    "GITHUB_TOKEN": "ghs_x",
    "GITHUB_SERVER_URL": "https://github.com",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clone of a repository holding what the release job needs, with a bare origin to push to."""
    source = tmp_path / "source"
    for path in ("action.yml", "README.md", "scripts/gen_action_yml.py", ".github/workflows", "workflows"):
        target = source / path
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (ROOT / path).is_dir() else shutil.copy2)(ROOT / path, target)
    git(tmp_path, "init", "-q", "--bare", "origin.git")
    git(source, "init", "-q")
    git(source, "add", ".")
    git(source, "commit", "-qm", "source")
    git(source, "push", "-q", str(tmp_path / "origin.git"), "main")
    return clone(tmp_path, "runner")


def clone(tmp_path: Path, name: str) -> Path:
    """What actions/checkout leaves (the source commit, origin set, no tags), with our venv in place."""
    git(tmp_path, "clone", "-q", "--no-tags", str(tmp_path / "origin.git"), name)
    runner = tmp_path / name
    (runner / ".venv").symlink_to(ROOT / ".venv")
    return runner


def release(runner: Path) -> list[subprocess.CompletedProcess[str]]:
    first, _ = run_step(RELEASE, POINT, runner, {"REFERENCE": DIGEST})
    second, _ = run_step(RELEASE, COMMIT, runner, TAGS)
    return [first, second]


def test_the_release_commit_changes_only_action_yml_its_tags_go_out_together_and_a_re_run_changes_nothing(
    checkout: Path,
) -> None:
    source = git(checkout, "rev-parse", "HEAD")

    for proc in release(checkout):
        assert proc.returncode == 0, proc.stdout + proc.stderr

    origin = checkout.parent / "origin.git"
    commits = {tag: git(origin, "rev-parse", f"refs/tags/{tag}^{{commit}}") for tag in ("v1.4.2", "v1.4", "v1")}
    assert len(set(commits.values())) == 1
    released = commits["v1.4.2"]
    assert git(origin, "rev-parse", f"{released}^") == source
    assert git(origin, "diff", "--name-only", source, released).splitlines() == ["action.yml"]
    assert f"  image: {DIGEST}\n" in git(origin, "show", f"{released}:action.yml") + "\n"
    assert git(origin, "cat-file", "-t", "refs/tags/v1.4.2") == "tag"  # annotated
    before = git(origin, "show-ref", "--tags")

    again = release(clone(checkout.parent, "re-run"))  # "Re-run failed jobs" after a later step failed

    assert [proc.returncode for proc in again] == [0, 0], again[1].stderr
    assert git(origin, "show-ref", "--tags") == before


def test_a_release_that_would_change_a_workflow_file_is_refused_before_anything_is_pushed(checkout: Path) -> None:
    (checkout / "action.yml").write_text((checkout / "action.yml").read_text().replace(":main", ":v1.4.2"))
    workflow = checkout / ".github" / "workflows" / "ml-pipeline.yml"
    workflow.write_text(workflow.read_text().replace("@main", "@v1.4.2"))

    commit, _ = run_step(RELEASE, COMMIT, checkout, TAGS)

    assert commit.returncode == 1
    assert commit.stdout.startswith("::error title=Release commit::only action.yml may change; found:")
    assert git(checkout.parent / "origin.git", "tag") == ""


def test_no_release_step_writes_a_workflow_file() -> None:
    scripts = [str(s.get("run", "")) for job in RELEASE["jobs"].values() for s in job.get("steps", [])]

    assert not [s for s in scripts if re.search(r"workflows/|sed -i", s)]


def test_the_version_tags_come_after_the_tested_images_and_before_the_image_tags_and_the_release() -> None:
    steps = [s.get("name", "") for s in RELEASE["jobs"]["release"]["steps"]]
    order = [
        "Push the tested images by digest, and one multi-arch image of them (no version tag yet)",
        POINT,
        COMMIT,
        "Tag the image vX.Y.Z, vX.Y and vX (the released digest)",
        "Create the GitHub Release (the Marketplace listing is made from it)",
    ]

    assert [steps.index(name) for name in order] == sorted(steps.index(name) for name in order)
    assert set(RELEASE["jobs"]["release"]["needs"]) == {"version", "image"}
    assert "--verify-tag" in str(step(RELEASE, order[-1])["run"])


INDEX = "Push the tested images by digest, and one multi-arch image of them (no version tag yet)"
FAKE_DOCKER = """#!/bin/bash
# docker, as the release job's index step uses it: every call logged; answers like GHCR's.
echo "$*" >> "$DOCKER_LOG"
case "$1 $2" in
  "login "* | "load "*) cat > /dev/null ;;
  "inspect "*) echo "${@: -1}@sha256:$(printf '%s' "${@: -1}" | sha256sum | cut -d' ' -f1)" ;;
  "buildx imagetools") [ "$3" = inspect ] && printf '%s\\n' "$INDEX_ANSWER" ;;
esac
exit 0
"""


def run_index_step(
    tmp_path: Path, index_answer: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str], list[str]]:
    bin_dir, images = tmp_path / "bin", tmp_path / "images"
    bin_dir.mkdir()
    images.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    for arch in ("amd64", "arm64"):
        (images / f"image-{arch}.tar.gz").write_bytes(b"saved by the image job")
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "DOCKER_LOG": str(tmp_path / "docker.log"),
        "INDEX_ANSWER": index_answer,
        "IMAGE": "ghcr.io/acme/ml-artifactory-action",
        "IMAGES": str(images),
        "GITHUB_SHA": "3f786850e387550fdab836ed7e6dc881de23001b",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_TOKEN": "ghs_x",
    }
    proc, outputs = run_step(RELEASE, INDEX, tmp_path, env)
    return proc, outputs, (tmp_path / "docker.log").read_text().splitlines()


def test_the_release_pushes_the_loaded_tested_images_and_names_their_index_by_digest(tmp_path: Path) -> None:
    index = "sha256:" + "ab" * 32

    proc, outputs, calls = run_index_step(tmp_path, f'"{index}"')

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs == {"reference": f"docker://ghcr.io/acme/ml-artifactory-action@{index}"}
    image = "ghcr.io/acme/ml-artifactory-action:sha-3f786850e387550fdab836ed7e6dc881de23001b"
    assert [c for c in calls if c.split()[0] in ("push", "build")] == [
        f"push --quiet {image}-amd64",
        f"push --quiet {image}-arm64",
    ]
    [create] = [c for c in calls if c.startswith("buildx imagetools create")]
    assert create.startswith(f"buildx imagetools create -t {image} ")
    assert create.count("@sha256:") == 2  # the two pushed digests, not tags
    assert not [c for c in calls if ":v1" in c]  # no version tag before the git tags are out


def test_an_index_digest_that_cannot_be_read_stops_the_release(tmp_path: Path) -> None:
    proc, outputs, _ = run_index_step(tmp_path, "Name: ghcr.io/acme/ml-artifactory-action:sha-3f78\nMediaType: x")

    assert proc.returncode == 1
    assert "::error title=No image digest::" in proc.stdout
    assert outputs == {}


# Multi-arch, built once, the tested image pushed -------------------------------------------------
@pytest.mark.parametrize("workflow", [CI, RELEASE], ids=["ci", "release"])
def test_each_platform_is_built_once_on_its_own_architecture_and_only_tested_images_are_pushed(
    workflow: dict[str, Any],
) -> None:
    image = workflow["jobs"]["image"]
    platforms = {(m["platform"], m["runner"]) for m in image["strategy"]["matrix"]["include"]}
    builds = {
        job: [s for s in spec.get("steps", []) if re.search(r"docker (buildx )?build\b", str(s.get("run", "")))]
        for job, spec in workflow["jobs"].items()
    }
    pushes = [job for job, spec in workflow["jobs"].items() if "docker push" in str(spec.get("steps", []))]

    assert platforms == {("linux/amd64", "ubuntu-24.04"), ("linux/arm64", "ubuntu-24.04-arm")}
    assert {job for job, found in builds.items() if found} == {"image"}
    assert len(builds["image"]) == 1
    image_steps = [s.get("name", "") for s in image["steps"]]
    assert image_steps.index("Build the image (once)") < image_steps.index("Keep the tested image")
    assert "packages" not in image["permissions"], "the job that runs the code under test cannot push"
    for job in pushes:
        assert "docker load" in str(workflow["jobs"][job]["steps"]), job
        assert "image" in workflow["jobs"][job]["needs"], job


NAMES_OUR_IMAGE = "action.yml names the image this repository pushes"


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("docker://ghcr.io/acme/ml-artifactory-action:main", True),
        (DIGEST, True),
        ("docker://ghcr.io/your-org/ml-artifactory-action:main", False),
        ("docker://ghcr.io/acme/ml-artifactory-action-fork:main", False),
    ],
)
def test_ci_fails_when_action_yml_names_another_image_than_the_one_it_pushes(
    tmp_path: Path, image: str, ok: bool
) -> None:
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    (tmp_path / "action.yml").write_text(re.sub(r"(?m)^  image: .*$", f"  image: {image}", text), encoding="utf-8")

    proc, _ = run_step(CI, NAMES_OUR_IMAGE, tmp_path, {"GITHUB_REPOSITORY": "Acme/ml-artifactory-action"})

    assert (proc.returncode == 0) is ok, proc.stdout
    if not ok:
        assert proc.stdout.startswith(f"::error title=action.yml names another image::action.yml runs '{image}'")
        assert "gen_action_yml.py --image docker://ghcr.io/acme/ml-artifactory-action:main" in proc.stdout
