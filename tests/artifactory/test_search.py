"""AQL: the request, the answer, and the one query the upload asks before sending anything."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
from pytest_httpx import HTTPXMock

from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from ml_artifactory_action.artifactory import search
from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.models import build_items
from ml_artifactory_action.artifactory.search import Item, aql, items_query, known_files
from ml_artifactory_action.errors import ArtifactoryError

from .conftest import ARTIFACTORY

AQL_URL = f"{ARTIFACTORY}/api/search/aql"
REPO = "ml-models-dev-local"
FIELDS = '"repo","path","name","type","size","sha256","actual_sha1","actual_md5"'
FIRST_PAGE = b'.sort({"$asc":["repo","path","name"]}).offset(0).limit(1000)'


def criteria_of(query: bytes) -> object:
    assert query.endswith(FIRST_PAGE), query
    match = re.fullmatch(rb"items\.find\((.*)\)\.include\((.*)\)", query.removesuffix(FIRST_PAGE))
    assert match is not None, query
    assert match.group(2).decode() == FIELDS
    return json.loads(match.group(1))


def test_aql_posts_plain_text_and_returns_results(client: ArtifactoryClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=AQL_URL, method="POST", json={"results": [{"repo": "r"}, "junk"], "range": {}})
    assert aql(client, 'items.find({"repo":"r"})') == [{"repo": "r"}]
    request = httpx_mock.get_request()
    assert request.headers["Content-Type"] == "text/plain"
    assert request.content == b'items.find({"repo":"r"})' + FIRST_PAGE


@pytest.mark.parametrize("body", [b"<html>login</html>", b'{"nothing": 1}', b'{"results": 3}'])
def test_an_answer_that_is_not_aql_fails(client: ArtifactoryClient, httpx_mock: HTTPXMock, body: bytes) -> None:
    httpx_mock.add_response(url=AQL_URL, content=body)
    with pytest.raises(ArtifactoryError, match="searching Artifactory"):
        aql(client, "items.find()")


def test_a_refused_query_carries_the_server_message(client: ArtifactoryClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=AQL_URL, status_code=400, text="Failed to parse query: items.find(")
    with pytest.raises(ArtifactoryError) as caught:
        aql(client, "items.find(")
    assert caught.value.message.endswith("answered 400: Failed to parse query: items.find(")


def test_items_query_includes_repo_path_and_name_as_non_admins_must() -> None:
    assert items_query({"repo": "r"}) == f'items.find({{"repo":"r"}}).include({FIELDS})'


def test_known_files_asks_by_size_checksum_and_target_path_in_one_query(
    client: ArtifactoryClient, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(
        url=AQL_URL,
        json={
            "results": [
                {
                    "repo": "models",
                    "path": "fraud/7",
                    "name": "m.bin",
                    "size": 9,
                    "sha256": "s",
                    "actual_sha1": "a",
                    "actual_md5": "m",
                },
                {"repo": "other", "path": ".", "name": "root.bin", "size": 3},
            ]
        },
    )
    found = known_files(client, sizes=[9, 3, 9], sha256s=["ab"], repo="models", paths=["fraud/7/m.bin", "top.bin"])
    assert criteria_of(httpx_mock.get_request().content) == {
        "type": "file",
        "$or": [
            {"size": 3},
            {"size": 9},
            {"sha256": "ab"},
            {"repo": "models", "path": "fraud/7", "name": "m.bin"},
            {"repo": "models", "path": ".", "name": "top.bin"},
        ],
    }
    assert found == [
        Item("models", "fraud/7", "m.bin", 9, "s", "a", "m"),
        Item("other", ".", "root.bin", 3, "", "", ""),
    ]


def test_many_files_are_asked_in_queries_artifactory_accepts(client: ArtifactoryClient, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(url=AQL_URL, json={"results": []}, is_reusable=True)
    paths = [f"fraud-model/7/shards/model-{i:05d}-of-00300.safetensors" for i in range(300)]
    known_files(client, sizes=range(10_000_000, 10_000_300), repo="models", paths=paths)
    queries = [r.content for r in httpx_mock.get_requests()]
    assert len(queries) > 1
    assert all(len(q) <= search.MAX_QUERY_CHARS for q in queries)
    terms = [term for q in queries for term in criteria_of(q)["$or"]]  # type: ignore[index]
    assert len(terms) == 600


def test_nothing_to_ask_sends_nothing(client: ArtifactoryClient) -> None:
    assert known_files(client) == []


def test_a_trimmed_page_is_followed_by_the_next_one(client: ArtifactoryClient, httpx_mock: HTTPXMock) -> None:
    """A server whose limit is below our page answers part of it with `range.notification`."""
    notice = {"limit": 2, "notification": "AQL query reached the search hard limit, results are trimmed."}
    rows = [{"repo": "r", "path": ".", "name": f"{n}.bin"} for n in range(5)]
    for start, end in ((0, 2), (2, 4)):
        httpx_mock.add_response(url=AQL_URL, json={"results": rows[start:end], "range": notice})
    httpx_mock.add_response(url=AQL_URL, json={"results": rows[4:], "range": {"total": 1}})
    assert aql(client, 'items.find({"repo":"r"})') == rows
    offsets = [re.search(rb"\.offset\((\d+)\)", r.content).group(1) for r in httpx_mock.get_requests()]  # type: ignore[union-attr]
    assert offsets == [b"0", b"2", b"4"]


@pytest.fixture(scope="module")
def small_limit_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    """A sandbox whose AQL answers hold at most 2 rows, holding 5 files of one build."""
    with run_sandbox(tmp_path_factory.mktemp("aql-limit"), aql_limit=2) as handle:
        with httpx.Client(headers={"Authorization": f"Bearer {handle.admin_token}"}) as http:
            for n in range(5):
                url = f"{handle.artifactory_url}/{REPO}/fraud/1/part-{n}.bin;build.name=fraud;build.number=1"
                http.put(url, content=b"x" * (n + 1)).raise_for_status()
        yield handle


def test_every_file_is_found_past_the_servers_search_limit(small_limit_sandbox: SandboxHandle) -> None:
    with httpx.Client(headers={"Authorization": f"Bearer {small_limit_sandbox.admin_token}"}) as http:
        client = ArtifactoryClient(small_limit_sandbox.url, http)
        found = known_files(client, sizes=range(1, 6))
    assert sorted(item.name for item in found) == [f"part-{n}.bin" for n in range(5)]


def test_a_trimmed_answer_that_cannot_be_paged_is_refused(small_limit_sandbox: SandboxHandle) -> None:
    with httpx.Client(headers={"Authorization": f"Bearer {small_limit_sandbox.admin_token}"}) as http:
        client = ArtifactoryClient(small_limit_sandbox.url, http)
        with pytest.raises(ArtifactoryError) as caught:
            build_items(client, REPO, "fraud", "1")
    assert caught.value.message == (
        "Finding the files of build fraud #1 in ml-models-dev-local: Artifactory cut its answer at 2 results "
        "(its search limit), so the list is incomplete and nothing was done with it"
    )
    assert "artifactory.search.userQueryLimit" in caught.value.fix
