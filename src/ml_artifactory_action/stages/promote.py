"""promote: move a build to production (or roll production back) and record a GitHub deployment.

A dry-run promotion goes first, so a refusal changes nothing; then the real one. A build that is
already the one in production, with its files in `target-repo`, is left as it is. `rollback: true`
promotes the build that was in production before the current one (from the status history); a
re-run of the same workflow run does not roll back twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from ml_artifactory_action.artifactory.builds import build_ui_url, get_build, jfrog_time, started_millis, statuses_of
from ml_artifactory_action.artifactory.models import build_items
from ml_artifactory_action.artifactory.promotion import PromotionRequest, deployment_repo, promote_build
from ml_artifactory_action.artifactory.properties import Properties, from_mapping
from ml_artifactory_action.artifactory.storage import require_deployable
from ml_artifactory_action.errors import ArtifactoryError, GitHubAPIError, PromotionError
from ml_artifactory_action.settings import Stage
from ml_artifactory_action.stages import signing
from ml_artifactory_action.stages.context import StageContext
from ml_artifactory_action.stages.production import ProductionLine

ROLLBACK_OF = "promoted.rollback-of"
PROMOTED_RUN = "promoted.run"
DEFAULT_USER = "ml-artifactory-action"


@dataclass(frozen=True)
class Target:
    """Which build this run puts in production, and whether that is already done."""

    number: str
    rollback_of: str = ""
    done: bool = False


@dataclass(frozen=True)
class PromoteResult:
    build_name: str
    build_number: str  # the build now in target-repo (the older one on rollback)
    target_repo: str
    status: str
    changed: bool  # False when it already was promoted, and in a dry run
    dry_run: bool = False
    rollback_of: str = ""
    messages: tuple[str, ...] = ()
    build_url: str = ""
    deployment_id: int | None = None
    signed_by: str = ""  # verify-signature: who signed the files promoted

    @property
    def promoted(self) -> bool:
        return not self.dry_run


def preflight(ctx: StageContext) -> None:
    """Before any stage runs: target-repo must exist (else upload and publish would run for nothing)."""
    require_deployable(ctx.client, ctx.settings.target_repo, "target-repo")
    deployment_repo(ctx.client, ctx.settings.target_repo)  # a virtual one needs a default deployment repository


def run(ctx: StageContext) -> PromoteResult:
    settings = ctx.settings
    name = settings.effective_build_name
    target = rollback_target(ctx) if settings.rollback else promotion_target(ctx)
    info = get_build(ctx.client, name, target.number, settings.project)
    url = build_ui_url(settings.url, name, target.number, started_millis(info) if info else None, settings.project)
    result = PromoteResult(
        build_name=name,
        build_number=target.number,
        target_repo=settings.target_repo,
        status=settings.status,
        changed=False,
        dry_run=settings.dry_run,
        rollback_of=target.rollback_of,
        build_url=url,
    )
    if target.done:
        ctx.runner.info(
            f"Build {name} #{target.number} is already in {settings.target_repo} as {settings.status}; nothing to do."
        )
    elif _unpublished_in_this_run(ctx) and settings.dry_run:
        ctx.runner.info(
            f"Dry run: would promote build {name} #{target.number} to {settings.target_repo} once published."
        )
    else:
        if settings.verify_signature:
            repo = (
                deployment_repo(ctx.client, settings.target_repo)
                if target.rollback_of
                else settings.effective_source_repo
            )
            result = dataclasses.replace(
                result, signed_by=signing.check_before_promotion(ctx, repo, (name, target.number))
            )
        result = _promote(ctx, result)
    if not settings.dry_run:
        result = _with_deployment(ctx, result, info)
    _set_outputs(ctx, result)
    return result


def promotion_target(ctx: StageContext) -> Target:
    settings = ctx.settings
    line, number = ProductionLine.of(ctx), settings.effective_build_number
    current = line.current
    if current is None or current.build_number != number:
        return Target(number)
    source = {i.repo_path for i in build_items(ctx.client, settings.effective_source_repo, line.build_name, number)}
    target = {i.repo_path for i in line.items(number)}
    return Target(number, done=bool(target) and source <= target)


def rollback_target(ctx: StageContext) -> Target:
    settings = ctx.settings
    line = ProductionLine.of(ctx)
    name, current = line.build_name, line.current
    if current is None:
        raise PromotionError(
            f"Nothing to roll back: no build of {name} has been promoted to {settings.target_repo} with status {settings.status}.",
            fix="Check build-name, target-repo and status; they must match the promotions made before.",
        )
    run_url = settings.github.run_url
    ours = [
        i
        for i in line.items(current.build_number)
        if run_url and run_url in i.properties.get(PROMOTED_RUN, ()) and i.prop(ROLLBACK_OF)
    ]
    if ours:  # this workflow run already rolled back (a re-run of the job): do not roll back twice
        return Target(current.build_number, rollback_of=ours[0].prop(ROLLBACK_OF), done=True)
    previous = line.previous
    if previous is None:
        raise PromotionError(
            f"Nothing to roll back to: build {name} #{current.build_number} is the only one that has been in production ({settings.target_repo}).",
            fix="Promote a build explicitly instead (rollback: false with build-number).",
        )
    ctx.runner.info(f"Rolling back {name} from #{current.build_number} to #{previous.build_number}.")
    return Target(previous.build_number, rollback_of=current.build_number)


def _unpublished_in_this_run(ctx: StageContext) -> bool:
    published = ctx.state.get(Stage.BUILD_PUBLISH)
    return published is not None and not (published.published or published.already_published)


def promotion_request(ctx: StageContext, rollback_of: str) -> PromotionRequest:
    settings = ctx.settings
    now = dt.datetime.now(dt.UTC)
    user = settings.github.actor or DEFAULT_USER
    comment = settings.comment or (f"Rollback from #{rollback_of}" if rollback_of else f"Promoted by {user}")
    return PromotionRequest(
        status=settings.status,
        comment=comment,
        source_repo=settings.effective_source_repo,
        target_repo=settings.target_repo,
        copy=settings.copy_artifacts,
        properties=promotion_properties(ctx, now, user, rollback_of),
        ci_user=user,
        timestamp=now,
    )


def promotion_properties(ctx: StageContext, now: dt.datetime, user: str, rollback_of: str) -> Properties:
    """`env=<status, lower case>`, who promoted, when, from which run (and what a rollback replaced)."""
    settings = ctx.settings
    values = {
        "env": settings.status.lower(),
        "promoted.by": user,
        "promoted.at": now.isoformat(timespec="seconds"),
        PROMOTED_RUN: settings.github.run_url,
        ROLLBACK_OF: rollback_of,
    }
    return from_mapping(values)


def _promote(ctx: StageContext, result: PromoteResult) -> PromoteResult:
    settings = ctx.settings
    name, number = result.build_name, result.build_number
    request = promotion_request(ctx, result.rollback_of)
    where = f"from {request.source_repo} to {request.target_repo} as {request.status}"
    try:
        messages = promote_build(ctx.client, name, number, request, settings.project, dry_run=True)
        if settings.dry_run:
            ctx.runner.info(f"Dry run: Artifactory accepts promoting build {name} #{number} {where}; nothing changed.")
            return dataclasses.replace(result, messages=tuple(messages))
        messages = promote_build(ctx.client, name, number, request, settings.project, dry_run=False)
    except (PromotionError, ArtifactoryError):
        # A promotion is not idempotent: when the server did it but its answer was lost, the retry
        # of a move finds no files left to move; when two runs promote one build at once, the
        # second finds the files moved by the first. Either way the build is where it should be.
        if settings.dry_run:
            raise
        done_by_us = recorded(ctx, name, number, request)
        if not (done_by_us or promoted_meanwhile(ctx)):
            raise
        ctx.runner.info(
            f"The answer to the promotion of build {name} #{number} was lost; its status history shows it was done."
            if done_by_us
            else f"Build {name} #{number} was promoted to {request.target_repo} by another run meanwhile."
        )
        return dataclasses.replace(result, changed=done_by_us)
    ctx.runner.info(f"Promoted build {name} #{number} {where}.")
    return dataclasses.replace(result, changed=True, messages=tuple(messages))


def promoted_meanwhile(ctx: StageContext) -> bool:
    """Whether the build is now the one in production with its files in target-repo (not rollbacks)."""
    try:
        return not ctx.settings.rollback and promotion_target(ctx).done
    except ArtifactoryError:
        return False


def recorded(ctx: StageContext, name: str, number: str, request: PromotionRequest) -> bool:
    """Whether this very promotion (its status at its timestamp) is in the build's status history."""
    try:
        info = get_build(ctx.client, name, number, ctx.settings.project)
    except ArtifactoryError:
        return False
    sent = jfrog_time(request.timestamp)
    return info is not None and any(
        jfrog_time(entry.timestamp) == sent
        and entry.status == request.status
        and entry.repository in ("", request.target_repo)
        for entry in statuses_of(info)
    )


