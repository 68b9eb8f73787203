"""Deploying one file: request shapes of checksum deploy and streaming PUT, and the arrival check."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from ml_artifactory_action.artifactory.client import ArtifactoryClient, build_http_client
from ml_artifactory_action.artifactory.deploy import Deployed, deploy_by_checksum, deploy_each, deploy_file
from ml_artifactory_action.errors import ArtifactoryError, IntegrityError, ModelFilesError
from ml_artifactory_action.model.checksums import BLOCK_SIZE

from .conftest import ARTIFACTORY, PLATFORM

PROPS = (("build.name", ("fraud model",)), ("build.number", ("7",)), ("note", ("a;b=c",)))
MATRIX = ";build.name=fraud+model;build.number=7;note=a%3Bb%3Dc"


class FakeArtifactory(httpx.BaseTransport):
    """Stores what it is sent; answers deploys as Artifactory does (201 body with checksums).

    A transport of its own (not MockTransport, which reads the whole body first) so that the
    blocks arrive as the client writes them.
    """

    def __init__(self) -> None:
        self.binaries: dict[str, bytes] = {}
        self.requests: list[httpx.Request] = []
        self.blocks: list[int] = []
        self.script: list[int] = []  # statuses to answer first, one per request
        self.corrupt = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = b""
        for block in request.stream:  # type: ignore[union-attr]  # sync streams here
            if block:
                self.blocks.append(len(block))
                body += block
        if self.script:
            return httpx.Response(self.script.pop(0), json={"errors": [{"status": 0, "message": "scripted"}]})
        if request.method == "DELETE":
            return httpx.Response(204)
        return self.deploy(request, body)

    def deploy(self, request: httpx.Request, body: bytes) -> httpx.Response:
        path = unquote(request.url.raw_path.decode().split(";")[0].removeprefix("/artifactory/"))
        if request.headers.get("X-Checksum-Deploy") == "true":
            body = self.binaries.get(request.headers["X-Checksum-Sha256"], b"")
            if not body:
                return httpx.Response(404, json={"errors": [{"status": 404, "message": "Checksum deploy failed"}]})
        sha256 = hashlib.sha256(body).hexdigest()
        if request.headers.get("X-Checksum-Sha256", sha256) != sha256:
            return httpx.Response(409, json={"errors": [{"status": 409, "message": "Checksum policy rejected"}]})
        self.binaries[sha256] = body
        stored = hashlib.sha256(body + b"!").hexdigest() if self.corrupt else sha256
        repo, _, item = path.partition("/")
        return httpx.Response(
            201,
            json={
                "repo": repo,
                "path": f"/{item}",
                "downloadUri": f"{ARTIFACTORY}/{repo}/{item}",
                "size": str(len(body)),
                "checksums": {
                    "sha1": hashlib.sha1(body, usedforsecurity=False).hexdigest(),
                    "md5": hashlib.md5(body, usedforsecurity=False).hexdigest(),
                    "sha256": stored,
                },
            },
        )


@pytest.fixture
def server() -> FakeArtifactory:
    return FakeArtifactory()


@pytest.fixture
def client(server: FakeArtifactory) -> Iterator[ArtifactoryClient]:
    with build_http_client(transport=server) as http:
        yield ArtifactoryClient(PLATFORM, http)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.bin"
    path.write_bytes(b"w" * (2 * BLOCK_SIZE + 5))
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_new_file_streams_in_blocks_with_content_length(
    client: ArtifactoryClient, server: FakeArtifactory, model: Path
) -> None:
    size = model.stat().st_size
    answer, sha256 = deploy_file(client, "models", "fraud/7/my model.bin", local=model, size=size, props=PROPS)
    [request] = server.requests
    assert request.method == "PUT"
    assert request.url.raw_path.decode() == f"/artifactory/models/fraud/7/my%20model.bin{MATRIX}"
    assert request.headers["Content-Length"] == str(size)
    assert "Transfer-Encoding" not in request.headers
    assert "X-Checksum-Sha256" not in request.headers  # not known before sending: checked on arrival
    assert server.blocks == [BLOCK_SIZE, BLOCK_SIZE, 5]
    assert sha256 == sha256_of(model)
    assert answer == Deployed(
        repo="models",
        path="fraud/7/my model.bin",
        size=size,
        sha1=hashlib.sha1(model.read_bytes(), usedforsecurity=False).hexdigest(),
        sha256=sha256,
        md5=hashlib.md5(model.read_bytes(), usedforsecurity=False).hexdigest(),
        download_uri=f"{ARTIFACTORY}/models/fraud/7/my model.bin",
    )


def test_a_known_checksum_is_sent_for_the_server_to_check(
    client: ArtifactoryClient, server: FakeArtifactory, model: Path
) -> None:
    deploy_file(client, "models", "m.bin", local=model, size=model.stat().st_size, props=(), sha256=sha256_of(model))
    assert server.requests[0].headers["X-Checksum-Sha256"] == sha256_of(model)


def test_a_wrong_known_checksum_is_refused_by_the_server(client: ArtifactoryClient, model: Path) -> None:
    with pytest.raises(ArtifactoryError) as caught:
        deploy_file(client, "models", "m.bin", local=model, size=model.stat().st_size, props=(), sha256="0" * 64)
    assert caught.value.status == 409


def test_semicolons_and_hashes_in_paths_are_escaped(
    client: ArtifactoryClient, server: FakeArtifactory, tmp_path: Path
) -> None:
    local = tmp_path / "x"
    local.write_bytes(b"x")
    deploy_file(client, "models", "a;b/c#d?.bin", local=local, size=1, props=(("k", ("v",)),))
    assert server.requests[0].url.raw_path.decode() == "/artifactory/models/a%3Bb/c%23d%3F.bin;k=v"


def test_a_retried_upload_sends_the_whole_file_again(
    client: ArtifactoryClient, server: FakeArtifactory, model: Path
) -> None:
    server.script = [503]
    attempts: list[int] = []
    _, sha256 = deploy_file(
        client,
        "models",
        "m.bin",
        local=model,
        size=model.stat().st_size,
        props=(),
        on_attempt=lambda: attempts.append(1),
    )
    assert len(attempts) == 2
    assert server.blocks == [BLOCK_SIZE, BLOCK_SIZE, 5] * 2
    assert sha256 == sha256_of(model)


def test_progress_is_told_every_block(client: ArtifactoryClient, model: Path) -> None:
    blocks: list[int] = []
    deploy_file(client, "models", "m.bin", local=model, size=model.stat().st_size, props=(), on_block=blocks.append)
    assert sum(blocks) == model.stat().st_size


def test_a_mismatch_on_arrival_deletes_the_item_and_fails(
    client: ArtifactoryClient, server: FakeArtifactory, model: Path
) -> None:
    server.corrupt = True
    with pytest.raises(IntegrityError) as caught:
        deploy_file(client, "models", "fraud/m.bin", local=model, size=model.stat().st_size, props=())
    assert [r.method for r in server.requests] == ["PUT", "DELETE"]
    assert server.requests[1].url.path == "/artifactory/models/fraud/m.bin"
    assert caught.value.message.startswith("models/fraud/m.bin was stored with SHA-256 ")
    assert caught.value.message.endswith(f"instead of {sha256_of(model)}. The stored item was deleted.")


def test_checksum_deploy_sends_no_body(client: ArtifactoryClient, server: FakeArtifactory, model: Path) -> None:
    sha256 = sha256_of(model)
    server.binaries[sha256] = model.read_bytes()
    answer = deploy_by_checksum(
        client, "models", "fraud/7/m.bin", sha256=sha256, size=model.stat().st_size, props=PROPS
    )
    [request] = server.requests
    assert request.url.raw_path.decode() == f"/artifactory/models/fraud/7/m.bin{MATRIX}"
    assert request.headers["X-Checksum-Deploy"] == "true"
    assert request.headers["X-Checksum-Sha256"] == sha256
    assert request.headers["Content-Length"] == "0"
    assert server.blocks == []
    assert answer is not None
    assert answer.sha256 == sha256


def test_checksum_deploy_of_unknown_content_is_none(client: ArtifactoryClient, model: Path) -> None:
    assert deploy_by_checksum(client, "models", "m.bin", sha256=sha256_of(model), size=1, props=()) is None


def test_checksum_deploy_answer_is_checked_too(client: ArtifactoryClient, server: FakeArtifactory, model: Path) -> None:
    sha256 = sha256_of(model)
    server.binaries[sha256] = model.read_bytes()
    with pytest.raises(
        IntegrityError,
        match=r"models/m\.bin was stored with 2097157 bytes instead of 5\. The stored item was deleted\.$",
    ):
        deploy_by_checksum(client, "models", "m.bin", sha256=sha256, size=5, props=())


def test_an_answer_without_body_fails_closed(model: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201) if request.method == "PUT" else httpx.Response(204)

    with build_http_client(transport=httpx.MockTransport(handler)) as http:
        client = ArtifactoryClient(PLATFORM, http)
        with pytest.raises(IntegrityError, match=r"was stored with SHA-256 \(none\)"):
            deploy_file(client, "r", "m.bin", local=model, size=model.stat().st_size, props=())


def test_the_answer_parser_tolerates_what_servers_send() -> None:
    answer = Deployed.from_answer(json.loads('{"size": 3, "checksums": null}'), "r", "p/x", "u")
    assert answer == Deployed("r", "p/x", 3, "", "", "", "u")


# Several files ----------------------------------------------------------------------------------
def test_deploy_each_without_pool_for_one_worker_keeps_order() -> None:
    done: list[int] = []
    deploy_each(lambda n: n * 10, [1, 2, 3], workers=1, done=done, name=str)
    assert done == [10, 20, 30]


def test_deploy_each_uses_at_most_the_workers_asked_for() -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def work(n: int) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return n

    done: list[int] = []
    deploy_each(work, list(range(12)), workers=3, done=done, name=str)
    assert sorted(done) == list(range(12))
    assert peak[0] == 3


def test_deploy_each_names_the_failing_file_and_keeps_what_succeeded() -> None:
    def work(name: str) -> str:
        if name == "bad.bin":
            raise ArtifactoryError("uploading it: PUT x answered 500: boom")
        return name

    done: list[str] = []
    with pytest.raises(ArtifactoryError) as caught:
        deploy_each(work, ["a.bin", "bad.bin"], workers=1, done=done, name=lambda n: f"/ws/{n}")
    assert caught.value.message == "/ws/bad.bin: uploading it: PUT x answered 500: boom"
    assert str(caught.value) == caught.value.message
    assert done == ["a.bin"]


def test_deploy_each_reports_every_failure_of_parallel_workers() -> None:
    gate = threading.Barrier(2)

    def work(name: str) -> str:
        gate.wait(timeout=5)  # both fail together
        raise IntegrityError(f"{name} differs")

    with pytest.raises(IntegrityError) as caught:
        deploy_each(work, ["a", "b"], workers=2, done=[], name=lambda n: n)
    assert caught.value.message == "a: a differs. Also failed: b: b differs"


def test_deploy_each_turns_a_read_error_into_a_model_files_error() -> None:
    def work(name: str) -> str:
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(ModelFilesError, match=r"^/ws/m\.bin: cannot be read: No such file or directory$"):
        deploy_each(work, ["m.bin"], workers=4, done=[], name=lambda n: f"/ws/{n}")
