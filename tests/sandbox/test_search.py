"""Search over HTTP: AQL as the JFrog CLI sends it, property search, checksum search."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from artifactory_sandbox.testing import SandboxHandle, run_sandbox

REPO = "ml-models-dev-local"
CLI_INCLUDE = '"name","repo","path","actual_md5","actual_sha1","sha256","size","type","modified","created","property"'


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with run_sandbox(tmp_path_factory.mktemp("search"), read_only_token="reader-token") as handle:
        admin = {"Authorization": f"Bearer {handle.admin_token}"}
        for path, data in [("builds/a.bin;env=prod;team=ml", b"a"), ("builds/b.bin;env=dev", b"bb"),
                           ("builds/sub/c.bin;env=prod", b"ccc"), ("top.txt", b"top")]:  # fmt: skip
            assert httpx.put(f"{handle.artifactory_url}/{REPO}/{path}", content=data, headers=admin).status_code == 201
        yield handle


def post_aql(sandbox: SandboxHandle, text: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or sandbox.admin_token}"}
    return httpx.post(f"{sandbox.artifactory_url}/api/search/aql", content=text, headers=headers)


def test_jfrog_cli_search_query(sandbox: SandboxHandle) -> None:
    text = (
        'items.find({"$and":[{"@env":"prod"}],"path":{"$ne":"."},"$or":[{"$and":[{"repo":"'
        + REPO
        + '","path":"builds","name":{"$match":"*"}}]},{"$and":[{"repo":"'
        + REPO
        + '","path":{"$match":"builds/*"},"name":{"$match":"*"}}]}]}).include('
        + CLI_INCLUDE
        + ")"
    )
    response = post_aql(sandbox, text)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    rows = response.json()["results"]
    assert [(row["path"], row["name"]) for row in rows] == [("builds", "a.bin"), ("builds/sub", "c.bin")]
    first = rows[0]
    assert first["actual_sha1"] == hashlib.sha1(b"a").hexdigest()  # noqa: S324  Artifactory's checksum
    assert first["sha256"] == hashlib.sha256(b"a").hexdigest()
    assert first["size"] == 1
    assert first["properties"] == [{"key": "env", "value": "prod"}, {"key": "team", "value": "ml"}]
    assert response.json()["range"] == {"start_pos": 0, "end_pos": 2, "total": 2}


def test_malformed_aql_is_400_plain_text(sandbox: SandboxHandle) -> None:
    response = post_aql(sandbox, 'items.find({"name":{"$eq":"x"}).limit(1)')
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == (
        'Failed to parse query: items.find({"name":{"$eq":"x"}).limit(1), it looks '
        "like there is syntax error near the following sub-query: ).limit(1)"
    )


def test_empty_aql_body_is_400(sandbox: SandboxHandle) -> None:
    assert post_aql(sandbox, "").status_code == 400


def test_read_only_user_needs_repo_path_name(sandbox: SandboxHandle) -> None:
    refused = post_aql(sandbox, 'items.find().include("name")', token="reader-token")
    assert (refused.status_code, refused.text) == (
        400,
        "For permissions reasons AQL demands the following fields: repo, path and name.",
    )
    assert post_aql(sandbox, 'items.find({"name":"top.txt"})', token="reader-token").json()["range"]["total"] == 1


def test_anonymous_aql_is_refused(sandbox: SandboxHandle) -> None:
    assert httpx.post(f"{sandbox.artifactory_url}/api/search/aql", content="items.find()").status_code == 401


def get(sandbox: SandboxHandle, path: str) -> httpx.Response:
    return httpx.get(f"{sandbox.artifactory_url}{path}",
                     headers={"Authorization": f"Bearer {sandbox.admin_token}"})  # fmt: skip


def uris(response: httpx.Response) -> list[str]:
    base = f"{response.request.url.scheme}://{response.request.url.netloc.decode()}/artifactory/api/storage/{REPO}/"
    return [entry["uri"].removeprefix(base) for entry in response.json()["results"]]


def test_property_search(sandbox: SandboxHandle) -> None:
    assert uris(get(sandbox, "/api/search/prop?env=prod")) == ["builds/a.bin", "builds/sub/c.bin"]
    assert uris(get(sandbox, "/api/search/prop?env=dev,prod&team")) == ["builds/a.bin"]
    assert uris(get(sandbox, f"/api/search/prop?env=d*&repos={REPO}")) == ["builds/b.bin"]
    assert uris(get(sandbox, "/api/search/prop?env=prod&repos=other-local")) == []


def test_checksum_search(sandbox: SandboxHandle) -> None:
    sha256 = hashlib.sha256(b"bb").hexdigest()
    response = get(sandbox, f"/api/search/checksum?sha256={sha256}")
    assert response.status_code == 200
    assert uris(response) == ["builds/b.bin"]
    assert get(sandbox, "/api/search/checksum").status_code == 400