def _with_deployment(ctx: StageContext, result: PromoteResult, info: dict[str, object] | None) -> PromoteResult:
    """Record (or find) the GitHub deployment; a token without the permission only warns."""
    settings = ctx.settings
    if not settings.create_deployment:
        ctx.runner.debug("create-deployment is false: the job's environment records the GitHub deployment.")
        return result
    from ml_artifactory_action.github_api import GitHubAPI  # noqa: PLC0415  PyGithub costs ~180 ms to import

    api = GitHubAPI.from_settings(settings)
    ref = _revision(info) or settings.github.sha
    if api is None or not ref:
        ctx.runner.debug("No github-token or commit: no GitHub deployment recorded.")
        return result
    payload = {"build_name": result.build_name, "build_number": result.build_number, "target_repo": result.target_repo}
    try:
        deployment = api.record_deployment(
            ref=ref,
            environment=settings.deployment_environment,
            description=f"{result.build_name} #{result.build_number} in {result.target_repo}",
            payload=payload,
            environment_url=result.build_url,
            log_url=settings.github.run_url,
            reuse=not result.changed,
        )
    except GitHubAPIError as exc:
        ctx.runner.warning("GitHub deployment not recorded", f"{exc.message} {exc.fix}")
        return result
    verb = "Recorded" if deployment.created else "Found"
    ctx.runner.info(f"{verb} GitHub deployment {deployment.id} to {settings.deployment_environment}.")
    return dataclasses.replace(result, deployment_id=deployment.id)


def _revision(info: dict[str, object] | None) -> str:
    vcs = info.get("vcs") if info else None
    if isinstance(vcs, list) and vcs and isinstance(vcs[0], dict):
        return str(vcs[0].get("revision", ""))
    return ""


def _set_outputs(ctx: StageContext, result: PromoteResult) -> None:
    ctx.runner.set_output("promoted", "true" if result.promoted else "false")
    ctx.runner.set_output("promoted-build", result.build_number)
    ctx.runner.set_output("build-url", result.build_url)
    ctx.runner.set_output("deployment-id", str(result.deployment_id) if result.deployment_id is not None else "")
