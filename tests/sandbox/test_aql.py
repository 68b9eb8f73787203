"""AQL parsing and execution against the contract schema (no HTTP; see test_search.py for that)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from artifactory_sandbox import aql
from artifactory_sandbox.aql_results import execute
from artifactory_sandbox.db import Database

T0 = "2025-04-06T09:13:04.174Z"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "meta.sqlite")
    with database.tx() as conn:
        _seed(conn)
    yield database
    database.close()


def _item(
    conn: Any,
    repo: str,
    path: str,
    name: str,
    sha1: str | None,
    *,
    size: int = 10,
    kind: str = "file",
    created: str = T0,
) -> int:
    cur = conn.execute(
        "INSERT INTO items(repo, path, name, type, size, sha256, sha1, md5, created, created_by,"
        " modified, modified_by, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            repo,
            path,
            name,
            kind,
            size,
            sha1 and sha1 * 2,
            sha1,
            sha1 and sha1[:32],
            created,
            "admin",
            created,
            "admin",
            created,
        ),
    )
    return int(cur.lastrowid)


def _seed(conn: Any) -> None:
    a = _item(conn, "models-local", "fraud/1.0", "model.pkl", "a" * 40, size=100)
    b = _item(conn, "models-local", "fraud/1.0", "metrics.json", "b" * 40, size=5)
    c = _item(conn, "models-local", ".", "README.md", "c" * 40, size=7, created="2024-01-01T00:00:00.000Z")
    _item(conn, "models-local", "fraud", "1.0", None, size=0, kind="folder")
    _item(conn, "other-local", "x", "Model.PKL", "d" * 40, size=1000)
    for item, key, value in [
        (a, "metric.accuracy", "0.95"),
        (a, "env", "dev"),
        (a, "env", "qa"),
        (b, "metric.accuracy", "0.85"),
        (c, "build.name", "fraud"),
    ]:
        conn.execute("INSERT INTO properties(item_id, key, value) VALUES (?,?,?)", (item, key, value))
    info = json.dumps(
        {
            "name": "fraud",
            "number": "7",
            "url": "https://ci/7",
            "artifactoryPrincipal": "ci",
            "properties": {"buildInfo.env.X": "1"},
        }
    )
    build = conn.execute(
        "INSERT INTO builds(name, number, started, project, info, created) VALUES (?,?,?,?,?,?)",
        ("fraud", "7", "2025-04-06T09:00:00.000+0000", "", info, T0),
    ).lastrowid
    conn.execute(
        "INSERT INTO build_artifacts(build_id, module, name, type, sha1, sha256, md5, path) VALUES (?,?,?,?,?,?,?,?)",
        (build, "fraud", "model.pkl", "pkl", "a" * 40, "", "", "fraud/1.0/model.pkl"),
    )


def run(db: Database, text: str, admin: bool = True) -> dict[str, Any]:
    with db.read() as conn:
        return execute(conn, aql.parse(text), admin)


def names(answer: dict[str, Any]) -> list[str]:
    return [row["name"] for row in answer["results"]]


def test_default_fields_and_range_for_a_plain_query(db: Database) -> None:
    answer = run(db, 'items.find({"repo":"models-local","name":"model.pkl"})')
    assert answer == {
        "results": [{
            "repo": "models-local", "path": "fraud/1.0", "name": "model.pkl", "type": "file",
            "size": 100, "created": T0, "created_by": "admin", "modified": T0,
            "modified_by": "admin", "updated": T0,
        }],
        "range": {"start_pos": 0, "end_pos": 1, "total": 1},
    }  # fmt: skip


def test_items_are_files_unless_a_type_criterion_is_given(db: Database) -> None:
    assert "1.0" not in names(run(db, 'items.find({"repo":"models-local"})'))
    assert names(run(db, 'items.find({"repo":"models-local","type":"folder"})')) == ["1.0"]
    assert len(run(db, 'items.find({"repo":"models-local","type":"any"})')["results"]) == 4


def test_match_is_case_sensitive_with_star_and_question_mark(db: Database) -> None:
    assert names(run(db, 'items.find({"name":{"$match":"*.pkl"}})')) == ["model.pkl"]
    assert names(run(db, 'items.find({"name":{"$match":"model.pk?"}})')) == ["model.pkl"]
    found = names(run(db, 'items.find({"name":{"$nmatch":"*.pkl"},"repo":"models-local"})'))
    assert found == ["metrics.json", "README.md"]


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ('{"size":{"$gt":"50"}}', ["model.pkl", "Model.PKL"]),
        ('{"size":{"$gte":100,"$lt":1000}}', ["model.pkl"]),
        ('{"size":{"$lte":7}}', ["metrics.json", "README.md"]),
        ('{"created":{"$lt":"2025-01-01"}}', ["README.md"]),
        ('{"path":{"$ne":"."},"repo":"models-local"}', ["model.pkl", "metrics.json"]),
    ],
)
def test_comparison_operators(db: Database, criteria: str, expected: list[str]) -> None:
    assert names(run(db, f"items.find({criteria})")) == expected


def test_repeated_and_or_keys_in_one_object_are_all_applied(db: Database) -> None:
    text = (
        'items.find({"$and":[{"@env":"dev"}],"$and":[{"@env":"qa"}],'
        '"$or":[{"name":"model.pkl"},{"name":"nothing"}],"$or":[{"repo":"models-local"}]})'
    )
    assert names(run(db, text)) == ["model.pkl"]


def test_property_criteria_compare_values_as_artifactory_does(db: Database) -> None:
    assert names(run(db, 'items.find({"@metric.accuracy":{"$gt":"0.9"}})')) == ["model.pkl"]
    ne = names(run(db, 'items.find({"@env":{"$ne":"dev"},"repo":"models-local"})'))
    assert ne == ["metrics.json", "README.md"]  # "no property env=dev", not "some other value"
    assert names(run(db, 'items.find({"@env":{"$match":"q*"}})')) == ["model.pkl"]
    assert names(run(db, 'items.find({"@*":"fraud"})')) == ["README.md"]


def test_build_linkage_matches_by_checksum_on_the_same_build(db: Database) -> None:
    same = 'items.find({"$and":[{"artifact.module.build.name":"fraud","artifact.module.build.number":"7"}]})'
    assert names(run(db, same)) == ["model.pkl"]
    assert names(run(db, 'items.find({"artifact.module.build.number":"8"})')) == []


def test_include_properties_and_build_fields(db: Database) -> None:
    text = (
        'items.find({"name":"model.pkl"}).include("name","property",'
        '"artifact.module.build.name","artifact.module.build.number")'
    )
    assert run(db, text)["results"] == [{
        "name": "model.pkl",
        "properties": [{"key": "env", "value": "dev"}, {"key": "env", "value": "qa"},
                       {"key": "metric.accuracy", "value": "0.95"}],
        "artifacts": [{"modules": [{"builds": [{"build.name": "fraud", "build.number": "7"}]}]}],
    }]  # fmt: skip


def test_include_single_property_key_keeps_default_fields(db: Database) -> None:
    row = run(db, 'items.find({"name":"model.pkl"}).include("@env")')["results"][0]
    assert row["repo"] == "models-local"
    assert row["properties"] == [{"key": "env", "value": "dev"}, {"key": "env", "value": "qa"}]


def test_items_without_properties_have_no_properties_key(db: Database) -> None:
    rows = run(db, 'items.find({"repo":"other-local"}).include("name","property.*")')["results"]
    assert rows == [{"name": "Model.PKL"}]


def test_checksums_and_depth_when_included(db: Database) -> None:
    text = 'items.find({"name":"README.md"}).include("actual_sha1","actual_md5","sha256","depth")'
    assert run(db, text)["results"] == [
        {"depth": 1, "actual_md5": "c" * 32, "actual_sha1": "c" * 40, "sha256": "c" * 80}
    ]


def test_sort_offset_limit_and_range(db: Database) -> None:
    answer = run(db, 'items.find({"repo":"models-local"}).sort({"$desc":["name"]}).offset(1).limit(1)')
    assert names(answer) == ["metrics.json"]
    assert answer["range"] == {"start_pos": 1, "end_pos": 1, "total": 1, "limit": 1}
    latest = run(db, 'items.find({"repo":"models-local"}).sort({"$asc":["created"]}).limit(1)')
    assert names(latest) == ["README.md"]


def test_a_virtual_repository_is_searched_through_its_members(db: Database) -> None:
    """JFrog "AQL supports virtual repositories": `items.find({"repo" : "my-virtual"})` "will be
    applied to local repositories and remote repository caches included in the specified virtual
    repository"; the items keep their own repository."""
    with db.tx() as conn:
        repos = (
            ("other-local", "local", []),
            ("empty-local", "local", []),
            ("all", "virtual", ["other-local", "empty-local"]),
        )
        for key, rclass, members in repos:
            config = json.dumps({"key": key, "rclass": rclass, "repositories": members})
            conn.execute("INSERT INTO repos(key, rclass, package_type, config, created) VALUES (?,?,?,?,?)",
                         (key, rclass, "generic", config, T0))  # fmt: skip
    answer = run(db, 'items.find({"$or":[{"repo":"all"},{"repo":{"$eq":"nothing"}}]}).include("repo","name")')
    assert answer["results"] == [{"repo": "other-local", "name": "Model.PKL"}]
    assert names(run(db, 'items.find({"repo":{"$match":"al*"}})')) == []  # only an exact key names a virtual


