"""Xray's verdict on files uploaded without a build, through its artifact-level API.

1. Ask for the scan: `POST xray/api/v1/scanArtifact` `{"componentID": "generic://sha256:<sha256>/<name>"}`.
   It needs the "Manage Xray Metadata" permission; without it (403), or before Xray knows the file
   (404), Xray's own indexing of the repository still scans it, so the answer is only logged.
2. Wait: `POST xray/api/v1/artifact/status` `{"repo", "path"}` until `overall.status` is `DONE`
   (404: not indexed yet; `FAILED`: Xray could not scan the file).
3. Issues: `POST xray/api/v2/summary/artifact` `{"paths": ["default/<repo>/<path>", ...]}`; an error
   entry (e.g. "not indexed/cached in Xray") means no verdict, so the scan fails.
4. Violations: `POST xray/api/v1/violations` filtered on the files
   (`filters.resources.artifacts: [{"repo", "path"}]`), read page by page (`offset` is 1-based).
Without a build there is no "fail build" rule: any violation of a watch on the files fails the scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import httpx

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.http_errors import server_message
from ml_artifactory_action.artifactory.xray import BuildScan, Component, Violation, Waiter, severity_rank
from ml_artifactory_action.errors import ScanFailedError, ScanTimeoutError

SCAN_ARTIFACT_API = "api/v1/scanArtifact"
STATUS_API = "api/v1/artifact/status"
SUMMARY_API = "api/v2/summary/artifact"
VIOLATIONS_API = "api/v1/violations"
ARTIFACTORY_ID = "default"  # Xray paths start with the Artifactory id ("default" for Xray 3.x)
VIOLATIONS_PAGE_SIZE = 100
MAX_VIOLATION_PAGES = 100  # 10,000 violations: more means the filter did not apply


@dataclass(frozen=True)
class ArtifactRef:
    """One stored file Xray is asked about."""

    repo: str
    path: str
    sha256: str

    @property
    def xray_path(self) -> str:
        return f"{ARTIFACTORY_ID}/{self.repo}/{self.path}"

    @property
    def component_id(self) -> str:
        return f"generic://sha256:{self.sha256}/{PurePosixPath(self.path).name}"


def scan_artifacts(
    client: ArtifactoryClient,
    artifacts: Sequence[ArtifactRef],
    waiter: Waiter,
    *,
    log: Callable[[str], None] = lambda _msg: None,
) -> BuildScan:
    """Xray's issues and violations on `artifacts`, once Xray has scanned each of them."""
    for artifact in artifacts:
        _request_scan(client, artifact, log)
    for artifact in artifacts:
        _wait_until_scanned(client, artifact, waiter, log)
    issues = _issue_count(client, artifacts)
    violations = _violations(client, artifacts)
    details = next((url for url in (v.get("violation_details_url") for v in violations) if url), "")
    parsed = tuple(sorted((_violation(v) for v in violations), key=severity_rank))
    return BuildScan("completed", bool(parsed), str(details), parsed, issues)


def _request_scan(client: ArtifactoryClient, artifact: ArtifactRef, log: Callable[[str], None]) -> None:
    response = client.request(
        "POST",
        SCAN_ARTIFACT_API,
        service="xray",
        json={"componentID": artifact.component_id},
        expect=(403, 404),
        action=f"Asking Xray to scan {artifact.repo}/{artifact.path}",
    )
    if response.status_code != 200:
        log(f"Xray did not start a scan of {artifact.path} ({server_message(response)}); waiting for its indexing.")


