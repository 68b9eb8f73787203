"""Deploy: the 201 body, checksum headers and policy, checksum deploy, matrix properties,
folders, overwrite, delete, refused paths, cut uploads and concurrent uploads."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest
from tests.sandbox.conftest import DEV_REPO, checksums, errors, item_exists, raw_exchange, status_of

from artifactory_sandbox.testing import SandboxHandle

URL = f"/artifactory/{DEV_REPO}"
DATA = b"model weights \x00\x01" * 1000


def test_created_body_is_artifactorys(sandbox: SandboxHandle, admin: httpx.Client) -> None:
    response = admin.put(
        f"{URL}/dir/my file.bin", content=DATA, headers={"X-Checksum-Sha256": checksums(DATA)["sha256"]}
    )
    body = response.json()
    assert response.status_code == 201
    assert response.headers["content-type"] == ("application/vnd.org.jfrog.artifactory.storage.ItemCreated+json")
    expected_uri = f"{sandbox.url}{URL}/dir/my%20file.bin"
    assert body["repo"] == DEV_REPO
    assert body["path"] == "/dir/my file.bin"
    assert body["size"] == str(len(DATA))
    assert body["checksums"] == checksums(DATA)
    assert body["originalChecksums"] == {"sha256": checksums(DATA)["sha256"]}
    assert body["downloadUri"] == body["uri"] == expected_uri
    assert body["createdBy"] == "admin"
    assert body["created"].endswith("Z")
    assert body["mimeType"] == "application/octet-stream"


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        ("X-Checksum-Sha1", "sha1"),
        ("X-Checksum-Md5", "md5"),
        ("X-Checksum-Sha256", "sha256"),
        ("X-Checksum", "sha1"),
        ("X-Checksum", "md5"),
        ("X-Checksum", "sha256"),
    ],
)
def test_each_checksum_header_is_verified(admin: httpx.Client, header: str, kind: str) -> None:
    good = admin.put(f"{URL}/good.bin", content=DATA, headers={header: checksums(DATA)[kind]})
    assert good.json()["originalChecksums"] == {kind: checksums(DATA)[kind]}
    bad = admin.put(f"{URL}/bad.bin", content=DATA, headers={header: checksums(b"other")[kind]})
    assert bad.status_code == 409
    assert not item_exists(admin, DEV_REPO, "bad.bin")


def test_mismatch_message_is_the_client_checksum_policys(admin: httpx.Client) -> None:
    sent = "0" * 40
    response = admin.put(f"{URL}/m.bin", content=b"abc", headers={"X-Checksum-Sha1": sent})
    actual = checksums(b"abc")
    assert errors(response) == [
        (
            409,
            (
                f"Checksum policy 'LocalRepoChecksumPolicy: CLIENT' rejected the artifact "
                f"'{DEV_REPO}:m.bin'. Checksums info: ChecksumsInfo{{checksums={{"
                f"SHA-1=ChecksumInfo{{type=SHA-1, original='{sent}', actual='{actual['sha1']}'}}, "
                f"MD5=ChecksumInfo{{type=MD5, original='null', actual='{actual['md5']}'}}, "
                f"SHA-256=ChecksumInfo{{type=SHA-256, original='null', actual='{actual['sha256']}'}}}}}}"
            ),
        )
    ]


def test_mismatch_on_overwrite_keeps_the_old_file(admin: httpx.Client) -> None:
    admin.put(f"{URL}/keep.bin", content=b"old")
    admin.put(f"{URL}/keep.bin", content=b"new", headers={"X-Checksum-Md5": "f" * 32})
    assert admin.get(f"{URL}/keep.bin").content == b"old"


def test_generic_checksum_of_unknown_length_is_400(admin: httpx.Client) -> None:
    response = admin.put(f"{URL}/g.bin", content=b"abc", headers={"X-Checksum": "abc"})
    assert errors(response) == [(400, "Unrecognized checksum 'abc' in header X-Checksum")]


def test_checksum_deploy_of_known_content(admin: httpx.Client) -> None:
    admin.put(f"{URL}/first.bin", content=DATA)
    response = admin.put(
        f"{URL}/copy/second.bin",
        headers={
            "X-Checksum-Deploy": "true",
            "X-Checksum-Sha256": checksums(DATA)["sha256"],
            "X-Checksum-Sha1": checksums(DATA)["sha1"],
        },
    )
    assert response.status_code == 201
    assert response.json()["checksums"] == checksums(DATA)
    assert admin.get(f"{URL}/copy/second.bin").content == DATA


def test_checksum_deploy_of_unknown_content_is_404(admin: httpx.Client) -> None:
    sha256 = checksums(b"never uploaded")["sha256"]
    response = admin.put(f"{URL}/x.bin", headers={"X-Checksum-Deploy": "true", "X-Checksum-Sha256": sha256})
    assert errors(response) == [
        (404, (f"Checksum deploy failed for '{DEV_REPO}:x.bin': no existing binary with SHA256 '{sha256}'"))
    ]
    assert not item_exists(admin, DEV_REPO, "x.bin")


def test_checksum_deploy_false_is_a_normal_upload(admin: httpx.Client) -> None:
    response = admin.put(f"{URL}/n.bin", content=b"n", headers={"X-Checksum-Deploy": "false"})
    assert response.status_code == 201


def test_checksum_deploy_with_conflicting_checksums_is_409(admin: httpx.Client) -> None:
    admin.put(f"{URL}/first.bin", content=DATA)
    response = admin.put(
        f"{URL}/y.bin",
        headers={
            "X-Checksum-Deploy": "true",
            "X-Checksum-Sha256": checksums(DATA)["sha256"],
            "X-Checksum-Md5": "0" * 32,
        },
    )
    assert response.status_code == 409
    assert not item_exists(admin, DEV_REPO, "y.bin")


def props_of(admin: httpx.Client, path: str) -> dict[str, list[str]]:
    response = admin.get(f"/artifactory/api/storage/{DEV_REPO}/{path}?properties")
    return response.json()["properties"] if response.status_code == 200 else {}


def test_matrix_properties_as_the_jfrog_cli_sends_them(admin: httpx.Client) -> None:
    """jfrog-client-go `ToEncodedString(false)` (deploy-time target props): one `key=value` per
    value, `url.QueryEscape(value)`, so a comma inside a value is a plain `%2C`. Artifactory stores
    each matrix value URL-decoded and nothing more: a backslash sent before it stays."""
    path = (
        "m.bin;a=1;a=2;build.name=my+build;build.number=42;"
        "build.timestamp=1700000000000;note=x%3By;multi=p%2Cq;esc=r%5C%2Cs"
    )
    assert admin.put(f"{URL}/{path}", content=b"m").status_code == 201
    assert props_of(admin, "m.bin") == {
        "a": ["1", "2"],
        "build.name": ["my build"],
        "build.number": ["42"],
        "build.timestamp": ["1700000000000"],
        "note": ["x;y"],
        "multi": ["p,q"],
        "esc": ["r\\,s"],
    }


def test_invalid_matrix_property_key_is_400_and_nothing_stored(admin: httpx.Client) -> None:
    response = admin.put(f"{URL}/bad.bin;ok=1;+%5Chello", content=b"x")
    assert errors(response) == [
        (
            400,
            (
                "Property key: +%5Chello is invalid due to Name must start with a letter and cannot "
                "contain whitespace or special characters"
            ),
        )
    ]
    assert not item_exists(admin, DEV_REPO, "bad.bin")


def test_overwrite_replaces_content_and_drops_old_properties(admin: httpx.Client) -> None:
    admin.put(f"{URL}/o.bin;stage=dev;old=1", content=b"v1")
    admin.put(f"{URL}/o.bin;stage=staging", content=b"v2")
    assert admin.get(f"{URL}/o.bin").content == b"v2"
    assert props_of(admin, "o.bin") == {"stage": ["staging"]}


def test_trailing_slash_creates_folders(admin: httpx.Client) -> None:
    response = admin.put(f"{URL}/a/b/c/")
    assert (response.status_code, response.json()["path"]) == (201, "/a/b/c/")
    info = admin.get(f"/artifactory/api/storage/{DEV_REPO}/a/b").json()
    assert info["children"] == [{"uri": "/c", "folder": True}]


def test_file_where_a_folder_is_is_409(admin: httpx.Client) -> None:
    admin.put(f"{URL}/dir/inner.bin", content=b"x")
    assert admin.put(f"{URL}/dir", content=b"y").status_code == 409
    assert admin.put(f"{URL}/dir/inner.bin/sub.bin", content=b"z").status_code == 409


def test_delete_file_and_folder_recursively(admin: httpx.Client) -> None:
    for name in ("t/a.bin", "t/s/b.bin", "t2.bin"):
        admin.put(f"{URL}/{name}", content=b"x")
    assert admin.delete(f"{URL}/t/a.bin").status_code == 204
    assert not item_exists(admin, DEV_REPO, "t/a.bin")
    assert admin.delete(f"{URL}/t").status_code == 204
    assert not item_exists(admin, DEV_REPO, "t/s/b.bin")
    assert item_exists(admin, DEV_REPO, "t2.bin")


def test_delete_missing_is_404(admin: httpx.Client) -> None:
    assert errors(admin.delete(f"{URL}/nope.bin")) == [(404, f"Could not locate artifact '{DEV_REPO}:nope.bin'.")]


def test_deploy_to_unknown_repo_is_404(admin: httpx.Client) -> None:
    response = admin.put("/artifactory/no-such-repo/a.bin", content=b"x")
    assert errors(response) == [(404, "Repository no-such-repo doesn't exist")]


@pytest.mark.parametrize(
    "raw_path",
    [
        f"/artifactory/{DEV_REPO}/../ml-models-prod-local/evil.bin",
        f"/artifactory/{DEV_REPO}/a/%2e%2e/evil.bin",
        f"/artifactory/{DEV_REPO}/a%2F..%2F..%2Fevil.bin",
        f"/artifactory/{DEV_REPO}/a%5Cevil.bin",
        f"/artifactory/{DEV_REPO}/a/evil%00.bin",
        f"/artifactory/{DEV_REPO}/./evil.bin",
    ],
)
def test_traversal_attempts_are_400_and_store_nothing(
    sandbox: SandboxHandle, admin: httpx.Client, raw_path: str
) -> None:
    request = (
        f"PUT {raw_path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sandbox.admin_token}\r\n"
        "Content-Length: 4\r\n\r\nevil"
    ).encode()
    answer = raw_exchange(sandbox.url, request)
    assert status_of(answer) == 400
    assert b"Invalid path" in answer
    listing = admin.get(f"/artifactory/api/storage/{DEV_REPO}?list&deep=1").json()["files"]
    prod = admin.get("/artifactory/api/storage/ml-models-prod-local?list&deep=1").json()["files"]
    assert listing == prod == []


def test_client_dying_mid_upload_leaves_nothing(sandbox: SandboxHandle, admin: httpx.Client) -> None:
    port = int(sandbox.url.rsplit(":", 1)[1])
    head = (
        f"PUT {URL}/cut.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sandbox.admin_token}\r\n"
        "Content-Length: 10000000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head + b"x" * 3_000_000)
    log = _wait_for_request(admin, "/cut.bin")
    assert log["status"] == 0
    assert not item_exists(admin, DEV_REPO, "cut.bin")
    assert list((sandbox.data_dir / "filestore" / "_tmp").iterdir()) == []


def _wait_for_request(admin: httpx.Client, suffix: str) -> dict[str, object]:
    for _ in range(200):
        entries = [e for e in admin.get("/_sandbox/requests").json() if e["path"].endswith(suffix)]
        if entries:
            return entries[-1]  # type: ignore[no-any-return]
        threading.Event().wait(0.02)
    raise AssertionError(f"no request ending in {suffix} was logged")


def test_concurrent_uploads_to_one_path_leave_one_whole_file(admin: httpx.Client) -> None:
    bodies = [bytes([n]) * 2_500_000 for n in range(4)]
    statuses: list[int] = []

    def upload(body: bytes) -> None:
        response = admin.put(f"{URL}/race.bin", content=body, headers={"X-Checksum-Sha1": checksums(body)["sha1"]})
        statuses.append(response.status_code)

    threads = [threading.Thread(target=upload, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = admin.get(f"{URL}/race.bin").content
    assert statuses == [201] * 4
    assert stored in bodies
    info = admin.get(f"/artifactory/api/storage/{DEV_REPO}/race.bin").json()
    assert info["checksums"] == checksums(stored)


def test_identical_content_is_stored_once(sandbox: SandboxHandle, admin: httpx.Client) -> None:
    admin.put(f"{URL}/one.bin", content=DATA)
    admin.put(f"{URL}/two.bin", content=DATA)
    stored = [p for p in (sandbox.data_dir / "filestore").rglob("*") if p.is_file()]
    assert [p.name for p in stored] == [checksums(DATA)["sha256"]]
