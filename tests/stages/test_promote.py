from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fakes.github_api import FakeGitHub, run_fake_github
from tests.fakes.history import AQL, Repos, item_row, serve_builds, status
from tests.fakes.jfrog import FakeJFrog, jfrog_error, jfrog_json, log_of, make_context

from ml_artifactory_action.errors import PromotionError
from ml_artifactory_action.stages import promote

STAGE, PROD = "ml-models-staging-local", "ml-models-prod-local"
PROMOTE = r"/artifactory/api/build/promote/fraud-model/(\d+)"
GH_TOKEN = "ghs_promoteTestToken123456"
RUN_URL = "https://github.com/acme/fraud-model/actions/runs/90001"
COMMIT_7 = "7" * 40


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with run_fake_github(GH_TOKEN) as fake:
        yield fake


def context(tmp_path: Path, fake: FakeJFrog, github: FakeGitHub | None = None, **inputs: str):  # type: ignore[no-untyped-def]
    env = {"GITHUB_API_URL": github.url} if github else {}
    token = {"github-token": GH_TOKEN} if github else {}
    return make_context(tmp_path, {"stages": "promote"} | token | inputs, fake=fake, env=env)


def jfrog(
    rows: list[dict[str, object]], builds: dict[str, dict[str, object]], promote_answer: object = None
) -> FakeJFrog:
    fake = FakeJFrog()
    fake.on("POST", AQL, Repos(rows).answer)
    serve_builds(fake, "fraud-model", builds)
    fake.on("POST", PROMOTE, promote_answer or jfrog_json({"messages": []}))  # type: ignore[arg-type]
    return fake


def test_a_build_is_dry_run_then_promoted_with_properties_and_a_deployment(tmp_path: Path, github: FakeGitHub) -> None:
    rows = [item_row(STAGE, "fraud-model/7/model.pkl", "fraud-model", "7")]
    fake = jfrog(rows, {"7": {"started": "2024-05-01T10:00:00.000+0000", "vcs": [{"revision": COMMIT_7}]}})
    ctx = context(tmp_path, fake, github)

    result = promote.run(ctx)

    dry, real = fake.json_sent("POST", PROMOTE)
    assert (dry["dryRun"], real["dryRun"]) == (True, False)
    assert {k: real[k] for k in ("status", "sourceRepo", "targetRepo", "copy", "ciUser", "comment")} == {
        "status": "Production",
        "sourceRepo": STAGE,
        "targetRepo": PROD,
        "copy": True,
        "ciUser": "octocat",
        "comment": "Promoted by octocat",
    }
    props = real["properties"]
    assert props["env"] == ["production"]
    assert props["promoted.by"] == ["octocat"]
    assert props["promoted.run"] == [RUN_URL]
    assert props["promoted.at"][0].endswith("+00:00")
    assert "promoted.rollback-of" not in props
    assert result.changed
    [deployment] = github.deployments.values()
    assert deployment["sha"] == COMMIT_7
    assert deployment["payload"] == {"build_name": "fraud-model", "build_number": "7", "target_repo": PROD}
    assert github.statuses[deployment["id"]][0]["environment_url"] == result.build_url
    assert ctx.runner.outputs == {
        "promoted": "true",
        "promoted-build": "7",
        "build-url": result.build_url,
        "deployment-id": str(deployment["id"]),
    }
    assert (
        result.build_url
        == "https://acme.jfrog.io/ui/builds/fraud-model/7/1714557600000/published?buildRepo=artifactory-build-info"
    )


def test_in_a_job_with_an_environment_the_action_leaves_the_deployment_to_github(
    tmp_path: Path, github: FakeGitHub
) -> None:
    rows = [item_row(STAGE, "fraud-model/7/model.pkl", "fraud-model", "7")]
    fake = jfrog(rows, {"7": {"vcs": [{"revision": COMMIT_7}]}})
    ctx = context(tmp_path, fake, github, **{"create-deployment": "false"})

    result = promote.run(ctx)

    assert result.changed
    assert github.deployments == {}
    assert ctx.runner.outputs["deployment-id"] == ""
    assert ctx.runner.outputs["build-url"] == result.build_url  # for the environment's `url:`


def test_a_done_promotion_changes_nothing(tmp_path: Path, github: FakeGitHub) -> None:
    rows = [
        item_row(STAGE, "fraud-model/7/model.pkl", "fraud-model", "7"),
        item_row(PROD, "fraud-model/7/model.pkl", "fraud-model", "7"),
    ]
    fake = jfrog(rows, {"7": {"statuses": [status(1)]}})
    ctx = context(tmp_path, fake, github)

    first = promote.run(ctx)
    again = promote.run(context(tmp_path / "again", fake, github))

    assert fake.sent("POST", PROMOTE) == []
    assert not first.changed
    assert again.deployment_id == first.deployment_id
    assert len(github.deployments) == 1
    assert "is already in ml-models-prod-local as Production; nothing to do" in log_of(ctx)