def _wait_until_scanned(
    client: ArtifactoryClient, artifact: ArtifactRef, waiter: Waiter, log: Callable[[str], None]
) -> None:
    action = f"Reading Xray's scan status of {artifact.repo}/{artifact.path}"
    while True:
        response = client.request(
            "POST", STATUS_API, service="xray", json={"repo": artifact.repo, "path": artifact.path},
            expect=(404,), action=action,
        )  # fmt: skip
        status = _overall_status(response)
        if status == "DONE":
            return
        if status == "FAILED":
            raise ScanFailedError(
                f"Xray could not scan {artifact.repo}/{artifact.path} (status FAILED).",
                fix="Look at the file in Xray's UI (Scans List > Artifacts); re-run the scan stage once Xray is healthy.",
            )
        answer = f"{artifact.path}: {status or server_message(response)}"
        log(f"Waiting for Xray to scan {answer}")
        if not waiter.wait(answer):
            raise ScanTimeoutError(
                f"Xray did not finish scanning {artifact.repo}/{artifact.path} within {waiter.timeout:g} s "
                f"(last answer: {waiter.last_answer}).",
                fix=f"Raise scan-timeout, or check that Xray indexes the repository {artifact.repo} "
                "(Administration > Xray > Indexed Resources > Repositories) and is healthy.",
            )


def _overall_status(response: httpx.Response) -> str:
    if response.status_code == 404:
        return ""
    body = _json(response)
    overall = body.get("overall") if isinstance(body, dict) else None
    return str(overall.get("status", "")).upper() if isinstance(overall, dict) else ""


def _issue_count(client: ArtifactoryClient, artifacts: Sequence[ArtifactRef]) -> int:
    response = client.request(
        "POST", SUMMARY_API, service="xray", json={"paths": [a.xray_path for a in artifacts]},
        action="Reading Xray's summary of the uploaded files",
    )  # fmt: skip
    body = _json(response)
    if not isinstance(body, dict):
        raise ScanFailedError("Xray answered the artifact summary with no JSON object.", fix="Check Xray's logs.")
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    if errors:
        listed = "; ".join(f"{e.get('identifier', '?')}: {e.get('error', '?')}" for e in errors)
        raise ScanFailedError(
            f"Xray has no verdict on {len(errors)} of the uploaded files: {listed}",
            fix="Check that Xray indexes the repository (Indexed Resources > Repositories), then re-run the scan stage.",
        )
    return sum(len(a.get("issues") or []) for a in body.get("artifacts") or [] if isinstance(a, dict))


def _violations(client: ArtifactoryClient, artifacts: Sequence[ArtifactRef]) -> list[dict[str, Any]]:
    resources = {"artifacts": [{"repo": a.repo, "path": a.path} for a in artifacts]}
    found: list[dict[str, Any]] = []
    for page in range(1, MAX_VIOLATION_PAGES + 1):
        response = client.request(
            "POST", VIOLATIONS_API, service="xray",
            json={"filters": {"resources": resources},
                  "pagination": {"order_by": "created", "limit": VIOLATIONS_PAGE_SIZE, "offset": page}},
            action="Reading Xray's violations on the uploaded files",
        )  # fmt: skip
        body = _json(response)
        listed = body.get("violations") if isinstance(body, dict) else None
        if not isinstance(listed, list) or not isinstance(body.get("total_violations"), int):
            raise ScanFailedError(
                "Xray answered the violations request without 'violations' and 'total_violations'.",
                fix="Check the Xray version (Get Violations) and its logs.",
            )
        found += [v for v in listed if isinstance(v, dict)]
        if not listed or len(found) >= body["total_violations"]:
            return found
    raise ScanFailedError(
        f"Xray lists more than {len(found)} violations on {len(artifacts)} files; the filter on them did not apply.",
        fix="Check the Xray version (the violations filter on resources needs Xray 3.88.10 or later).",
    )


def _violation(raw: dict[str, Any]) -> Violation:
    return Violation(
        severity=str(raw.get("severity", "Unknown")),
        type=str(raw.get("type", "")).lower(),
        summary=str(raw.get("description", "")),
        issue_id=str(raw.get("issue_id", "")),
        cves=(),
        components=tuple(Component(str(c)) for c in raw.get("infected_components") or []),
        fail_build=True,
        watch=str(raw.get("watch_name", "")),
    )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
