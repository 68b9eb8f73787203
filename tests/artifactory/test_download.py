from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from artifactory_sandbox.testing import run_sandbox
from ml_artifactory_action.artifactory.auth import BearerAuth
from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.download import download_item, is_current
from ml_artifactory_action.artifactory.models import Item
from ml_artifactory_action.artifactory.retry import RetryPolicy
from ml_artifactory_action.errors import ArtifactoryError, IntegrityError
from tests.fakes.jfrog import PLATFORM_URL, FakeJFrog

CONTENT = b"model weights " * 100_000  # 1.4 MB: more than one block
ITEM = Item("prod", "fraud/7", "model one.bin", size=len(CONTENT), sha256=hashlib.sha256(CONTENT).hexdigest())
PATH = r"/artifactory/prod/fraud/7/model%20one.bin"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_download_streams_to_the_destination_and_reports_progress(tmp_path: Path) -> None:
    fake = FakeJFrog()
    fake.on("GET", PATH, httpx.Response(200, content=CONTENT))
    progress: list[int] = []
    destination = tmp_path / "out" / "model one.bin"

    received = download_item(fake.client(), ITEM, destination, progress=progress.append)

    assert received == len(CONTENT)
    assert destination.read_bytes() == CONTENT
    assert sum(progress) == len(CONTENT)
    assert leftovers(destination.parent) == ["model one.bin"]
    assert is_current(destination, ITEM)


def test_a_corrupt_download_leaves_nothing_behind(tmp_path: Path) -> None:
    fake = FakeJFrog()
    fake.on("GET", PATH, httpx.Response(200, content=CONTENT[:-1] + b"X"))
    destination = tmp_path / "model one.bin"

    with pytest.raises(IntegrityError) as caught:
        download_item(fake.client(), ITEM, destination)

    assert f"but Artifactory records {ITEM.sha256}" in caught.value.message
    assert leftovers(tmp_path) == []


def test_a_file_already_in_place_is_current_only_with_the_same_content(tmp_path: Path) -> None:
    path = tmp_path / "m.bin"
    path.write_bytes(CONTENT)
    assert is_current(path, ITEM)
    path.write_bytes(CONTENT[:-1] + b"X")
    assert not is_current(path, ITEM)
    assert not is_current(tmp_path / "missing", ITEM)


def test_transient_failures_are_retried_and_permanent_ones_are_not(tmp_path: Path) -> None:
    fake = FakeJFrog()
    fake.on("GET", PATH, httpx.Response(503, text="busy"), httpx.Response(200, content=CONTENT))
    client = ArtifactoryClient(
        PLATFORM_URL, httpx.Client(transport=fake.transport), policy=RetryPolicy(attempts=3, wait_initial=0, wait_max=0)
    )

    download_item(client, ITEM, tmp_path / "m.bin")
    assert len(fake.requests) == 2

    gone = FakeJFrog()
    gone.on("GET", PATH, httpx.Response(404, json={"errors": [{"status": 404, "message": "File not found."}]}))
    client = ArtifactoryClient(
        PLATFORM_URL, httpx.Client(transport=gone.transport), policy=RetryPolicy(attempts=3, wait_initial=0, wait_max=0)
    )
    with pytest.raises(ArtifactoryError, match=r"answered 404: File not found."):
        download_item(client, ITEM, tmp_path / "other.bin")
    assert len(gone.requests) == 1
    assert not (tmp_path / "other.bin").exists()


