"""The production line gate, promote and resolve read: the repository promotions fill, its history."""

from __future__ import annotations

from pathlib import Path

from tests.fakes.history import AQL, Repos, item_row, serve_builds, status
from tests.fakes.jfrog import FakeJFrog, jfrog_json, make_context

from ml_artifactory_action.stages.production import ProductionLine

PROD, VIRTUAL = "ml-models-prod-local", "ml-models-prod"
BUILD = r"/artifactory/api/build/fraud-model/\d+"


def server(virtual: bool = False) -> FakeJFrog:
    fake = FakeJFrog()
    if virtual:  # answered before serve_builds' "every repository is local"
        fake.on(
            "GET",
            f"/artifactory/api/repositories/{VIRTUAL}",
            jfrog_json({"rclass": "virtual", "defaultDeploymentRepo": PROD}),
        )
    rows = [item_row(PROD, f"fraud-model/{n}/model.pkl", "fraud-model", n) for n in ("5", "6")]
    fake.on("POST", AQL, Repos(rows).answer)
    serve_builds(fake, "fraud-model", {"5": {"statuses": [status(1)]}, "6": {"statuses": [status(2)]}})
    return fake


def test_current_previous_and_the_files_come_from_one_reading_of_the_history(tmp_path: Path) -> None:
    fake = server()
    line = ProductionLine.of(make_context(tmp_path, {"stages": "promote"}, fake=fake))

    assert (line.build_name, line.repo) == ("fraud-model", PROD)
    assert fake.sent("GET", BUILD) == []  # nothing is asked before it is needed
    current, previous = line.current, line.previous
    assert (current and current.build_number, previous and previous.build_number) == ("6", "5")
    assert [item.name for item in line.items("6")] == ["model.pkl"]
    assert len(fake.sent("GET", BUILD)) == 2  # one build-info each, once


def test_a_virtual_target_is_read_where_promotions_into_it_land(tmp_path: Path) -> None:
    fake = server(virtual=True)
    line = ProductionLine.of(make_context(tmp_path, {"stages": "promote", "target-repo": VIRTUAL}, fake=fake))

    assert line.repo == PROD
    assert line.current is not None
    assert line.current.build_number == "6"
