from __future__ import annotations

import datetime as dt

import httpx
import pytest

from ml_artifactory_action.artifactory.promotion import (
    PromotionRequest,
    current_production,
    previous_production,
    production_history,
    promote_build,
)
from ml_artifactory_action.errors import AuthenticationError, PromotionError
from tests.fakes.jfrog import FakeJFrog, jfrog_error, jfrog_json

PROMOTE = r"/artifactory/api/build/promote/fraud/7"
REQUEST = PromotionRequest(
    status="Production",
    comment="ship it",
    source_repo="stage",
    target_repo="prod",
    copy=True,
    properties=(("env", ("production",)), ("promoted.by", ("octocat",))),
    ci_user="octocat",
    timestamp=dt.datetime(2024, 5, 1, 12, 0, 0, 123_000, tzinfo=dt.UTC),
)


def test_the_request_body_is_what_artifactory_documents() -> None:
    fake = FakeJFrog()
    fake.on("POST", PROMOTE, jfrog_json({"messages": [{"level": "INFO", "message": "copied 1 artifact"}]}))

    messages = promote_build(fake.client(), "fraud", "7", REQUEST, "", dry_run=True)

    assert messages == ["copied 1 artifact"]
    [request] = fake.sent("POST", PROMOTE)
    assert request.headers["Content-Type"] == "application/vnd.org.jfrog.artifactory.build.PromotionRequest+json"
    assert fake.json_sent("POST", PROMOTE) == [
        {
            "status": "Production",
            "comment": "ship it",
            "ciUser": "octocat",
            "timestamp": "2024-05-01T12:00:00.123+0000",
            "dryRun": True,
            "sourceRepo": "stage",
            "targetRepo": "prod",
            "copy": True,
            "artifacts": True,
            "dependencies": False,
            "failFast": True,
            "properties": {"env": ["production"], "promoted.by": ["octocat"]},
        }
    ]


def test_a_missing_build_says_to_publish_it_first() -> None:
    fake = FakeJFrog()
    message = "Cannot find builds by the name 'fraud' and the number '7' and buildRepo 'artifactory-build-info'."
    fake.on("POST", PROMOTE, jfrog_error(404, message))

    with pytest.raises(PromotionError) as caught:
        promote_build(fake.client(), "fraud", "7", REQUEST, "", dry_run=True)

    assert caught.value.message == f"Build fraud #7 cannot be promoted: {message}"
    assert caught.value.fix.startswith("Publish the build first (stage build-publish)")


def test_error_messages_of_a_refused_dry_run_are_shown_and_nothing_else_is_sent() -> None:
    fake = FakeJFrog()
    body = {
        "messages": [
            {"level": "ERROR", "message": "The repository has denied deployment"},
            {"level": "INFO", "message": "x"},
        ]
    }
    fake.on("POST", PROMOTE, httpx.Response(409, json=body))

    with pytest.raises(PromotionError) as caught:
        promote_build(fake.client(), "fraud", "7", REQUEST, "", dry_run=True)

    assert caught.value.message == (
        "The dry run of the promotion of build fraud #7 from stage to prod was refused (409): "
        "The repository has denied deployment"
    )
    assert len(fake.requests) == 1


def test_an_error_message_in_a_200_answer_is_a_refusal_too() -> None:
    fake = FakeJFrog()
    fake.on("POST", PROMOTE, jfrog_json({"messages": [{"level": "error", "message": "target exists"}]}))

    with pytest.raises(PromotionError, match=r"was refused \(200\): target exists"):
        promote_build(fake.client(), "fraud", "7", REQUEST, "", dry_run=False)


def test_missing_permission_is_an_authentication_error() -> None:
    fake = FakeJFrog()
    fake.on("POST", PROMOTE, jfrog_error(403, "Forbidden"))

    with pytest.raises(AuthenticationError):
        promote_build(fake.client(), "fraud", "7", REQUEST, "", dry_run=True)


def status(when: str, status: str = "Production", repo: str = "prod") -> dict[str, str]:
    return {"status": status, "repository": repo, "timestamp": when, "ciUser": "octocat"}


def history_fake() -> FakeJFrog:
    fake = FakeJFrog()
    rows = [
        {"repo": "prod", "path": f"fraud/{n}", "name": "m.pkl", "properties": [{"key": "build.number", "value": n}]}
        for n in ("1", "2", "3")
    ]
    fake.on("POST", "/artifactory/api/search/aql", jfrog_json({"results": rows}))
    builds = {
        "1": [status("2024-05-01T10:00:00.000+0000"), status("2024-05-04T10:00:00.000+0000")],
        "2": [status("2024-05-02T10:00:00.000+0000"), status("2024-05-02T09:00:00.000+0000", "Staging", "stage")],
        "3": [status("2024-05-03T10:00:00.000+0000", repo="other-prod")],
    }
    for number, statuses in builds.items():
        fake.on(
            "GET",
            f"/artifactory/api/build/fraud/{number}",
            jfrog_json({"buildInfo": {"number": number, "statuses": statuses}}),
        )
    return fake


def test_production_history_orders_the_promotions_into_the_target_repo() -> None:
    fake = history_fake()

    history = production_history(fake.client(), "fraud", "", "production", "prod")

    assert [(e.build_number, e.timestamp.day) for e in history] == [("1", 1), ("2", 2), ("1", 4)]
    assert current_production(history).build_number == "1"  # type: ignore[union-attr]
    assert previous_production(history).build_number == "2"  # type: ignore[union-attr]


def test_no_history_means_nothing_in_production_and_nothing_to_roll_back_to() -> None:
    assert current_production([]) is None
    assert previous_production([]) is None
