"""Build-info in Artifactory: publish, read, list runs, status history, and the UI link."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ml_artifactory_action.artifactory.client import ArtifactoryClient

BUILD_API = "api/build"
BUILD_INFO_CONTENT_TYPE = "application/vnd.org.jfrog.artifactory+json"
DEFAULT_BUILD_REPO = "artifactory-build-info"
# Java's yyyy-MM-dd'T'HH:mm:ss.SSSZ, the form Artifactory writes and expects (`+0000`).
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.{ms:03d}%z"


@dataclass(frozen=True)
class BuildStatus:
    """One entry of a build's status history (appended by every promotion)."""

    build_number: str
    status: str
    repository: str
    timestamp: dt.datetime
    user: str = ""
    comment: str = ""


def jfrog_time(moment: dt.datetime) -> str:
    """`2024-05-01T12:00:19.893+0000`: millisecond precision, numeric offset without a colon."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime(TIME_FORMAT.format(ms=moment.microsecond // 1000))


def parse_time(text: str) -> dt.datetime | None:
    """A JFrog timestamp (`+0300`, `+03:00` or `Z` offsets) as an aware datetime; None if unreadable."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def build_path(name: str, number: str = "") -> str:
    """`api/build/{name}[/{number}]`, each part escaped whole (a '/' in a name becomes %2F)."""
    path = f"{BUILD_API}/{quote(name, safe='')}"
    return f"{path}/{quote(number, safe='')}" if number else path


def project_params(project: str) -> dict[str, str] | None:
    return {"project": project} if project else None


def publish_build(client: ArtifactoryClient, info: dict[str, Any], project: str) -> None:
    client.request(
        "PUT",
        BUILD_API,
        json=info,
        params=project_params(project),
        headers={"Content-Type": BUILD_INFO_CONTENT_TYPE},
        action=f"Publishing build-info {info['name']} #{info['number']}",
    )


def get_build(client: ArtifactoryClient, name: str, number: str, project: str) -> dict[str, Any] | None:
    """The build-info document of one run, or None when no such build was published."""
    response = client.request(
        "GET",
        build_path(name, number),
        params=project_params(project),
        expect=(404,),
        action=f"Reading build {name} #{number}",
    )
    if response.status_code == 404:
        return None
    info: dict[str, Any] = response.json().get("buildInfo", {})
    return info


def build_numbers(client: ArtifactoryClient, name: str, project: str) -> list[str]:
    """Every published number of a build, newest first (by `started`); [] when none."""
    response = client.request(
        "GET",
        build_path(name),
        params=project_params(project),
        expect=(404,),
        action=f"Listing the runs of build {name}",
    )
    if response.status_code == 404:
        return []
    runs = response.json().get("buildsNumbers", [])
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    runs.sort(key=lambda run: parse_time(str(run.get("started", ""))) or oldest, reverse=True)
    return [str(run.get("uri", "")).lstrip("/") for run in runs if run.get("uri")]


def statuses_of(info: dict[str, Any]) -> list[BuildStatus]:
    """The status history recorded in a build-info document, oldest first."""
    entries = []
    for raw in info.get("statuses", []) or []:
        moment = parse_time(str(raw.get("timestamp", "")))
        if moment is None:
            continue
        entries.append(
            BuildStatus(
                build_number=str(info.get("number", "")),
                status=str(raw.get("status", "")),
                repository=str(raw.get("repository", "")),
                timestamp=moment,
                user=str(raw.get("ciUser") or raw.get("user") or ""),
                comment=str(raw.get("comment", "")),
            )
        )
    return sorted(entries, key=lambda entry: entry.timestamp)


def started_millis(info: dict[str, Any]) -> int | None:
    moment = parse_time(str(info.get("started", "")))
    return int(moment.timestamp() * 1000) if moment else None


def build_ui_url(platform_url: str, name: str, number: str, started_ms: int | None, project: str) -> str:
    """The JFrog Platform page of a build, in the form the JFrog CLI prints after publishing."""
    base = f"{platform_url.rstrip('/')}/ui/builds/{quote(name, safe='')}/{quote(number, safe='')}"
    if started_ms is not None:
        base += f"/{started_ms}"
    if project:
        return f"{base}/published?buildRepo={quote(project)}-build-info&projectKey={quote(project)}"
    return f"{base}/published?buildRepo={DEFAULT_BUILD_REPO}"