def test_a_refused_dry_run_changes_nothing(tmp_path: Path) -> None:
    refusal = jfrog_error(
        404, "Cannot find builds by the name 'fraud-model' and the number '70' and buildRepo 'artifactory-build-info'."
    )
    fake = jfrog([], {}, promote_answer=refusal)
    ctx = context(tmp_path, fake, **{"build-number": "70"})

    with pytest.raises(PromotionError) as caught:
        promote.run(ctx)

    assert caught.value.message.startswith("Build fraud-model #70 cannot be promoted: Cannot find builds")
    assert len(fake.sent("POST", PROMOTE)) == 1
    assert ctx.runner.outputs == {}


def test_the_dry_run_input_only_asks_the_server(tmp_path: Path, github: FakeGitHub) -> None:
    fake = jfrog([], {"7": {}})
    ctx = context(tmp_path, fake, github, **{"dry-run": "true"})

    result = promote.run(ctx)

    assert [body["dryRun"] for body in fake.json_sent("POST", PROMOTE)] == [True]
    assert github.deployments == {}
    assert ctx.runner.outputs == {
        "promoted": "false",
        "promoted-build": "7",
        "build-url": result.build_url,
        "deployment-id": "",
    }
    assert not result.changed


def test_rollback_promotes_the_previous_production_build(tmp_path: Path) -> None:
    rows = [item_row(PROD, f"fraud-model/{n}/model.pkl", "fraud-model", n) for n in ("5", "6")]
    fake = jfrog(rows, {"5": {"statuses": [status(1)]}, "6": {"statuses": [status(2)]}})
    ctx = context(tmp_path, fake, rollback="true")

    result = promote.run(ctx)

    [_, real] = fake.sent("POST", PROMOTE)
    assert real.url.path.endswith("/fraud-model/5")
    body = fake.json_sent("POST", PROMOTE)[1]
    assert body["properties"]["promoted.rollback-of"] == ["6"]
    assert body["comment"] == "Rollback from #6"
    assert (result.build_number, result.rollback_of) == ("5", "6")
    assert ctx.runner.outputs["promoted-build"] == "5"


def test_a_rerun_of_the_same_workflow_run_does_not_roll_back_twice(tmp_path: Path) -> None:
    rows = [
        item_row(
            PROD,
            "fraud-model/5/model.pkl",
            "fraud-model",
            "5",
            **{"promoted.run": RUN_URL, "promoted.rollback-of": "6"},
        ),
        item_row(PROD, "fraud-model/6/model.pkl", "fraud-model", "6"),
    ]
    fake = jfrog(rows, {"5": {"statuses": [status(1), status(3)]}, "6": {"statuses": [status(2)]}})
    ctx = context(tmp_path, fake, rollback="true")

    result = promote.run(ctx)

    assert fake.sent("POST", PROMOTE) == []
    assert (result.build_number, result.rollback_of, result.changed) == ("5", "6", False)


def test_rollback_needs_an_earlier_production_build(tmp_path: Path) -> None:
    fake = jfrog([item_row(PROD, "fraud-model/6/model.pkl", "fraud-model", "6")], {"6": {"statuses": [status(2)]}})

    with pytest.raises(PromotionError) as caught:
        promote.run(context(tmp_path, fake, rollback="true"))

    assert caught.value.message == (
        "Nothing to roll back to: build fraud-model #6 is the only one that has been in production (ml-models-prod-local)."
    )

    with pytest.raises(PromotionError, match=r"^Nothing to roll back: no build of fraud-model has been promoted"):
        promote.run(context(tmp_path / "empty", jfrog([], {}), rollback="true"))


def test_a_token_without_deployment_permission_only_warns(tmp_path: Path) -> None:
    fake = jfrog([], {"7": {}})
    with run_fake_github(GH_TOKEN, deny={"deployments"}) as github:
        ctx = context(tmp_path, fake, github)
        result = promote.run(ctx)

    assert result.changed
    assert result.deployment_id is None
    [(level, title, message)] = ctx.runner.annotations
    assert (level, title) == ("warning", "GitHub deployment not recorded")
    assert "(403): Resource not accessible by integration" in message
    assert ctx.runner.outputs["promoted"] == "true"
