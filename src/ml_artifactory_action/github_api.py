"""GitHub's API through PyGithub: the PR comment (updated in place) and deployments.

The only module that imports PyGithub (~180 ms of start-up), and it is imported only when a run
needs GitHub. `GITHUB_API_URL` is honoured, so GitHub Enterprise Server works.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from github import Auth, BadAttributeException, Github, GithubException, GithubRetry

from ml_artifactory_action.errors import GitHubAPIError
from ml_artifactory_action.settings import Settings

TIMEOUT_SECONDS = 15
RETRIES = 2
# PyGithub waits 1 s between writes by default (GitHub's advice against secondary rate limits,
# which are about bursts of many writes); a run writes at most three times.
SECONDS_BETWEEN_WRITES = 0.2
SECONDS_BETWEEN_REQUESTS = 0.0
PERMISSION_FIX = (
    "Give the job the permission it needs (`permissions: pull-requests: write` for the comment, "
    "`deployments: write` for deployments) or pass a github-token that has it."
)


@dataclass(frozen=True)
class Deployment:
    id: int
    created: bool  # False when an existing deployment of the same build was found


class GitHubAPI:
    def __init__(self, token: str, api_url: str, repository: str) -> None:
        self._github = Github(
            auth=Auth.Token(token),
            base_url=api_url.rstrip("/"),
            timeout=TIMEOUT_SECONDS,
            retry=GithubRetry(total=RETRIES),
            seconds_between_requests=SECONDS_BETWEEN_REQUESTS,
            seconds_between_writes=SECONDS_BETWEEN_WRITES,
            lazy=True,
        )
        self._repo = self._github.get_repo(repository)  # lazy (set on Github): no request yet
        self.repository = repository

    @classmethod
    def from_settings(cls, settings: Settings) -> GitHubAPI | None:
        """None when the run has no token or no repository to talk about."""
        if settings.github_token is None or not settings.github.repository:
            return None
        return cls(settings.github_token.get_secret_value(), settings.github.api_url, settings.github.repository)

    def upsert_comment(self, pr_number: int, body: str, marker: str) -> str:
        """Edit our previous comment (found by `marker`) or create one; return its URL."""
        with _api_errors(f"commenting on pull request #{pr_number} of {self.repository}"):
            issue = self._repo.get_issue(pr_number)
            previous = [c for c in issue.get_comments() if marker in (c.body or "")]
            if previous:
                comment = previous[-1]
                comment.edit(body)
            else:
                comment = issue.create_comment(body)
            return str(comment.html_url or comment.url)

    def record_deployment(
        self,
        *,
        ref: str,
        environment: str,
        description: str,
        payload: dict[str, Any],
        environment_url: str,
        log_url: str,
        reuse: bool = False,
    ) -> Deployment:
        """A deployment of `ref` to `environment` with a success status.

        With `reuse` (nothing changed, e.g. a re-run) the newest deployment with the same payload is
        returned instead, if there is one; a real change (a new promotion, a rollback) always records
        a new deployment, so GitHub shows it as the active one.
        """
        with _api_errors(f"recording a deployment to {environment} in {self.repository}"):
            existing = self._find_deployment(ref, environment, payload) if reuse else None
            if existing is not None:
                return Deployment(existing, created=False)
            deployment = self._repo.create_deployment(
                ref=ref,
                environment=environment,
                description=description,
                payload=payload,
                auto_merge=False,
                required_contexts=[],
                transient_environment=False,
            )
            status: dict[str, Any] = {"description": description, "auto_inactive": True}
            if environment_url:
                status["environment_url"] = environment_url
            if log_url:
                status["target_url"] = log_url
            deployment.create_status("success", **status)
            return Deployment(int(deployment.id), created=True)

    def _find_deployment(self, ref: str, environment: str, payload: dict[str, Any]) -> int | None:
        for deployment in self._repo.get_deployments(sha=ref, environment=environment):
            recorded = deployment.payload if isinstance(deployment.payload, dict) else {}
            if all(recorded.get(key) == value for key, value in payload.items()):
                return int(deployment.id)
        return None


@contextmanager
def _api_errors(doing: str) -> Iterator[None]:
    """PyGithub's and requests' failures as our GitHubAPIError, with the status and a fix."""
    try:
        yield
    except GithubException as exc:
        message = exc.message or (exc.data.get("message") if isinstance(exc.data, dict) else None) or str(exc.data)
        fix = PERMISSION_FIX if exc.status in (401, 403, 404) else "Retry the run; GitHub's API may be unavailable."
        raise GitHubAPIError(f"GitHub refused {doing} ({exc.status}): {message}", fix=fix) from None
    except BadAttributeException as exc:  # an answer PyGithub cannot read (a proxy's page, an old GHES)
        raise GitHubAPIError(
            f"GitHub's answer while {doing} could not be read: {exc.actual_value!r}", fix="Check GITHUB_API_URL."
        ) from None
    except OSError as exc:  # requests' errors (connection, timeout) derive from OSError
        raise GitHubAPIError(f"GitHub could not be reached while {doing}: {exc}", fix="Check GITHUB_API_URL.") from None
