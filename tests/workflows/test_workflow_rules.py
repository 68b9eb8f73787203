"""Rules every workflow and template keeps, checked statically on all of them at once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.workflows.declarations import check_permissions, load
from tests.workflows.expressions import ExpressionError, condition
from tests.workflows.simulator import LOCAL_ACTION, OUR_ACTION, OUR_WORKFLOW, ROOT

REUSABLE = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
TEMPLATES = sorted((ROOT / "workflows").glob("*.yml"))
ALL = REUSABLE + TEMPLATES
ACTION_INPUTS = set(load(ROOT / "action.yml")["inputs"])
PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+(?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)(?:\s+#\s*(?P<comment>\S+))?\s*$")
PLACEHOLDER = re.compile(r"^your-org/ml-artifactory-action(/\.github/workflows/[\w.-]+\.yml)?@main$")
PROMOTION_GROUP = "ml-promote-${{ github.repository }}-"
ROLLBACK_GROUP = "ml-rollback-${{ github.repository }}-"


def ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in paths]


def steps_of(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in spec["jobs"].items() for step in job.get("steps", [])]


def uses_lines(path: Path) -> list[re.Match[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [m for line in lines if (m := PINNED.match(line)) and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_third_party_actions_are_pinned_by_full_commit_hash_with_the_version_in_a_comment(path: Path) -> None:
    for use in uses_lines(path):
        reference = f"{use['action']}@{use['ref']}"
        if OUR_ACTION.match(reference) or OUR_WORKFLOW.match(reference):
            assert PLACEHOLDER.match(reference), f"{reference}: the release stamps only your-org/...@main"
            continue
        assert re.fullmatch(r"[0-9a-f]{40}", use["ref"]), f"{reference} is not pinned by commit hash"
        assert re.fullmatch(r"v\d+\.\d+\.\d+", use["comment"] or ""), f"{reference}: no # vX.Y.Z"


def test_each_third_party_action_is_pinned_to_one_commit_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for path in ALL:
        for use in uses_lines(path):
            if not use["action"].startswith("your-org/"):
                pins.setdefault(use["action"], set()).add(f"{use['ref']} {use['comment']}")
    assert pins
    assert {action: refs for action, refs in pins.items() if len(refs) > 1} == {}


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_permissions_start_from_nothing_and_each_job_asks_for_its_own(path: Path) -> None:
    spec = load(path)

    assert spec.get("permissions") == {}
    for name, job in spec["jobs"].items():
        assert "permissions" in job, f"job {name} inherits permissions instead of declaring them"
        assert set(job["permissions"].values()) <= {"read", "write"}


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_no_expression_is_expanded_inside_a_run_script(path: Path) -> None:
    for job, step in steps_of(load(path)):
        assert "${{" not in str(step.get("run", "")), f"{job}: pass the value through env: instead"


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_checkouts_do_not_leave_the_token_in_the_workspace(path: Path) -> None:
    for job, step in steps_of(load(path)):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert (step.get("with") or {}).get("persist-credentials") is False, job


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_every_input_given_to_our_action_is_an_input_of_action_yml(path: Path) -> None:
    ours = [(job, s) for job, s in steps_of(load(path)) if OUR_ACTION.match(str(s.get("uses", "")))]
    steps = ours + [(job, s) for job, s in steps_of(load(path)) if LOCAL_ACTION.match(str(s.get("uses", "")))]
    for job, step in steps:
        assert set(step.get("with") or {}) <= ACTION_INPUTS, f"{job}: {set(step['with']) - ACTION_INPUTS}"
        assert "stages" in step["with"], f"{job}: say which stages run"


@pytest.mark.parametrize("path", TEMPLATES, ids=ids(TEMPLATES))
def test_templates_call_our_reusable_workflows_with_declared_inputs_secrets_and_enough_permissions(
    path: Path,
) -> None:
    spec = load(path)
    for name, job in spec["jobs"].items():
        match = OUR_WORKFLOW.match(job.get("uses", ""))
        if not match:
            continue
        called = load(ROOT / ".github" / "workflows" / match["file"])
        trigger = called["on"]["workflow_call"]
        declared = trigger.get("inputs") or {}
        assert set(job.get("with") or {}) <= set(declared), name
        required = {n for n, meta in declared.items() if meta.get("required") and "default" not in meta}
        assert required <= set(job.get("with") or {}), name
        assert set(job.get("secrets") or {}) <= set(trigger.get("secrets") or {}), name
        check_permissions(match["file"], called, job["permissions"])


PR_EVENTS = ("pull_request", "pull_request_target")


@pytest.mark.parametrize("path", ALL, ids=ids(ALL))
def test_code_from_a_pull_request_never_runs_where_an_id_token_or_a_secret_is_available(path: Path) -> None:
    spec = load(path)
    if not any(event in (spec["on"] or {}) for event in PR_EVENTS):
        return
    on_a_pull_request = {"github": {"event_name": "pull_request", "ref": "refs/pull/1/merge"}, "inputs": {}}
    for name, job in spec["jobs"].items():
        if not _may_run(job.get("if"), on_a_pull_request):
            continue
        runs_code = any("run" in step for step in job.get("steps", []))
        checks_out = any(str(s.get("uses", "")).startswith("actions/checkout@") for s in job.get("steps", []))
        if runs_code or checks_out:
            assert (job.get("permissions") or {}).get("id-token") != "write", f"{name}: runs PR code with an ID token"
            assert "secrets." not in str(job), f"{name}: runs PR code with secrets"


def _may_run(if_: Any, contexts: dict[str, Any]) -> bool:
    try:
        return condition(if_, contexts)
    except ExpressionError:  # it reads contexts a pull request run would fill: it may run
        return True


@pytest.mark.parametrize("path", TEMPLATES, ids=ids(TEMPLATES))
def test_templates_give_one_way_to_log_in(path: Path) -> None:
    """A template passing oidc-provider-name and a JF_ACCESS_TOKEN secret would warn wherever the secret exists."""
    spec = load(path)
    for name, job in spec["jobs"].items():
        given = [job.get("with") or {}] + [s.get("with") or {} for s in job.get("steps", [])]
        for with_ in given:
            if with_.get("oidc-provider-name"):
                assert "access-token" not in with_, name
                assert "JF_ACCESS_TOKEN" not in (job.get("secrets") or {}), name


@pytest.mark.parametrize("path", TEMPLATES, ids=ids(TEMPLATES))
def test_templates_open_with_a_comment_saying_what_to_set(path: Path) -> None:
    head = path.read_text(encoding="utf-8").split("\nname:")[0]

    assert head.startswith("# Template: ")
    assert "Copy it to .github/workflows/" in head
    assert "then set:" in head
    assert "your-org/ml-artifactory-action@main" in head


def promotion_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in REUSABLE:
        for name, job in load(path)["jobs"].items():
            if any(
                "stages" in (s.get("with") or {}) and "promote" in s["with"]["stages"] for s in job.get("steps", [])
            ):
                found.append((path.name, name, job))
    return found


def test_promotions_share_one_concurrency_group_per_build_name_and_rollbacks_have_their_own() -> None:
    jobs = {(file, name): job for file, name, job in promotion_jobs() if "environment" in job}

    assert set(jobs) == {("ml-pipeline.yml", "promote"), ("promote.yml", "promote"), ("rollback.yml", "rollback")}
    for key, job in jobs.items():
        group = ROLLBACK_GROUP if key == ("rollback.yml", "rollback") else PROMOTION_GROUP
        assert job["concurrency"]["group"].startswith(group), key
        assert job["concurrency"]["cancel-in-progress"] is False, key


@pytest.mark.parametrize("path", REUSABLE, ids=ids(REUSABLE))
def test_reusable_workflows_run_the_action_of_their_own_commit(path: Path) -> None:
    """Never `owner/repo@main`: ml-pipeline.yml@v1.2.3 must run action.yml of v1.2.3, with no rewrite at release."""
    for name, job in load(path)["jobs"].items():
        steps = job.get("steps", [])
        ours = [i for i, s in enumerate(steps) if LOCAL_ACTION.match(str(s.get("uses", "")))]
        assert not [s for s in steps if OUR_ACTION.match(str(s.get("uses", "")))], name
        if not ours:
            continue
        checkouts = [i for i, s in enumerate(steps) if (s.get("with") or {}).get("path") == ".ml-artifactory-action"]
        assert len(checkouts) == 1, name
        assert checkouts[0] < ours[0], name
        with_ = steps[checkouts[0]]["with"]
        assert (with_["repository"], with_["ref"]) == ("${{ job.workflow_repository }}", "${{ job.workflow_sha }}")
        later = [s for s in steps[checkouts[0] :] if str(s.get("uses", "")).startswith("actions/checkout@")]
        assert len(later) == 1, f"{name}: a later checkout of the repository would delete the action"


def test_the_pipeline_promotes_to_production_only_from_the_default_branch_in_an_environment() -> None:
    promote = load(ROOT / ".github" / "workflows" / "ml-pipeline.yml")["jobs"]["promote"]

    assert promote["needs"] == "publish"
    assert "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)" in promote["if"]
    assert "github.event_name == 'schedule'" in promote["if"], "a schedule's payload has no repository"
    assert promote["environment"]["name"] == "${{ inputs.production-environment }}"
