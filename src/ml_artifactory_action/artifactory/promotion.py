"""Build promotion (`POST api/build/promote/{name}/{number}`) and the production history.

"In production" is read from the builds' status history, which every promotion appends to: the
build whose latest entry with the promotion status (e.g. `Production`) into the target repository
is the newest one is the build in production; the one before it is what a rollback restores.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from ml_artifactory_action.artifactory.builds import BuildStatus, get_build, jfrog_time, project_params, statuses_of
from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.http_errors import server_message
from ml_artifactory_action.artifactory.models import find_items
from ml_artifactory_action.artifactory.properties import Properties
from ml_artifactory_action.errors import ConfigError, PromotionError

PROMOTE_API = "api/build/promote"
PROMOTION_CONTENT_TYPE = "application/vnd.org.jfrog.artifactory.build.PromotionRequest+json"
# Statuses whose body explains what the server refused (the others map to the usual errors).
REFUSAL_STATUSES = (400, 404, 409)
# A 404 naming a repository ("Cannot find target repository by the key 'x'") is not a missing build.
MISSING_REPOSITORY = "repository"


@dataclass(frozen=True)
class PromotionRequest:
    status: str
    comment: str
    source_repo: str
    target_repo: str
    copy: bool
    properties: Properties
    ci_user: str
    timestamp: dt.datetime

    def body(self, *, dry_run: bool) -> dict[str, Any]:
        return {
            "status": self.status,
            "comment": self.comment,
            "ciUser": self.ci_user,
            "timestamp": jfrog_time(self.timestamp),
            "dryRun": dry_run,
            "sourceRepo": self.source_repo,
            "targetRepo": self.target_repo,
            "copy": self.copy,
            "artifacts": True,
            "dependencies": False,
            "failFast": True,
            "properties": {key: list(values) for key, values in self.properties},
        }


def promote_build(
    client: ArtifactoryClient, name: str, number: str, request: PromotionRequest, project: str, *, dry_run: bool
) -> list[str]:
    """Promote (or dry-run) one build; return the server's messages; PromotionError on refusal."""
    what = "Dry-running the promotion of" if dry_run else "Promoting"
    response = client.request(
        "POST",
        f"{PROMOTE_API}/{quote(name, safe='')}/{quote(number, safe='')}",
        json=request.body(dry_run=dry_run),
        params=project_params(project),
        headers={"Content-Type": PROMOTION_CONTENT_TYPE},
        expect=REFUSAL_STATUSES,
        action=f"{what} build {name} #{number}",
    )
    messages = promotion_messages(response)
    errors = [text for level, text in messages if level == "error"]
    if response.status_code in REFUSAL_STATUSES or errors:
        raise _refusal(response, name, number, request, errors or [server_message(response)], dry_run=dry_run)
    return [text for _, text in messages]


def promotion_messages(response: httpx.Response) -> list[tuple[str, str]]:
    """(level, message) pairs of a promotion answer's `messages` list."""
    try:
        body = response.json()
    except ValueError:
        return []
    raw = body.get("messages", []) if isinstance(body, dict) else []
    return [(str(m.get("level", "")).lower(), str(m.get("message", ""))) for m in raw if isinstance(m, dict)]


def _refusal(
    response: httpx.Response, name: str, number: str, request: PromotionRequest, errors: list[str], *, dry_run: bool
) -> PromotionError:
    phase = "The dry run of the promotion" if dry_run else "The promotion"
    detail = "; ".join(errors)
    if response.status_code == 404 and MISSING_REPOSITORY in detail.lower():
        return PromotionError(
            f"Build {name} #{number} cannot be promoted from {request.source_repo} to {request.target_repo}: {detail}",
            fix="Check source-repo and target-repo: both must be repositories of this server (create the target repository, or fix the key). Nothing was changed.",
        )
    if response.status_code == 404:
        return PromotionError(
            f"Build {name} #{number} cannot be promoted: {detail}",
            fix="Publish the build first (stage build-publish) with the same build-name and build-number, or give the number of a published build.",
        )
    return PromotionError(
        f"{phase} of build {name} #{number} from {request.source_repo} to {request.target_repo} was refused "
        f"({response.status_code}): {detail}",
        fix="Check that the build's files are in source-repo, that target-repo exists, and that the token may deploy to it. Nothing was changed.",
    )


def deployment_repo(client: ArtifactoryClient, key: str, input_name: str = "target-repo") -> str:
    """The local repository that promotions into `key` fill: `key` itself, or, for a virtual
    repository, its default deployment repository.

    Artifactory promotes into a virtual target's default deployment repository and records that
    local key in the build's `statuses`, so the production history and the promoted files are
    looked up there. A key the server does not know is returned as is (preflight reports it).
    """
    response = client.request(
        "GET", f"api/repositories/{quote(key, safe='')}", action=f"looking up repository {key}", expect=(400, 404)
    )
    config = response.json() if response.status_code == 200 else {}
    if not isinstance(config, dict) or str(config.get("rclass", "")).lower() != "virtual":
        return key
    default = str(config.get("defaultDeploymentRepo") or "")
    if not default:
        raise ConfigError(
            input_name,
            f"{key!r} is a virtual repository without a default deployment repository, so nothing can be promoted into it",
            fix="Set a default deployment repository on the virtual repository, or set the input to a local repository.",
        )
    return default


def production_history(
    client: ArtifactoryClient, name: str, project: str, status: str, target_repo: str
) -> list[BuildStatus]:
    """Every promotion of a build named `name` with `status` into `target_repo`, oldest first.

    Candidates are the build numbers whose files are in the target repository (a promotion copies
    them there with their `build.*` properties); their status histories give the order.
    """
    history: list[BuildStatus] = []
    for number in promoted_build_numbers(client, name, target_repo):
        info = get_build(client, name, number, project)
        if info is None:
            continue
        history += [entry for entry in statuses_of(info) if _counts(entry, status, target_repo)]
    return sorted(history, key=lambda entry: entry.timestamp)


def promoted_build_numbers(client: ArtifactoryClient, name: str, target_repo: str) -> list[str]:
    items = find_items(
        client, {"repo": target_repo, "@build.name": name}, action=f"Finding the builds of {name} in {target_repo}"
    )
    return sorted({item.prop("build.number") for item in items if item.prop("build.number")})


def _counts(entry: BuildStatus, status: str, target_repo: str) -> bool:
    return entry.status.lower() == status.lower() and entry.repository in ("", target_repo)


def current_production(history: list[BuildStatus]) -> BuildStatus | None:
    return history[-1] if history else None


def previous_production(history: list[BuildStatus]) -> BuildStatus | None:
    """The latest entry of a build other than the one in production now."""
    current = current_production(history)
    if current is None:
        return None
    return next((e for e in reversed(history) if e.build_number != current.build_number), None)