def test_a_connection_failure_names_the_url(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = ArtifactoryClient(
        PLATFORM_URL,
        httpx.Client(transport=httpx.MockTransport(refuse)),
        policy=RetryPolicy(attempts=2, wait_initial=0, wait_max=0),
    )
    with pytest.raises(
        ArtifactoryError, match=r"Downloading https://acme.jfrog.io/artifactory/prod/fraud/7/model%20one.bin failed"
    ):
        download_item(client, ITEM, tmp_path / "m.bin")
    assert leftovers(tmp_path) == []


# Redirects. JFrog's client follows them for downloads (jfrog-client-go http/httpclient/client.go:
# `downloadFile(..., followRedirect=true)`; jfrog-api.md 4.2: "a repository with direct cloud-storage
# download (`downloadRedirect`) or CDN redirect answers a download with 302 to a signed storage URL").
# Which credentials go along is decided as httpx decides for its own redirects (`_redirect_headers`:
# "Strip Authorization headers when responses are redirected away from the origin").
TOKEN = "Bearer download-token"


def redirecting_server(location: str, seen: list[tuple[str, str | None, str | None]]) -> httpx.MockTransport:
    """Artifactory at PLATFORM_URL answering the item with 302 to `location`, which serves CONTENT."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("Authorization"), request.headers.get("Cookie")))
        if request.url.path == "/artifactory/prod/fraud/7/model one.bin":
            return httpx.Response(302, headers={"Location": location})
        return httpx.Response(200, content=CONTENT)

    return httpx.MockTransport(handle)


def redirected_client(transport: httpx.MockTransport) -> ArtifactoryClient:
    http = httpx.Client(transport=transport, headers={"Authorization": TOKEN}, cookies={"SESSION": "s3cr3t"})
    return ArtifactoryClient(PLATFORM_URL, http, policy=RetryPolicy(attempts=1))


@pytest.mark.parametrize(
    ("location", "credentials_at_target"),
    [
        ("/artifactory/storage/blob?signature=abc", True),  # same origin: kept, as httpx keeps them
        ("https://storage.example.com/blob?signature=abc", False),  # another host: dropped
        (f"{PLATFORM_URL}:8443/blob?signature=abc", False),  # same host, another port: another origin
    ],
)
def test_a_redirected_download_sends_credentials_only_within_the_origin(
    tmp_path: Path, location: str, credentials_at_target: bool
) -> None:
    seen: list[tuple[str, str | None, str | None]] = []
    client = redirected_client(redirecting_server(location, seen))

    assert download_item(client, ITEM, tmp_path / "m.bin") == len(CONTENT)

    [(_, first_auth, first_cookie), (target, auth, cookie)] = seen
    assert (first_auth, first_cookie) == (TOKEN, "SESSION=s3cr3t")
    assert target == str(httpx.URL(f"{PLATFORM_URL}/artifactory/prod/fraud/7/x").join(location))
    assert (auth is not None, cookie is not None) == (credentials_at_target, credentials_at_target)


def test_a_refused_signed_url_is_reported_without_its_credentials(tmp_path: Path) -> None:
    """The storage refuses the redirect's pre-signed URL (expired, say): the error names the URL the
    refusal came from with its parameter names, not the access key id or the signature."""
    signed = (
        "https://examplebucket.s3.amazonaws.com/fraud/7?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130721%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Expires=86400&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "examplebucket.s3.amazonaws.com":
            return httpx.Response(
                403, text="<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            )
        return httpx.Response(302, headers={"Location": signed})

    with pytest.raises(ArtifactoryError) as raised:
        download_item(redirected_client(httpx.MockTransport(handle)), ITEM, tmp_path / "m.bin")
    assert raised.value.message.startswith(
        "Downloading the model: GET https://examplebucket.s3.amazonaws.com/fraud/7?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=***&X-Amz-Expires=86400&X-Amz-Signature=*** answered 403: "
    )
    assert "AKIA" not in str(raised.value) + raised.value.url
    assert leftovers(tmp_path) == []


def test_endless_redirects_are_an_error(tmp_path: Path) -> None:
    client = redirected_client(redirecting_server("/artifactory/prod/fraud/7/model%20one.bin", []))
    with pytest.raises(ArtifactoryError, match="more than 5 redirects"):
        download_item(client, ITEM, tmp_path / "m.bin")
    assert leftovers(tmp_path) == []


def test_a_repository_with_direct_cloud_storage_download_serves_through_its_signed_url(tmp_path: Path) -> None:
    """The sandbox's redirecting repository: 302 to its storage on another port, which refuses any
    Authorization header (as a pre-signed object-store URL does) and serves the blob."""
    with run_sandbox(tmp_path / "sandbox") as sandbox:
        headers = {"Authorization": f"Bearer {sandbox.admin_token}"}
        with httpx.Client(base_url=sandbox.artifactory_url, headers=headers) as admin:
            admin.put("/api/repositories/prod", json={"rclass": "local", "downloadRedirect": True}).raise_for_status()
            admin.put("/prod/fraud/7/model%20one.bin", content=CONTENT).raise_for_status()
            assert admin.get("/prod/fraud/7/model%20one.bin").status_code == 302
        with httpx.Client(auth=BearerAuth(sandbox.admin_token), cookies={"SESSION": "s3cr3t"}) as http:
            client = ArtifactoryClient(sandbox.url, http)
            assert download_item(client, ITEM, tmp_path / "m.bin") == len(CONTENT)
        storage = sandbox.server.ctx.blob_store()
        assert [credentials for _, credentials in storage.seen] == [()]
    assert (tmp_path / "m.bin").read_bytes() == CONTENT
