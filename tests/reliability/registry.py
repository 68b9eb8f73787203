"""The sandbox seen from outside by the reliability, bad-input and secrets tests.

`Registry` wraps the sandbox's REST API and its test endpoints (fault injection, request log) for
any running sandbox, in-process (`run_sandbox`) or a child process (`SandboxProcess`): both have
`.url` and `.admin_token`. `snapshot()` is everything a run could change, to compare before and
after; `check_complete` and `check_consistent` are the two ways a run may end.
"""

from __future__ import annotations

import hashlib
import json
import ssl
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import httpx

FAULTS = "/_sandbox/faults"
REQUESTS = "/_sandbox/requests"
STAGING, PROD, DEV = "ml-models-staging-local", "ml-models-prod-local", "ml-models-dev-local"
BUILD_INFO_REPO = "artifactory-build-info"
HTTP_TIMEOUT_S = 30.0


class Running(Protocol):
    @property
    def url(self) -> str: ...

    @property
    def admin_token(self) -> str: ...


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """Every item (with its checksum and properties) and every build run on the server."""

    items: tuple[tuple[str, str, str, tuple[tuple[str, tuple[str, ...]], ...]], ...]
    builds: tuple[tuple[str, str, str], ...]  # (name, number, the build-info as stored)


class Registry:
    """Each call opens and closes its own connection, so a test never leaks one."""

    def __init__(self, server: Running) -> None:
        self.server = server

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.server.admin_token}"} | kwargs.pop("headers", {})
        ca_bundle = getattr(self.server, "ca_bundle", None)  # a sandbox behind TLS with a private CA
        verify = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else True
        with httpx.Client(base_url=self.server.url, timeout=HTTP_TIMEOUT_S, verify=verify) as http:
            return http.request(method, path, headers=headers, **kwargs)

    # Fault injection and the request log ------------------------------------------------------
    def fault(self, **spec: Any) -> dict[str, Any]:
        response = self.send("POST", FAULTS, json=spec)
        assert response.status_code == 201, response.text
        fault: dict[str, Any] = response.json()
        return fault

    def faults(self) -> list[dict[str, Any]]:
        listed: list[dict[str, Any]] = self.send("GET", FAULTS).json()
        return listed

    def clear(self) -> None:
        """Remove every fault and forget the request log."""
        assert self.send("DELETE", FAULTS).status_code == 204
        assert self.send("DELETE", REQUESTS).status_code == 204

    def requests(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.send("GET", REQUESTS).json()
        return entries

    def bodies_sent_to(self, repo: str) -> dict[str, int]:
        """Request-body bytes the server read per deployed path of `repo` (PUTs with a body)."""
        prefix = f"/artifactory/{repo}/"
        sent: dict[str, int] = {}
        for entry in self.requests():
            if entry["method"] == "PUT" and entry["path"].startswith(prefix) and entry["bytes_received"]:
                path = entry["path"].removeprefix(prefix)
                sent[path] = sent.get(path, 0) + int(entry["bytes_received"])
        return sent

    # What is stored ---------------------------------------------------------------------------
    def aql(self, criteria: dict[str, Any], *fields: str) -> list[dict[str, Any]]:
        include = ",".join(f'"{f}"' for f in fields or ("repo", "path", "name", "sha256", "property"))
        query = f"items.find({json.dumps(criteria)}).include({include})"
        response = self.send(
            "POST", "/artifactory/api/search/aql", content=query, headers={"Content-Type": "text/plain"}
        )
        assert response.status_code == 200, response.text
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    def files(self, repo: str, under: str = "") -> dict[str, str]:
        """{path relative to `under`: sha256} of the files in `repo` (below `under`)."""
        found = {}
        for row in self.aql({"repo": repo, "type": "file"}):
            path = row["name"] if row["path"] == "." else f"{row['path']}/{row['name']}"
            if not under or path.startswith(under.rstrip("/") + "/"):
                found[path.removeprefix(under.rstrip("/") + "/") if under else path] = row["sha256"]
        return found

    def properties(self, repo: str, path: str) -> dict[str, list[str]]:
        response = self.send("GET", f"/artifactory/api/storage/{repo}/{quote(path)}", params={"properties": ""})
        if response.status_code == 404:
            return {}
        assert response.status_code == 200, response.text
        props: dict[str, list[str]] = response.json()["properties"]
        return props

    def download(self, repo: str, path: str) -> bytes:
        response = self.send("GET", f"/artifactory/{repo}/{quote(path)}")
        assert response.status_code == 200, response.text
        return response.content

    def deploy(self, repo: str, path: str, content: bytes) -> None:
        response = self.send("PUT", f"/artifactory/{repo}/{quote(path)}", content=content)
        assert response.status_code == 201, response.text

    def build_names(self) -> list[str]:
        response = self.send("GET", "/artifactory/api/build")
        if response.status_code == 404:  # "No builds were found"
            return []
        assert response.status_code == 200, response.text
        return sorted(b["uri"].lstrip("/") for b in response.json().get("builds", []))

    def runs(self, name: str) -> list[str]:
        response = self.send("GET", f"/artifactory/api/build/{quote(name, safe='')}")
        if response.status_code == 404:
            return []
        assert response.status_code == 200, response.text
        return sorted(run["uri"].lstrip("/") for run in response.json()["buildsNumbers"])

    def build(self, name: str, number: str) -> dict[str, Any] | None:
        response = self.send("GET", f"/artifactory/api/build/{quote(name, safe='')}/{quote(number, safe='')}")
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        info: dict[str, Any] = response.json()["buildInfo"]
        return info

    def snapshot(self) -> Snapshot:
        items = []
        for row in self.aql({"type": "any"}, "repo", "path", "name", "type", "sha256", "property"):
            props = tuple(sorted((p["key"], (str(p.get("value", "")),)) for p in row.get("properties", [])))
            items.append((row["repo"], f"{row['path']}/{row['name']}", str(row.get("sha256", "")), props))
        builds = []
        for name in self.build_names():
            for number in self.runs(name):
                builds.append((name, number, json.dumps(self.build(name, number), sort_keys=True)))
        return Snapshot(tuple(sorted(items)), tuple(sorted(builds)))


BOM_SUFFIX = ".cdx.json"  # the AI-BOM build-publish writes beside the model


# The two ways a run may end -----------------------------------------------------------------
def build_artifacts(info: dict[str, Any]) -> dict[str, str]:
    """{repo/path: sha256} of every artifact a build-info lists."""
    found = {}
    for module in info.get("modules", []):
        for artifact in module.get("artifacts", []):
            where = f"{artifact.get('originalDeploymentRepo', '')}/{artifact['path']}"
            found[where] = artifact["sha256"]
    return found


def check_consistent(registry: Registry, build_name: str) -> None:
    """No build run lists a file that is missing or holds other bytes; prod only holds promoted builds."""
    stored = {f"{repo}/{path}": sha for repo in (STAGING, PROD, DEV) for path, sha in registry.files(repo).items()}
    promoted: set[str] = set()
    for number in registry.runs(build_name):
        info = registry.build(build_name, number)
        assert info is not None
        for where, sha in build_artifacts(info).items():
            assert stored.get(where) == sha, (
                f"build {build_name} #{number} lists {where} ({sha}), stored: {stored.get(where)}"
            )
        if any(s.get("repository") == PROD for s in info.get("statuses", [])):
            promoted.add(number)
    for path in registry.files(PROD):
        number = registry.properties(PROD, path).get("build.number", [""])[0]
        assert number in promoted, f"{PROD}/{path} is from build #{number}, which has no promotion status"


def check_complete(
    registry: Registry,
    files: dict[str, bytes],
    folder: str,
    *,
    build_name: str = "",
    number: str = "",
    promoted: bool = False,
    moved: bool = False,
    promotions: int = 1,
) -> None:
    """Every file stored with its checksum; the build-info lists exactly them and its AI-BOM; prod
    holds them if promoted.

    build-publish uploads the AI-BOM (`<model>.cdx.json`) beside the model just before it publishes
    the build-info, so a run stopped between the two may leave a BOM with no build: it names only
    files that are there, and the re-run writes the same bytes. A promotion is counted by its
    timestamp: a retried promotion whose first answer was lost is recorded twice by the server (as
    Artifactory does), but it is one promotion. Up to `promotions` may be recorded (two runs of one
    build promoting it at once both record theirs).
    """
    expected = {path: sha256(content) for path, content in files.items()}
    staged, staged_bom = split_bom(registry.files(STAGING, folder))
    assert staged == ({} if moved else expected)
    listed_bom: dict[str, str] = {}
    if build_name:
        info = registry.build(build_name, number)
        assert info is not None, f"build {build_name} #{number} was not published"
        listed, listed_bom = split_bom(build_artifacts(info))
        assert listed == {f"{STAGING}/{folder}/{path}": sha for path, sha in expected.items()}
        assert len(listed_bom) == 1, f"the build lists {len(listed_bom)} AI-BOMs"
        if not moved:
            assert {f"{STAGING}/{folder}/{path}": sha for path, sha in staged_bom.items()} == listed_bom
            check_consistent(registry, build_name)
        recorded = {s["timestamp"] for s in info.get("statuses", []) if s.get("repository") == PROD}
        assert (1 <= len(recorded) <= promotions) if promoted else not recorded, info.get("statuses")
    assert len(staged_bom) <= 1
    prod, prod_bom = split_bom(registry.files(PROD, folder))
    assert prod == (expected if promoted else {})
    assert sorted(prod_bom.values()) == (sorted(listed_bom.values()) if promoted else [])


def split_bom(found: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(the model's files, the AI-BOM) of {path: sha256}."""
    bom = {path: sha for path, sha in found.items() if path.endswith(BOM_SUFFIX)}
    return {path: sha for path, sha in found.items() if path not in bom}, bom