def test_answers_are_cut_at_the_search_limit_and_say_so(db: Database) -> None:
    """JFrog "AQL Execution" sample of a capped answer: `"range": {"start_pos": 0, "end_pos": 1,
    "total": 1, "limit": 5, "notification": "AQL query reached the search hard limit, results are
    trimmed."}`; the limit is `artifactory.search.userQueryLimit` (default 1000)."""
    with db.read() as conn:
        everything = execute(conn, aql.parse('items.find({"repo":"models-local"})'), True)["results"]
        capped = execute(conn, aql.parse('items.find({"repo":"models-local"}).sort({"$asc":["name"]})'), True, 2)
        asked_more = execute(conn, aql.parse('items.find({"repo":"models-local"}).limit(9)'), True, 2)
        within = execute(conn, aql.parse('items.find({"repo":"models-local"}).limit(2)'), True, 2)
        exact = execute(conn, aql.parse('items.find({"repo":"models-local"})'), True, len(everything))
    notice = "AQL query reached the search hard limit, results are trimmed."
    assert len(everything) > 2
    assert names(capped) == sorted(names({"results": everything}))[:2]
    assert capped["range"] == {"start_pos": 0, "end_pos": 2, "total": 2, "limit": 2, "notification": notice}
    assert asked_more["range"]["notification"] == notice
    assert asked_more["range"]["limit"] == 2
    assert "notification" not in within["range"]  # the query's own limit is below the cap
    assert "notification" not in exact["range"]  # exactly the cap: nothing was cut


