"""The one function that turns an HTTP failure into our errors.

It reads JFrog's error envelope (`{"errors":[{"status":..,"message":..}]}`, Xray's `{"error":..}`,
or plain text), keeps the status, the server's message, the request id and the URL with every
secret removed, and picks the error class and fix for the status.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from ml_artifactory_action.errors import ArtifactoryError, AuthenticationError

MAX_MESSAGE = 500
# Query parameter names whose values are hidden. Besides tokens, passwords and keys, the proof a
# pre-signed object-store URL carries: S3 X-Amz-Signature, X-Amz-Credential (the access key id),
# X-Amz-Security-Token; GCS X-Goog-Signature, X-Goog-Credential, and GoogleAccessId + Signature in
# the V2 form; Azure SAS `sig`.
_SECRET_QUERY = re.compile(r"token|password|passwd|secret|signature|sig|key|auth|credential|accessid", re.IGNORECASE)
REQUEST_ID_HEADERS = ("X-Request-Id", "X-JFrog-Request-Id", "X-Artifactory-Request-Id")


def safe_url(url: str | httpx.URL) -> str:
    """The URL without user info, matrix parameters (the properties of a deploy, long and not
    the user's concern in an error) and with secret-looking query values replaced by ***."""
    parts = urlsplit(str(url))
    netloc = parts.netloc.rpartition("@")[2]
    query = urlencode(
        [(k, "***" if _SECRET_QUERY.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)],
        safe="*",  # show *** as written, not %2A%2A%2A
    )
    path = parts.path.split(";", 1)[0]
    return urlunsplit((parts.scheme, netloc, path, query, parts.fragment))


def server_message(response: httpx.Response) -> str:
    """JFrog's message from the body, whatever envelope it came in (the body must be read)."""
    text = response.text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:MAX_MESSAGE]
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            return "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)[:MAX_MESSAGE]
        for key in ("error", "message", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])[:MAX_MESSAGE]
    return text[:MAX_MESSAGE]


def error_for(response: httpx.Response, *, action: str = "") -> ArtifactoryError:
    """The error to raise for a failed response; `action` says what we were doing."""
    status = response.status_code
    url = safe_url(response.request.url)
    request_id = next((response.headers[h] for h in REQUEST_ID_HEADERS if h in response.headers), "")
    detail = server_message(response) or response.reason_phrase
    doing = f"{action}: " if action else ""
    message = f"{doing}{response.request.method} {url} answered {status}: {detail}"
    if request_id:
        message += f" (request id {request_id})"
    cls = AuthenticationError if status in (401, 403) else ArtifactoryError
    return cls(message, status=status, url=url, request_id=request_id, fix=_fix_for(status))


def _fix_for(status: int) -> str:
    return {
        401: "Check the credentials: access-token, user + password, or the OIDC integration (oidc-provider-name).",
        403: "The credentials are valid but lack a permission: grant the user or token deploy/read/annotate rights on the repository, or manage rights for builds.",
        404: "Check the URL and that the repository, path or build exists.",
        409: "The server refused the content: a checksum did not match, or the item conflicts with what is stored.",
        429: "The server is rate limiting; retry later or lower max-workers.",
    }.get(status, "Retry the run; if it keeps failing, check the server's health and logs.")


def raise_for_jfrog(response: httpx.Response, *, action: str = "") -> httpx.Response:
    if response.is_success:
        return response
    raise error_for(response, action=action)
