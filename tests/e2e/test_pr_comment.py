"""On pull_request events the report is a PR comment, edited in place; promotion records a deployment."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from artifactory_sandbox.testing import SandboxHandle
from tests.e2e.conftest import FAKE_GITHUB_TOKEN, ROOT, ActionHarness
from tests.fakes.github_api import FakeGitHub, run_fake_github
from tests.fakes.sandbox_client import SandboxClient

MARKER = "<!-- ml-artifactory-action:report -->"
README = (ROOT / "README.md").read_text(encoding="utf-8")
PR = {"action": "synchronize", "number": 31, "pull_request": {"number": 31, "head": {"sha": "a" * 40}}}
PR_ENV = {
    "GITHUB_EVENT_NAME": "pull_request",
    "GITHUB_REF": "refs/pull/31/merge",
    "GITHUB_REF_NAME": "31/merge",
    "GITHUB_HEAD_REF": "feature/better-model",
}


def readme_titles(section: str) -> set[str]:
    """The annotation titles README lists under `## <section>` (### headings, ' / ' between titles)."""
    text = README.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return {
        title.strip() for heading in re.findall(r"^### (.+)$", text, re.MULTILINE) for title in heading.split(" / ")
    }


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with run_fake_github(FAKE_GITHUB_TOKEN) as fake:
        yield fake


def test_the_report_comment_is_created_then_updated_and_the_promotion_is_a_deployment(
    action: ActionHarness, sandbox: SandboxHandle, github: FakeGitHub
) -> None:
    github.add_comment("acme/fraud-model", 31, "Nice work!", login="reviewer")
    env = PR_ENV | {"GITHUB_API_URL": github.url}
    (action.workspace / "metrics.json").write_text(json.dumps({"accuracy": 0.82}))
    gate = {"stages": "gate", "metrics-file": "metrics.json", "thresholds": "accuracy >= 0.9"}

    failed = action.run(gate, env=env, event=PR)

    assert failed.returncode == 1
    [ours] = [c for c in github.issue_comments(31) if MARKER in c["body"]]
    assert "### :x: Quality gate failed" in ours["body"]

    (action.workspace / "metrics.json").write_text(json.dumps({"accuracy": 0.93}))
    SandboxClient(sandbox).deploy(
        "ml-models-staging-local",
        "fraud-model/7/model.json",
        b"{}",
        **{"build.name": "fraud-model", "build.number": "7"},
    )
    passed = action.run(gate | {"stages": "gate,build-publish,promote"}, env=env, event=PR)

    assert passed.returncode == 0, passed.log
    comments = github.issue_comments(31)
    assert [c["user"]["login"] for c in comments] == ["reviewer", "github-actions[bot]"]
    body = comments[1]["body"]
    assert comments[1]["id"] == ours["id"]
    assert body.startswith(MARKER)
    assert "### :white_check_mark: Quality gate passed" in body
    assert "promoted to `ml-models-prod-local` as **Production**" in body
    assert FAKE_GITHUB_TOKEN not in body
    assert f"Report posted on pull request #31: {ours['html_url']}" in passed.stdout

    [deployment] = github.deployments.values()
    assert deployment["environment"] == "production"
    assert passed.outputs["deployment-id"] == str(deployment["id"])
    [status] = github.statuses[deployment["id"]]
    assert status["state"] == "success"
    assert status["environment_url"] == passed.outputs["build-url"]
    info = SandboxClient(sandbox).build("fraud-model", "7")
    assert info is not None
    assert info["vcs"][0]["branch"] == "feature/better-model"


def test_a_token_without_permissions_warns_and_the_run_still_passes(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    SandboxClient(sandbox).deploy(
        "ml-models-staging-local",
        "fraud-model/7/model.json",
        b"{}",
        **{"build.name": "fraud-model", "build.number": "7"},
    )
    with run_fake_github(FAKE_GITHUB_TOKEN, deny={"comments", "deployments"}) as github:
        result = action.run({"stages": "build-publish,promote"}, env=PR_ENV | {"GITHUB_API_URL": github.url}, event=PR)

    assert result.returncode == 0, result.log
    warnings = [(title, message) for level, title, message in result.annotations if level == "warning"]
    assert [title for title, _ in warnings] == [
        "GitHub deployment not recorded",
        "Report not posted on the pull request",
    ]
    assert {title for title, _ in warnings} == readme_titles("Warnings that do not fail the run")
    assert not {title for title, _ in warnings} & readme_titles("Troubleshooting")  # the failures, exit 1
    assert all("(403): Resource not accessible by integration" in message for _, message in warnings)
    assert result.outputs["promoted"] == "true"
    assert result.outputs["deployment-id"] == ""
