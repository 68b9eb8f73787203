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


# Pre-signed object-store URLs, shaped as their providers document them. A repository with direct
# cloud-storage download redirects a download to one (jfrog-api.md 4.2), and git LFS hands one out.
# AWS, "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)": "The following is
#   an example presigned URL. https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=
#   AWS4-HMAC-SHA256&X-Amz-Credential=<your-access-key-id>/20130721/us-east-1/s3/aws4_request&
#   X-Amz-Date=20130721T201207Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=
#   <signature-value>"; temporary credentials add X-Amz-Security-Token.
# Google Cloud Storage, "V4 signing process with Cloud Storage tools" (gcloud storage sign-url output):
#   "signed_url: https://storage.googleapis.com/example-bucket/cat.jpeg?x-goog-signature=11ae9c61ca84...
#   &x-goog-algorithm=GOOG4-RSA-SHA256&x-goog-credential=example%40example-project.iam.gserviceaccount.com
#   %2F20230714%2Fus%2Fstorage%2Fgoog4_request&x-goog-date=20230714T231935Z&x-goog-expires=600&
#   x-goog-signedheaders=host"; the V2 form carries GoogleAccessId, Expires and Signature.
# Azure, "Identify URI and SAS parameters": "https://myaccount.blob.core.windows.net/?restype=service&
#   comp=properties&sv=2015-04-05&ss=bf&st=2015-04-29T22%3A18%3A26Z&se=2015-04-30T02%3A23%3A26Z&sr=b&
#   sp=rw&sip=168.1.5.60-168.1.5.70&spr=https&sig=F%6GRVAZ5Cdj2Pw4tgU7IlSTkWgn7bUkkAg8P6HESXwmf%4B".
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SIGNATURE = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
AWS_SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLEsessiontoken"
GCS_ACCOUNT = "example%40example-project.iam.gserviceaccount.com"
GCS_SIGNATURE = "11ae9c61ca84dd0bec319f7d52a38029e5873caa2eeced0568"
AZURE_SIGNATURE = "F%6GRVAZ5Cdj2Pw4tgU7IlSTkWgn7bUkkAg8P6HESXwmf%4B"
AWS_PRESIGNED = (
    "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    f"&X-Amz-Credential={AWS_KEY_ID}%2F20130721%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130721T201207Z"
    f"&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Security-Token={AWS_SESSION_TOKEN}"
    f"&X-Amz-Signature={AWS_SIGNATURE}"
)
GCS_SIGNED = (
    f"https://storage.googleapis.com/example-bucket/cat.jpeg?x-goog-signature={GCS_SIGNATURE}"
    f"&x-goog-algorithm=GOOG4-RSA-SHA256&x-goog-credential={GCS_ACCOUNT}%2F20230714%2Fus%2Fstorage%2Fgoog4_request"
    "&x-goog-date=20230714T231935Z&x-goog-expires=600&x-goog-signedheaders=host"
)
GCS_SIGNED_V2 = (
    f"https://storage.googleapis.com/example-bucket/cat.jpeg?GoogleAccessId={GCS_ACCOUNT}"
    f"&Expires=1458238630&Signature={GCS_SIGNATURE}"
)
AZURE_SAS = (
    "https://myaccount.blob.core.windows.net/?restype=service&comp=properties&sv=2015-04-05&ss=bf"
    "&st=2015-04-29T22%3A18%3A26Z&se=2015-04-30T02%3A23%3A26Z&sr=b&sp=rw&sip=168.1.5.60-168.1.5.70&spr=https"
    f"&sig={AZURE_SIGNATURE}"
)
SIGNED_URL_SECRETS = [
    (
        AWS_PRESIGNED,
        ["X-Amz-Credential", "X-Amz-Security-Token", "X-Amz-Signature"],
        [AWS_KEY_ID, AWS_SESSION_TOKEN, AWS_SIGNATURE],
    ),
    (GCS_SIGNED, ["x-goog-signature", "x-goog-credential"], ["example-project", GCS_SIGNATURE]),
    (GCS_SIGNED_V2, ["GoogleAccessId", "Signature"], ["example-project", GCS_SIGNATURE]),
    (AZURE_SAS, ["sig"], ["GRVAZ5Cdj2Pw4tgU7IlSTkWgn7bUkkAg8P6HESXwmf"]),
]


@pytest.mark.parametrize(("url", "names", "secrets"), SIGNED_URL_SECRETS)
def test_safe_url_hides_the_credentials_of_pre_signed_storage_urls(
    url: str, names: list[str], secrets: list[str]
) -> None:
    shown = safe_url(url)
    assert shown.startswith(url.split("?", 1)[0] + "?")  # the user still sees which object it was
    for name in names:
        assert f"{name}=***" in shown
    for secret in secrets:
        assert secret not in shown


def test_an_error_from_a_pre_signed_url_names_its_parameters_without_their_values() -> None:
    response = httpx.Response(
        403, request=httpx.Request("GET", AWS_PRESIGNED), text="<Error><Code>AccessDenied</Code></Error>"
    )
    message = error_for(response, action="Downloading the model").message
    assert message.startswith(
        "Downloading the model: GET https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=***&X-Amz-Date=20130721T201207Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=***"
        "&X-Amz-Security-Token=***&X-Amz-Signature=*** answered 403"
    )


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
