"""Turning HTTP failures into our errors: JFrog's message, the status, the request id, a safe URL."""

from __future__ import annotations

import httpx
import pytest

from ml_artifactory_action.artifactory.http_errors import error_for, raise_for_jfrog, safe_url, server_message
from ml_artifactory_action.errors import ArtifactoryError, AuthenticationError


def answer(status: int, url: str = "https://acme.jfrog.io/artifactory/r/a.bin", **kwargs: object) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("PUT", url), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"errors": [{"status": 404, "message": "File not found."}]}, "File not found."),
        ({"errors": [{"status": 400, "message": "a"}, {"status": 400, "message": "b"}]}, "a; b"),
        ({"error": "Build not found"}, "Build not found"),
        ({"message": "Xray says no"}, "Xray says no"),
        ({"detail": "access denied"}, "access denied"),
    ],
)
def test_jfrog_envelopes(body: object, message: str) -> None:
    assert server_message(answer(400, json=body)) == message


def test_plain_text_and_long_bodies_are_cut() -> None:
    assert server_message(answer(502, text="Bad Gateway\n")) == "Bad Gateway"
    assert len(server_message(answer(500, text="x" * 5000))) == 500


def test_safe_url_drops_user_info_and_secret_query_values() -> None:
    url = "https://user:hunter2@acme.jfrog.io/artifactory/r?token=abc&name=m&X-Amz-Signature=s&api_key=k"
    assert safe_url(url) == "https://acme.jfrog.io/artifactory/r?token=***&name=m&X-Amz-Signature=***&api_key=***"


def test_safe_url_drops_matrix_parameters() -> None:
    assert safe_url("https://acme.jfrog.io/artifactory/r/a%3Bb.bin;build.name=x;k=v") == (
        "https://acme.jfrog.io/artifactory/r/a%3Bb.bin"
    )


def test_the_error_keeps_status_request_id_and_safe_url() -> None:
    response = answer(
        409,
        url="https://u:p@acme.jfrog.io/artifactory/r/a.bin?token=t",
        json={"errors": [{"status": 409, "message": "Checksum policy rejected the artifact"}]},
        headers={"X-Request-Id": "req-42"},
    )
    error = error_for(response, action="uploading a.bin")
    assert type(error) is ArtifactoryError
    assert error.status == 409
    assert error.request_id == "req-42"
    assert error.url == "https://acme.jfrog.io/artifactory/r/a.bin?token=***"
    assert error.message == (
        "uploading a.bin: PUT https://acme.jfrog.io/artifactory/r/a.bin?token=*** answered 409: "
        "Checksum policy rejected the artifact (request id req-42)"
    )
    assert "checksum did not match" in error.fix


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_authentication_errors(status: int) -> None:
    assert isinstance(error_for(answer(status)), AuthenticationError)


def test_an_empty_body_falls_back_to_the_reason_phrase() -> None:
    assert error_for(answer(503)).message.endswith("answered 503: Service Unavailable")


def test_success_passes_through() -> None:
    ok = answer(201)
    assert raise_for_jfrog(ok) is ok
    with pytest.raises(ArtifactoryError):
        raise_for_jfrog(answer(500))
