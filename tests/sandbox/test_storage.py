"""Storage API: file info, folder info, repository root, `?list` and its options, `?stats`."""

from __future__ import annotations

import httpx
import pytest
from tests.sandbox.conftest import DEV_REPO, checksums, errors

from artifactory_sandbox.testing import SandboxHandle

API = f"/artifactory/api/storage/{DEV_REPO}"
URL = f"/artifactory/{DEV_REPO}"


@pytest.fixture
def tree(admin: httpx.Client) -> httpx.Client:
    """models/{a.bin, v1/b.json, v1/deep/c.txt}, plus an empty folder models/empty/."""
    admin.put(f"{URL}/models/a.bin", content=b"aaaa", headers={"X-Checksum-Sha1": checksums(b"aaaa")["sha1"]})
    admin.put(f"{URL}/models/v1/b.json;kind=metrics", content=b"{}")
    admin.put(f"{URL}/models/v1/deep/c.txt", content=b"c")
    admin.put(f"{URL}/models/empty/")
    return admin


def test_file_info(sandbox: SandboxHandle, tree: httpx.Client) -> None:
    response = tree.get(f"{API}/models/a.bin")
    info = response.json()
    assert response.headers["content-type"].endswith("FileInfo+json")
    assert info["repo"] == DEV_REPO
    assert info["path"] == "/models/a.bin"
    assert info["size"] == "4"
    assert info["checksums"]["sha1"] == checksums(b"aaaa")["sha1"]
    assert info["originalChecksums"] == {"sha1": checksums(b"aaaa")["sha1"]}
    assert info["downloadUri"] == f"{sandbox.url}{URL}/models/a.bin"
    assert info["uri"] == f"{sandbox.url}{API}/models/a.bin"
    assert {"created", "createdBy", "lastModified", "modifiedBy", "lastUpdated"} <= set(info)
    assert tree.get(f"{API}/models/v1/b.json").json()["mimeType"] == "application/json"


def test_folder_info_lists_children(tree: httpx.Client) -> None:
    info = tree.get(f"{API}/models").json()
    assert info["path"] == "/models"
    assert info["children"] == [
        {"uri": "/a.bin", "folder": False},
        {"uri": "/empty", "folder": True},
        {"uri": "/v1", "folder": True},
    ]


def test_repository_root_info(tree: httpx.Client) -> None:
    info = tree.get(API).json()
    assert (info["repo"], info["path"]) == (DEV_REPO, "/")
    assert info["children"] == [{"uri": "/models", "folder": True}]


def test_missing_item_is_unable_to_find_item(admin: httpx.Client) -> None:
    assert errors(admin.get(f"{API}/nothing")) == [(404, "Unable to find item")]


def _uris(client: httpx.Client, query: str) -> list[str]:
    return [entry["uri"] for entry in client.get(f"{API}/models?{query}").json()["files"]]


def test_list_flat_has_files_only(tree: httpx.Client) -> None:
    assert _uris(tree, "list") == ["/a.bin"]


def test_list_deep_with_folders(tree: httpx.Client) -> None:
    assert _uris(tree, "list&deep=1&listFolders=1") == [
        "/a.bin",
        "/empty",
        "/v1",
        "/v1/b.json",
        "/v1/deep",
        "/v1/deep/c.txt",
    ]


def test_list_deep_files_only_and_depth(tree: httpx.Client) -> None:
    assert _uris(tree, "list&deep=1") == ["/a.bin", "/v1/b.json", "/v1/deep/c.txt"]
    assert _uris(tree, "list&deep=1&depth=2") == ["/a.bin", "/v1/b.json"]


def test_list_include_root_path(tree: httpx.Client) -> None:
    assert _uris(tree, "list&includeRootPath=1")[0] == "/"


def test_list_entries_shape(tree: httpx.Client) -> None:
    body = tree.get(f"{API}/models/v1?list&listFolders=1&mdTimestamps=1").json()
    folder, file = body["files"][1], body["files"][0]
    assert body["uri"].endswith(f"{API}/models/v1")
    assert file["uri"] == "/b.json"
    assert (file["size"], file["folder"]) == (2, False)
    assert file["sha1"] == checksums(b"{}")["sha1"]
    assert file["sha2"] == checksums(b"{}")["sha256"]
    assert "properties" in file["mdTimestamps"]
    assert (folder["uri"], folder["size"], folder["folder"]) == ("/deep", -1, True)


def test_list_on_a_file_is_400(tree: httpx.Client) -> None:
    assert tree.get(f"{API}/models/a.bin?list").status_code == 400


def test_bad_depth_is_400(tree: httpx.Client) -> None:
    response = tree.get(f"{API}/models?list&deep=1&depth=x")
    assert errors(response) == [(400, "Parameter 'depth' must be a number")]


def test_stats_of_a_never_downloaded_file(tree: httpx.Client) -> None:
    stats = tree.get(f"{API}/models/a.bin?stats").json()
    assert (stats["downloadCount"], stats["lastDownloaded"]) == (0, 0)
    assert stats["uri"].endswith(f"{API}/models/a.bin")
