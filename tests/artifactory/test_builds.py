from __future__ import annotations

import datetime as dt

import httpx

from ml_artifactory_action.artifactory.builds import (
    build_numbers,
    build_ui_url,
    get_build,
    jfrog_time,
    parse_time,
    publish_build,
    started_millis,
    statuses_of,
)
from tests.fakes.jfrog import FakeJFrog, jfrog_error, jfrog_json


def test_jfrog_time_has_milliseconds_and_a_colonless_offset() -> None:
    moment = dt.datetime(2024, 5, 1, 12, 0, 19, 893_456, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    assert jfrog_time(moment) == "2024-05-01T09:00:19.893+0000"
    assert parse_time("2024-05-01T12:00:19.893+0300") == moment.replace(microsecond=893_000)
    assert parse_time("not a time") is None


def test_publish_puts_the_document_with_the_project_and_jfrog_content_type() -> None:
    fake = FakeJFrog()
    fake.on("PUT", "/artifactory/api/build", httpx.Response(204))

    publish_build(fake.client(), {"name": "fraud", "number": "7", "modules": []}, "ml")

    [request] = fake.sent("PUT", "/artifactory/api/build")
    assert request.url.params["project"] == "ml"
    assert request.headers["Content-Type"] == "application/vnd.org.jfrog.artifactory+json"
    assert fake.json_sent("PUT", "/artifactory/api/build") == [{"name": "fraud", "number": "7", "modules": []}]


def test_get_build_is_none_for_a_missing_build_and_escapes_names() -> None:
    fake = FakeJFrog()
    fake.on("GET", r"/artifactory/api/build/team%2Ffraud/7", jfrog_json({"buildInfo": {"name": "team/fraud"}}))
    fake.on(
        "GET",
        r"/artifactory/api/build/fraud/8",
        jfrog_error(404, "No build was found for build name: fraud, build number: 8"),
    )

    assert get_build(fake.client(), "team/fraud", "7", "") == {"name": "team/fraud"}
    assert get_build(fake.client(), "fraud", "8", "") is None
    assert fake.unexpected == []


def test_build_numbers_are_listed_newest_first() -> None:
    fake = FakeJFrog()
    runs = [
        {"uri": "/2", "started": "2024-05-02T10:00:00.000+0000"},
        {"uri": "/10", "started": "2024-05-03T10:00:00.000+0000"},
        {"uri": "/1", "started": "2024-05-01T10:00:00.000+0000"},
    ]
    fake.on("GET", "/artifactory/api/build/fraud", jfrog_json({"buildsNumbers": runs}))
    fake.on("GET", "/artifactory/api/build/none", jfrog_error(404, "not found"))

    assert build_numbers(fake.client(), "fraud", "") == ["10", "2", "1"]
    assert build_numbers(fake.client(), "none", "") == []


def test_status_history_is_read_oldest_first_and_unreadable_entries_are_skipped() -> None:
    info = {
        "number": "3",
        "statuses": [
            {
                "status": "Production",
                "repository": "prod",
                "timestamp": "2024-05-03T10:00:00.000+0000",
                "ciUser": "octocat",
            },
            {"status": "Staging", "repository": "stage", "timestamp": "2024-05-02T10:00:00.000+0000", "user": "admin"},
            {"status": "Broken", "timestamp": "yesterday"},
        ],
    }

    entries = statuses_of(info)

    assert [(e.status, e.repository, e.user, e.build_number) for e in entries] == [
        ("Staging", "stage", "admin", "3"),
        ("Production", "prod", "octocat", "3"),
    ]


def test_build_ui_url_has_the_cli_form_with_and_without_project() -> None:
    assert (
        build_ui_url("https://acme.jfrog.io/", "fraud model", "7", 1700000000000, "")
        == "https://acme.jfrog.io/ui/builds/fraud%20model/7/1700000000000/published?buildRepo=artifactory-build-info"
    )
    assert (
        build_ui_url("https://acme.jfrog.io", "fraud", "7", None, "ml")
        == "https://acme.jfrog.io/ui/builds/fraud/7/published?buildRepo=ml-build-info&projectKey=ml"
    )
    assert started_millis({"started": "2023-11-14T22:13:20.000+0000"}) == 1700000000000
