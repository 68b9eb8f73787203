"""README.md tells the truth: its examples use real inputs, its files exist, its errors are ours."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ml_artifactory_action.settings import Stage
from tests.workflows.declarations import check_permissions, load
from tests.workflows.simulator import OUR_ACTION, OUR_WORKFLOW

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
ACTION_INPUTS = set(load(ROOT / "action.yml")["inputs"])
YAML_BLOCKS = re.findall(r"^( *)```yaml\n(.*?)^\1```", README, re.MULTILINE | re.DOTALL)
UNTITLED = {"ml-artifactory-action failed", "Internal error"}  # the base class, and bugs
# GitHubAPIError is always caught and shown as a warning (README's "Warnings that do not fail the run";
# tests/e2e/test_pr_comment.py runs the entrypoint against a refusing GitHub and checks both agree).
WARNED_NOT_FAILED = {"GitHub API request failed"}


def dedent(indent: str, block: str) -> str:
    return "\n".join(line.removeprefix(indent) for line in block.splitlines())


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def steps_in(document: Any) -> list[dict[str, Any]]:
    """Every mapping with `uses:` in a YAML example, wherever it sits (a step list, a job, a workflow)."""
    if isinstance(document, dict):
        found = [document] if "uses" in document else []
        return found + [s for value in document.values() for s in steps_in(value)]
    if isinstance(document, list):
        return [s for item in document for s in steps_in(item)]
    return []


def test_the_quick_start_is_two_make_targets_that_exist() -> None:
    quick_start = section("Quick start")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")

    assert re.findall(r"^    (make \w+)", quick_start, re.MULTILINE) == ["make demo", "make test"]
    for target in ("demo", "test", "lint", "bench", "action-yml"):
        assert re.search(rf"^{target}:", makefile, re.MULTILINE), target
        assert f"make {target}" in README


def test_every_yaml_example_parses() -> None:
    assert len(YAML_BLOCKS) >= 9
    for indent, block in YAML_BLOCKS:
        yaml.safe_load(dedent(indent, block))


def test_examples_give_our_action_only_inputs_it_has_and_real_stages() -> None:
    steps = [s for i, b in YAML_BLOCKS for s in steps_in(yaml.safe_load(dedent(i, b))) if OUR_ACTION.match(s["uses"])]

    assert len(steps) >= 8
    for step in steps:
        given = step.get("with") or {}
        assert set(given) <= ACTION_INPUTS, set(given) - ACTION_INPUTS
        stages = [s.strip() for s in str(given["stages"]).split(",")]
        assert set(stages) <= {s.value for s in Stage}, stages


def test_the_adoption_example_calls_the_pipeline_with_declared_inputs_and_enough_permissions() -> None:
    calls = [
        (s, m)
        for i, b in YAML_BLOCKS
        for s in steps_in(yaml.safe_load(dedent(i, b)))
        if (m := OUR_WORKFLOW.match(s["uses"]))
    ]

    assert [m["file"] for _, m in calls] == ["ml-pipeline.yml"]
    job, match = calls[0]
    called = load(ROOT / ".github" / "workflows" / match["file"])
    declared = called["on"]["workflow_call"]["inputs"]
    assert set(job["with"]) <= set(declared)
    assert {n for n, meta in declared.items() if meta.get("required")} <= set(job["with"])
    check_permissions(match["file"], called, job["permissions"])


def test_every_stage_has_its_usage_section() -> None:
    usage = section("Usage, stage by stage")

    headings = re.findall(r"^### (\S+)", usage, re.MULTILINE)
    assert sorted(headings) == sorted(s.value for s in Stage)


def test_every_workflow_and_template_is_described_and_every_file_named_exists() -> None:
    for path in [*(ROOT / ".github" / "workflows").glob("*.yml"), *(ROOT / "workflows").glob("*.yml")]:
        assert path.name in README, path.name
    named = set(re.findall(r"`((?:scripts|workflows|requirements|examples|tools)/[\w./-]+)`", README))
    assert named
    for name in named:
        assert (ROOT / name).exists(), name


def error_titles() -> set[str]:
    """Every annotation title the action can produce: the error classes' and those given inline."""
    titles = set()
    for path in (ROOT / "src" / "ml_artifactory_action").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                titles |= {
                    str(item.value.value)
                    for item in node.body
                    if isinstance(item, ast.Assign)
                    and [getattr(t, "id", "") for t in item.targets] == ["title"]
                    and isinstance(item.value, ast.Constant)
                }
            if isinstance(node, ast.keyword) and node.arg == "title" and isinstance(node.value, ast.Constant):
                titles.add(str(node.value.value))
    return titles - UNTITLED - WARNED_NOT_FAILED


@pytest.fixture(scope="module")
def troubleshooting_titles() -> set[str]:
    headings = re.findall(r"^### (.+)$", section("Troubleshooting"), re.MULTILINE)
    return {title.strip() for heading in headings for title in heading.split(" / ")}


def test_troubleshooting_covers_every_error_title(troubleshooting_titles: set[str]) -> None:
    missing = {t for t in error_titles() if t not in troubleshooting_titles and t != "Invalid input"}

    assert missing == set()


def test_troubleshooting_names_no_error_the_action_cannot_give(troubleshooting_titles: set[str]) -> None:
    known = error_titles() | {"Invalid input 'NAME'"}

    assert troubleshooting_titles - known == set()
