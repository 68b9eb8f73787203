from __future__ import annotations

from collections.abc import Iterator

import pytest

from ml_artifactory_action.errors import GitHubAPIError
from ml_artifactory_action.github_api import GitHubAPI
from tests.fakes.github_api import FakeGitHub, run_fake_github

TOKEN = "ghs_unitTestToken0123456789"
REPO = "acme/fraud-model"
MARKER = "<!-- ml-artifactory-action:report -->"


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with run_fake_github(TOKEN) as fake:
        yield fake


def api(fake: FakeGitHub, token: str = TOKEN) -> GitHubAPI:
    return GitHubAPI(token, fake.url, REPO)


def test_the_comment_is_created_once_then_edited_in_place(github: FakeGitHub) -> None:
    github.add_comment(REPO, 12, "LGTM")

    first = api(github).upsert_comment(12, f"{MARKER}\nreport 1", MARKER)
    second = api(github).upsert_comment(12, f"{MARKER}\nreport 2", MARKER)

    ours = [c for c in github.issue_comments(12) if MARKER in c["body"]]
    assert [c["body"] for c in ours] == [f"{MARKER}\nreport 2"]
    assert first == second == ours[0]["html_url"]
    assert next(c["body"] for c in github.issue_comments(12)) == "LGTM"
    assert ("PATCH", f"/api/v3/repos/{REPO}/issues/comments/{ours[0]['id']}") in github.requests


def test_a_deployment_gets_a_success_status_is_reused_when_asked_and_recorded_anew_otherwise(
    github: FakeGitHub,
) -> None:
    kwargs = {
        "ref": "3f786850e387550fdab836ed7e6dc881de23001b",
        "environment": "production",
        "description": "fraud #7 in prod",
        "payload": {"build_name": "fraud", "build_number": "7"},
        "environment_url": "https://acme.jfrog.io/ui/builds/fraud/7",
        "log_url": "https://github.com/acme/fraud-model/actions/runs/1",
    }

    created = api(github).record_deployment(**kwargs)  # type: ignore[arg-type]
    again = api(github).record_deployment(**kwargs, reuse=True)  # type: ignore[arg-type]
    rollback = api(github).record_deployment(**kwargs)  # type: ignore[arg-type]

    assert created.created
    assert not again.created
    assert created.id == again.id
    assert rollback.created
    assert rollback.id != created.id
    deployment = github.deployments[created.id]
    assert deployment["request"] | {} == {
        "ref": kwargs["ref"],
        "environment": "production",
        "description": "fraud #7 in prod",
        "payload": {"build_name": "fraud", "build_number": "7"},
        "auto_merge": False,
        "required_contexts": [],
        "transient_environment": False,
    }
    [status] = github.statuses[created.id]
    assert status["state"] == "success"
    assert status["environment_url"] == "https://acme.jfrog.io/ui/builds/fraud/7"
    assert status["target_url"] == "https://github.com/acme/fraud-model/actions/runs/1"
    assert status["auto_inactive"] is True


def test_a_token_without_permission_is_a_github_api_error_with_the_fix() -> None:
    with run_fake_github(TOKEN, deny={"deployments"}) as github, pytest.raises(GitHubAPIError) as caught:
        api(github).record_deployment(
            ref="abc", environment="production", description="d", payload={}, environment_url="", log_url=""
        )
    assert caught.value.message == (
        "GitHub refused recording a deployment to production in acme/fraud-model (403): Resource not accessible by integration"
    )
    assert "deployments: write" in caught.value.fix


def test_a_bad_token_is_refused(github: FakeGitHub) -> None:
    with pytest.raises(GitHubAPIError, match=r"\(401\): Bad credentials"):
        api(github, token="wrong").upsert_comment(1, "x", MARKER)


def test_an_unreachable_api_is_a_github_api_error() -> None:
    with run_fake_github(TOKEN) as github:
        url = github.url
    with pytest.raises(GitHubAPIError, match=r"GitHub could not be reached while commenting"):
        GitHubAPI(TOKEN, url, REPO).upsert_comment(1, "x", MARKER)


def test_an_answer_pygithub_cannot_read_is_a_github_api_error(github: FakeGitHub) -> None:
    github.add_comment(REPO, 5, "x")["body"] = 123

    with pytest.raises(
        GitHubAPIError,
        match=r"GitHub's answer while commenting on pull request #5 of acme/fraud-model could not be read: 123",
    ):
        api(github).upsert_comment(5, "report", MARKER)