def test_builds_domain(db: Database) -> None:
    answer = run(db, 'builds.find({"name":{"$match":"fr*"}}).include("name","number","url","property")')
    assert answer["results"] == [{
        "build.name": "fraud", "build.number": "7", "build.url": "https://ci/7",
        "build.properties": [{"build.property.key": "buildInfo.env.X", "build.property.value": "1"}],
    }]  # fmt: skip
    assert run(db, 'builds.find({"@buildInfo.env.X":"2"})')["results"] == []


@pytest.mark.parametrize(
    ("text", "near"),
    [
        ('items.find({"nme":"x"})', '"nme":"x"})'),
        ('items.find({"name":{"$like":"x"}})', '"name":{"$like":"x"}})'),
        ('items.find({"name":"x"}', 'items.find({"name":"x"}'),
        ('items.find({"name":"x"}).limit(-1)', ".limit(-1)"),
        ('items.find({"name":"x"}).include("nmae")', '"nmae")'),
        ('items.find({"name" "x"})', '"x"})'),
        ("items.fnd({})", "items.fnd({})"),
    ],
)
def test_malformed_queries_get_artifactorys_message(db: Database, text: str, near: str) -> None:
    with pytest.raises(aql.AqlError) as err:
        run(db, text)
    assert str(err.value) == (
        f"Failed to parse query: {text}, it looks like there is syntax error near the following sub-query: {near}"
    )


def test_sort_field_must_be_a_result_field(db: Database) -> None:
    with pytest.raises(aql.AqlError, match=r"^Only the result fields are allowed to use in the sort section\.$"):
        run(db, 'items.find().include("name").sort({"$asc":["repo"]})')


def test_non_admin_queries_must_return_repo_path_and_name(db: Database) -> None:
    with pytest.raises(aql.AqlError, match=r"^For permissions reasons AQL demands the following fields"):
        run(db, 'items.find().include("name")', admin=False)
    assert run(db, 'items.find({"name":"model.pkl"})', admin=False)["range"]["total"] == 1


def test_user_text_never_reaches_the_sql(db: Database) -> None:
    hostile = "x' OR 1=1 --"
    assert run(db, json.dumps(hostile).join(['items.find({"name":', "})"]))["results"] == []


def test_relative_dates(db: Database) -> None:
    recent = names(run(db, 'items.find({"repo":"models-local","created":{"$before":"30d"}})'))
    assert recent == ["model.pkl", "metrics.json", "README.md"]  # all seeded dates are long past
    assert names(run(db, 'items.find({"created":{"$last":"1mi"}})')) == []
    assert names(run(db, 'items.find({"name":"model.pkl","created":{"$last":"100y"}})')) == ["model.pkl"]
    with pytest.raises(aql.AqlError, match="syntax error"):
        run(db, 'items.find({"name":{"$last":"7d"}})')
