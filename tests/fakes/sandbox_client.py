"""What end-to-end tests look at on the sandbox (files, properties, builds, the request log), and
how they lay down an upload made "by another job" without running the upload stage."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from artifactory_sandbox.testing import SandboxHandle


class SandboxClient:
    """Each call opens and closes its own connection, so tests need not close anything."""

    def __init__(self, sandbox: SandboxHandle) -> None:
        self.base_url = sandbox.url
        self.headers = {"Authorization": f"Bearer {sandbox.admin_token}"}

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=30) as http:
            return http.request(method, path, **kwargs)

    def aql(self, criteria: dict[str, Any]) -> list[dict[str, Any]]:
        query = f'items.find({json.dumps(criteria)}).include("repo","path","name","sha256","property")'
        response = self._send(
            "POST", "/artifactory/api/search/aql", content=query, headers={"Content-Type": "text/plain"}
        )
        response.raise_for_status()
        results: list[dict[str, Any]] = response.json()["results"]
        return results

    def files(self, repo: str) -> list[str]:
        rows = self.aql({"repo": repo, "type": "file"})
        return sorted(r["name"] if r["path"] == "." else f"{r['path']}/{r['name']}" for r in rows)

    def properties(self, repo: str, path: str) -> dict[str, list[str]]:
        response = self._send("GET", f"/artifactory/api/storage/{repo}/{quote(path)}", params={"properties": ""})
        if response.status_code == 404:
            return {}
        response.raise_for_status()
        props: dict[str, list[str]] = response.json()["properties"]
        return props

    def download(self, repo: str, path: str) -> bytes:
        response = self._send("GET", f"/artifactory/{repo}/{quote(path)}")
        response.raise_for_status()
        return response.content

    def build(self, name: str, number: str) -> dict[str, Any] | None:
        response = self._send("GET", f"/artifactory/api/build/{quote(name, safe='')}/{quote(number, safe='')}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        info: dict[str, Any] = response.json()["buildInfo"]
        return info

    def runs(self, name: str) -> list[str]:
        response = self._send("GET", f"/artifactory/api/build/{quote(name, safe='')}")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return sorted(run["uri"].lstrip("/") for run in response.json()["buildsNumbers"])

    def requests(self) -> list[dict[str, Any]]:
        response = self._send("GET", "/_sandbox/requests")
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()
        return entries

    def deploy(self, repo: str, path: str, content: bytes, **props: str) -> None:
        """PUT a file with matrix properties, as an upload job would have."""
        matrix = "".join(f";{quote_plus(k)}={quote_plus(v)}" for k, v in props.items())
        headers = {"X-Checksum-Sha256": hashlib.sha256(content).hexdigest()}
        response = self._send("PUT", f"/artifactory/{repo}/{quote(path)}{matrix}", content=content, headers=headers)
        response.raise_for_status()

    def delete(self, repo: str, path: str) -> None:
        """DELETE a file, as someone with delete rights on the repository would."""
        self._send("DELETE", f"/artifactory/{repo}/{quote(path)}").raise_for_status()
