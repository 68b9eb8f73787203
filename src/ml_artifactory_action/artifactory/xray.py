"""The Xray build scan, as the JFrog CLI runs it (`jf build-scan`).

1. Trigger: `POST xray/api/v2/ci/build` `{"build_name","build_number","project"}`. A 404 saying the
   build "wasn't found in Artifactory" means Xray has not indexed it yet: try again.
2. Results: `POST xray/api/v2/ci/build/scanResult` (Xray >= 3.77.0) or
   `GET xray/api/v2/ci/build/{name}/{number}` (older), polled: 202 = still scanning, 200 = done.
Both waits share one deadline, `scan-timeout`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from packaging.version import InvalidVersion, Version

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.artifactory.http_errors import error_for, server_message
from ml_artifactory_action.errors import ScanFailedError, ScanTimeoutError

TRIGGER_API = "api/v2/ci/build"
RESULTS_POST_API = "api/v2/ci/build/scanResult"
VERSION_API = "api/v1/system/version"
RESULTS_POST_MIN_VERSION = Version("3.77.0")
NOT_SELECTED_FOR_INDEXING = "is not selected for indexing"
NO_FAIL_BUILD_POLICY = "No Xray “Fail build in case of a violation” policy rule"
# Answers meaning "Xray has not indexed the build yet": wait and ask again.
NOT_YET_INDEXED = ("wasn't found in Artifactory", "not indexed yet", "is being indexed")
# Polling starts quickly (small builds scan in seconds) and slows to the CLI's 5 s.
FIRST_POLL_SECONDS = 0.5
MAX_POLL_SECONDS = 5.0
POLL_GROWTH = 1.5
SEVERITY_ORDER = ("critical", "high", "medium", "low", "information", "unknown")


@dataclass(frozen=True)
class Component:
    id: str
    fixed_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Violation:
    severity: str
    type: str
    summary: str
    issue_id: str
    cves: tuple[str, ...]
    components: tuple[Component, ...]
    fail_build: bool
    watch: str = ""

    def as_output(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "type": self.type,
            "summary": self.summary,
            "issue_id": self.issue_id,
            "cves": list(self.cves),
            "components": [{"id": c.id, "fixed_versions": list(c.fixed_versions)} for c in self.components],
            "fail_build": self.fail_build,
        }


@dataclass(frozen=True)
class BuildScan:
    status: str
    fail_build: bool
    more_details_url: str
    violations: tuple[Violation, ...]
    vulnerabilities: int
    has_fail_policy: bool = True


@dataclass
class Waiter:
    """The clock of a scan: a deadline and growing pauses (tests pass a fake clock)."""

    timeout: float
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    pause: float = FIRST_POLL_SECONDS
    last_answer: str = ""

    def __post_init__(self) -> None:
        self.deadline = self.now() + self.timeout

    def wait(self, answer: str) -> bool:
        """Record what the server said and sleep; False once the deadline has passed."""
        self.last_answer = answer
        remaining = self.deadline - self.now()
        if remaining <= 0:
            return False
        self.sleep(min(self.pause, remaining))
        self.pause = min(self.pause * POLL_GROWTH, MAX_POLL_SECONDS)
        return True


def scan_build(
    client: ArtifactoryClient,
    name: str,
    number: str,
    project: str,
    waiter: Waiter,
    *,
    log: Callable[[str], None] = lambda _msg: None,
) -> BuildScan:
    """Trigger the scan of a published build and wait for Xray's verdict."""
    params = {"build_name": name, "build_number": number, **({"project": project} if project else {})}
    has_fail_policy = _trigger(client, params, waiter, log)
    poll = _results_request(client, params)
    body = _poll_results(poll, name, number, waiter, log)
    if str(body.get("status", "")).lower() == "failed":
        raise ScanFailedError(
            f"Xray could not scan build {name} #{number} (status 'failed').",
            fix="Look at the build in Xray's UI; re-run the scan stage once Xray is healthy.",
        )
    return parse_scan(body, has_fail_policy=has_fail_policy)


