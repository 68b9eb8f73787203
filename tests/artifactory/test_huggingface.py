"""The Hugging Face protocol client against a fake server: credentials, answers it refuses, encodings.

The real exchange with a server is in tests/e2e/test_huggingface.py (and the sandbox's own tests run
the real huggingface_hub); here are what only a fake can show.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ml_artifactory_action.artifactory import huggingface as hf
from ml_artifactory_action.artifactory.auth import BearerAuth
from ml_artifactory_action.artifactory.client import ArtifactoryClient, build_http_client
from ml_artifactory_action.errors import ArtifactoryError
from tests.artifactory.conftest import ARTIFACTORY, PLATFORM

TOKEN = "secret-access-token"
SIGNED = "https://storage.example.com/lfs/abc?signature=xyz"
TARGET = hf.HfTarget("hf-local", "acme/tiny", "v1")

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def seen() -> list[httpx.Request]:
    return []


def _client(handler: Handler, seen: list[httpx.Request]) -> Iterator[ArtifactoryClient]:
    def record(request: httpx.Request) -> httpx.Response:
        request.read()
        seen.append(request)
        return handler(request)

    http = build_http_client(auth=BearerAuth(TOKEN), transport=httpx.MockTransport(record))
    yield ArtifactoryClient(PLATFORM, http)
    http.close()


def _file(tmp_path: Path, data: bytes = b"\x00weights" * 10) -> hf.HfFile:
    local = tmp_path / "model.bin"
    local.write_bytes(data)
    return hf.HfFile("model.bin", local, len(data), hashlib.sha256(data).hexdigest())


def test_the_signed_upload_url_gets_no_jfrog_credentials(tmp_path: Path, seen: list[httpx.Request]) -> None:
    file = _file(tmp_path)
    for client in _client(lambda _: httpx.Response(200), seen):
        hf.send_object(client, SIGNED, file)

    [put] = seen
    assert (put.method, str(put.url)) == ("PUT", SIGNED)
    assert "authorization" not in put.headers
    assert put.content == file.local.read_bytes()


def test_api_calls_carry_the_credentials_and_the_revision(tmp_path: Path, seen: list[httpx.Request]) -> None:
    file = _file(tmp_path)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"objects": [{"oid": file.sha256, "size": file.size}]})

    for client in _client(answer, seen):
        assert hf.missing_objects(client, TARGET, [file]) == {}  # the server has it: nothing to send

    [batch] = seen
    assert str(batch.url) == f"{ARTIFACTORY}/api/huggingfaceml/hf-local/acme/tiny.git/info/lfs/objects/batch"
    assert batch.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(batch.content)["ref"] == {"name": "v1"}


@pytest.mark.parametrize(
    ("call", "body", "message"),
    [
        (
            "modes",
            {"files": [{"path": "other.bin", "uploadMode": "lfs"}]},
            "preupload gave no upload mode for model.bin",
        ),
        ("modes", {"files": "nope"}, "has no 'files' list"),
        ("batch", {"objects": [{"oid": "x", "size": 1, "error": {"code": 422}}]}, "LFS batch refused x"),
        ("commit", {"commitUrl": "x"}, "has no commitOid"),
        ("commit", ["not", "an", "object"], "is not a JSON object"),
    ],
)
def test_answers_it_cannot_use_are_artifactory_errors(
    tmp_path: Path, seen: list[httpx.Request], call: str, body: object, message: str
) -> None:
    file = _file(tmp_path)
    calls = {
        "modes": lambda c: hf.upload_modes(c, TARGET, [file]),
        "batch": lambda c: hf.missing_objects(c, TARGET, [file]),
        "commit": lambda c: hf.commit(c, TARGET, "s", [], [file]),
    }
    for client in _client(lambda _: httpx.Response(200, json=body), seen):
        with pytest.raises(ArtifactoryError, match=message):
            calls[call](client)


def test_properties_are_escaped_for_the_storage_api(seen: list[httpx.Request]) -> None:
    for client in _client(lambda _: httpx.Response(204), seen):
        hf.set_properties(client, "hf-local", "models/acme/tiny/v1_x", (("note", ("a,b", "c;d")), ("k", ("v\\",))))

    [put] = seen
    query = parse_qs(urlsplit(str(put.url)).query)
    assert query == {"properties": ["note=a\\,b,c\\;d;k=v\\\\"], "recursive": ["1"]}
    assert put.url.path == "/artifactory/api/storage/hf-local/models/acme/tiny/v1_x"
