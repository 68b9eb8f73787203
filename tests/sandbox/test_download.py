"""Download: GET/HEAD headers, single ranges, 416, conditional GET, folder listings, 404."""

from __future__ import annotations

import httpx
import pytest
from tests.sandbox.conftest import DEV_REPO, checksums, errors

URL = f"/artifactory/{DEV_REPO}"
DATA = bytes(range(256)) * 8000  # 2,048,000 bytes: several 1 MiB blocks


@pytest.fixture
def stored(admin: httpx.Client) -> httpx.Client:
    admin.put(f"{URL}/models/m.bin", content=DATA)
    return admin


def test_get_streams_the_file_with_checksum_headers(stored: httpx.Client) -> None:
    response = stored.get(f"{URL}/models/m.bin")
    headers = response.headers
    assert response.content == DATA
    assert headers["content-length"] == str(len(DATA))
    assert headers["x-checksum-sha1"] == headers["etag"] == checksums(DATA)["sha1"]
    assert headers["x-checksum-sha256"] == checksums(DATA)["sha256"]
    assert headers["x-checksum-md5"] == checksums(DATA)["md5"]
    assert headers["accept-ranges"] == "bytes"
    assert headers["last-modified"].endswith("GMT")
    assert headers["content-type"] == "application/octet-stream"


def test_head_has_the_headers_and_no_body(stored: httpx.Client) -> None:
    response = stored.head(f"{URL}/models/m.bin")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(DATA))
    assert response.content == b""


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=1048570-1048580", 1048570, 1048580),
        ("bytes=2047990-", 2047990, 2047999),
        ("bytes=-5", 2047995, 2047999),
        ("bytes=10-99999999", 10, 2047999),
    ],
)
def test_single_range_is_206(stored: httpx.Client, header: str, first: int, last: int) -> None:
    response = stored.get(f"{URL}/models/m.bin", headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/{len(DATA)}"
    assert response.content == DATA[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=2048000-", "bytes=5-2", "bytes=-0"])
def test_unsatisfiable_range_is_416(stored: httpx.Client, header: str) -> None:
    response = stored.get(f"{URL}/models/m.bin", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-4", "bytes=a-b"])
def test_unusable_range_headers_get_the_whole_file(stored: httpx.Client, header: str) -> None:
    response = stored.get(f"{URL}/models/m.bin", headers={"Range": header})
    assert (response.status_code, len(response.content)) == (200, len(DATA))


def test_if_none_match_with_the_sha1_is_304(stored: httpx.Client) -> None:
    sha1 = checksums(DATA)["sha1"]
    response = stored.get(f"{URL}/models/m.bin", headers={"If-None-Match": f'"{sha1}"'})
    assert (response.status_code, response.content) == (304, b"")


def test_missing_file_is_404_file_not_found(admin: httpx.Client) -> None:
    assert errors(admin.get(f"{URL}/missing.bin")) == [(404, "File not found.")]
    assert admin.head(f"{URL}/missing.bin").status_code == 404


def test_folder_get_is_an_html_listing(stored: httpx.Client) -> None:
    stored.put(f"{URL}/models/sub/", content=b"")
    response = stored.get(f"{URL}/models/")
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>Index of ml-models-dev-local/models/</title>" in response.text
    assert '<a href="m.bin">m.bin</a>' in response.text
    assert '<a href="sub/">sub/</a>' in response.text
    assert f"{len(DATA)} bytes" in response.text


def test_repository_root_listing(stored: httpx.Client) -> None:
    response = stored.get(f"{URL}/")
    assert '<a href="models/">models/</a>' in response.text


def test_downloads_are_counted(stored: httpx.Client) -> None:
    stored.get(f"{URL}/models/m.bin")
    stored.get(f"{URL}/models/m.bin", headers={"Range": "bytes=0-0"})
    stored.head(f"{URL}/models/m.bin")
    stats = stored.get(f"/artifactory/api/storage/{DEV_REPO}/models/m.bin?stats").json()
    assert stats["downloadCount"] == 2
    assert stats["lastDownloadedBy"] == "admin"
    assert stats["lastDownloaded"] > 1_600_000_000_000


def test_download_name_with_spaces_and_unicode(admin: httpx.Client) -> None:
    admin.put(f"{URL}/dir/mödel v1.bin", content=b"u")
    response = admin.get(f"{URL}/dir/m%C3%B6del%20v1.bin")
    assert response.content == b"u"
    assert response.headers["x-artifactory-filename"] == "m%C3%B6del%20v1.bin"