def _trigger(client: ArtifactoryClient, params: dict[str, str], waiter: Waiter, log: Callable[[str], None]) -> bool:
    """Start the scan; False when no policy can fail the build (the scan then only informs)."""
    name, number = params["build_name"], params["build_number"]
    while True:
        response = client.request(
            "POST",
            TRIGGER_API,
            service="xray",
            json=params,
            expect=(404,),
            action=f"Starting the Xray scan of {name} #{number}",
        )
        info = _info(response)
        if response.status_code != 404:
            break
        if not _not_yet_indexed(info):
            raise error_for(response, action=f"Starting the Xray scan of {name} #{number}")
        log(f"Xray has not indexed build {name} #{number} yet: {info}")
        if not waiter.wait(info):
            raise _timeout(name, number, waiter)
    if NOT_SELECTED_FOR_INDEXING in info:
        raise ScanFailedError(
            f"Xray cannot scan build {name} #{number}: {info}",
            fix="Add the build to Xray's indexed resources (Administration > Xray > Indexed Resources > Builds), then re-run.",
            title="Build not indexed by Xray",
        )
    log(info or f"Xray scan of {name} #{number} started")
    return NO_FAIL_BUILD_POLICY not in info


def _results_request(client: ArtifactoryClient, params: dict[str, str]) -> Callable[[], httpx.Response]:
    query = {"include_vulnerabilities": "true"}
    if params.get("project"):
        query["projectKey"] = params["project"]
    action = f"Reading the Xray scan of {params['build_name']} #{params['build_number']}"
    if _xray_version(client) >= RESULTS_POST_MIN_VERSION:
        return lambda: client.request(
            "POST", RESULTS_POST_API, service="xray", json=params, params=query, expect=(202, 404), action=action
        )
    path = f"{TRIGGER_API}/{quote(params['build_name'], safe='')}/{quote(params['build_number'], safe='')}"
    return lambda: client.request("GET", path, service="xray", params=query, expect=(202, 404), action=action)


def _xray_version(client: ArtifactoryClient) -> Version:
    response = client.request("GET", VERSION_API, service="xray", expect=(404,), action="Reading Xray's version")
    try:
        return Version(str(response.json().get("xray_version", "")))
    except (ValueError, InvalidVersion):
        return RESULTS_POST_MIN_VERSION  # unknown: assume a current Xray


def _poll_results(
    poll: Callable[[], httpx.Response], name: str, number: str, waiter: Waiter, log: Callable[[str], None]
) -> dict[str, Any]:
    while True:
        response = poll()
        if response.status_code == 200:
            body = response.json() if response.content else None
            if not isinstance(body, dict):
                raise ScanFailedError(
                    f"Xray answered the scan of build {name} #{number} with an empty result.",
                    fix="Re-run the scan stage; if it persists, check Xray's logs.",
                )
            return body
        info = _info(response) or f"HTTP {response.status_code}"
        if response.status_code == 404 and not _not_yet_indexed(info):
            raise error_for(response, action=f"Reading the Xray scan of {name} #{number}")
        log(f"Waiting for Xray to scan build {name} #{number}: {info}")
        if not waiter.wait(info):
            raise _timeout(name, number, waiter)


def _info(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return server_message(response)
    if isinstance(body, dict) and isinstance(body.get("info"), str):
        return str(body["info"])
    return server_message(response)


def _not_yet_indexed(info: str) -> bool:
    return any(marker in info for marker in NOT_YET_INDEXED)


def _timeout(name: str, number: str, waiter: Waiter) -> ScanTimeoutError:
    return ScanTimeoutError(
        f"Xray did not finish scanning build {name} #{number} within {waiter.timeout:g} s "
        f"(last answer: {waiter.last_answer or 'none'}).",
        fix="Raise scan-timeout, or check that Xray indexes this build (Indexed Resources > Builds) and is healthy.",
    )


def parse_scan(body: Mapping[str, Any], *, has_fail_policy: bool = True) -> BuildScan:
    violations = tuple(sorted((_violation(v) for v in body.get("violations") or []), key=severity_rank))
    return BuildScan(
        status=str(body.get("status", "completed")),
        fail_build=bool(body.get("fail_build", False)),
        more_details_url=str(body.get("more_details_url", "")),
        violations=violations,
        vulnerabilities=len(body.get("vulnerabilities") or []),
        has_fail_policy=has_fail_policy,
    )


def _violation(raw: Mapping[str, Any]) -> Violation:
    components = raw.get("components") or {}
    return Violation(
        severity=str(raw.get("severity", "Unknown")),
        type=str(raw.get("type", "")),
        summary=str(raw.get("summary", "")),
        issue_id=str(raw.get("issue_id", "")),
        cves=tuple(str(c.get("cve")) for c in raw.get("cves") or [] if isinstance(c, dict) and c.get("cve")),
        components=tuple(
            Component(str(cid), tuple(str(v) for v in (detail or {}).get("fixed_versions") or []))
            for cid, detail in components.items()
        ),
        fail_build=bool(raw.get("fail_build", False)),
        watch=str(raw.get("watch_name", "")),
    )


def severity_rank(violation: Violation) -> int:
    severity = violation.severity.lower()
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)
