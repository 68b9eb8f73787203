"""Repositories: `api/repositories` create/update/get/list/delete, and read resolution.

Local, remote and virtual repositories are stored; remote ones never fetch anything. Reads through
a virtual repository try its `repositories` members in order (nested virtuals included).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .app import DEFAULT_REPOS, iso_time
from .http import HttpError, Request, Response, Route, json_response, text_response

if TYPE_CHECKING:
    from .app import Sandbox

RCLASSES = ("local", "remote", "virtual", "federated")
# packageType as sent in the JSON -> the display form of the list API.
PACKAGE_TYPES = {
    "generic": "Generic",
    "machinelearning": "MachineLearning",
    "huggingfaceml": "HuggingFaceML",
    "pypi": "Pypi",
    "docker": "Docker",
    "npm": "Npm",
    "maven": "Maven",
    "gradle": "Gradle",
    "helm": "Helm",
    "go": "Go",
    "conda": "Conda",
    "nuget": "NuGet",
    "terraform": "Terraform",
    "cargo": "Cargo",
    "debian": "Debian",
    "rpm": "YUM",
    "gems": "Gems",
    "conan": "Conan",
    "oci": "OCI",
    "gitlfs": "GitLfs",
    "composer": "Composer",
    "cran": "CRAN",
    "ivy": "Ivy",
    "sbt": "SBT",
    "alpine": "Alpine",
    "swift": "Swift",
    "pub": "Pub",
    "ansible": "Ansible",
}
RESERVED_KEYS = frozenset({"api", "ui", "list", "repo", "webapp", "favicon.ico", "artifactory"})
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Defaults as in JFrog's "Get All Repository Configurations" sample.
DEFAULTS: dict[str, Any] = {
    "description": "",
    "notes": "",
    "includesPattern": "**/*",
    "excludesPattern": "",
    "repoLayoutRef": "simple-default",
    "projectKey": "default",
    "environments": [],
    "blackedOut": False,
    "propertySets": [],
    "archiveBrowsingEnabled": False,
    "priorityResolution": False,
    "downloadRedirect": False,
    "cdnRedirect": False,
    "xrayIndex": False,
}

# Kept and used (a remote's upstream token) but never answered: Artifactory returns a remote's
# password only in a form encrypted with its master key; the sandbox, which has none, leaves it out.
NEVER_ANSWERED = frozenset({"password"})


@dataclass(frozen=True)
class Repo:
    key: str
    rclass: str
    package_type: str
    config: dict[str, Any]

    @property
    def members(self) -> list[str]:
        value = self.config.get("repositories") or []
        return [str(key) for key in value]


def get_repo(conn: sqlite3.Connection, key: str) -> Repo | None:
    row = conn.execute("SELECT * FROM repos WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    return Repo(row["key"], row["rclass"], row["package_type"], json.loads(row["config"]))


def require_repo(conn: sqlite3.Connection, key: str) -> Repo:
    """The repository, or the 404 Artifactory answers for paths in a repository it lacks."""
    repo = get_repo(conn, key)
    if repo is None:
        raise HttpError(404, f"Repository {key} doesn't exist")
    return repo


def read_order(conn: sqlite3.Connection, key: str) -> list[str]:
    """The non-virtual repositories a read of `key` tries, in order (virtuals expanded)."""
    order: list[str] = []
    _expand(conn, key, order, set())
    return order


def _expand(conn: sqlite3.Connection, key: str, order: list[str], seen: set[str]) -> None:
    if key in seen:
        return
    seen.add(key)
    repo = get_repo(conn, key)
    if repo is None:
        return
    if repo.rclass != "virtual":
        order.append(key)
        return
    for member in repo.members:
        _expand(conn, member, order, seen)


def deploy_target(conn: sqlite3.Connection, key: str) -> Repo:
    """The repository a deploy to `key` writes to (virtual -> its default deployment repo)."""
    repo = require_repo(conn, key)
    if repo.rclass == "virtual":
        default = repo.config.get("defaultDeploymentRepo")
        if not default:
            raise HttpError(400, f"Virtual repository {key} has no default deployment repository")
        return deploy_target(conn, str(default))
    if repo.rclass == "remote":
        raise HttpError(400, f"Cannot deploy to remote repository {key}")
    return repo


def ensure_default_repos(ctx: Sandbox) -> None:
    """First start: the three generic local repositories the action promotes through."""
    with ctx.db.tx() as conn:
        for key in DEFAULT_REPOS:
            if get_repo(conn, key) is None:
                _insert(conn, _normalise(key, {"rclass": "local", "packageType": "generic"}), ctx)


def _insert(conn: sqlite3.Connection, config: dict[str, Any], ctx: Sandbox) -> None:
    conn.execute(
        "INSERT INTO repos(key, rclass, package_type, config, created) VALUES (?, ?, ?, ?, ?)",
        (config["key"], config["rclass"], config["packageType"], json.dumps(config), iso_time(ctx.now())),
    )


def _normalise(key: str, body: dict[str, Any]) -> dict[str, Any]:
    config = DEFAULTS | body | {"key": key}
    config["packageType"] = str(config.get("packageType") or "generic").lower()
    config["rclass"] = str(config.get("rclass", "")).lower()
    if config["rclass"] == "virtual":
        config.setdefault("repositories", [])
    return config


def _validate(conn: sqlite3.Connection, key: str, config: dict[str, Any]) -> None:
    if not KEY_PATTERN.fullmatch(key) or key.lower() in RESERVED_KEYS:
        raise HttpError(400, f"Invalid repository key '{key}'")
    if config["rclass"] not in RCLASSES:
        raise HttpError(400, "Repository rclass must be one of local, remote, virtual, federated")
    if config["packageType"] not in PACKAGE_TYPES:
        raise HttpError(400, f"Unsupported package type '{config['packageType']}'")
    if config["rclass"] == "remote" and not config.get("url"):
        raise HttpError(400, "Remote repository URL is required")
    if config["rclass"] == "virtual":
        _validate_members(conn, key, config)


def _validate_members(conn: sqlite3.Connection, key: str, config: dict[str, Any]) -> None:
    members = config["repositories"]
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise HttpError(400, "Virtual repository 'repositories' must be a list of keys")
    for member in members:
        if member == key or get_repo(conn, member) is None:
            raise HttpError(400, f"Repository '{member}' does not exist")
    default = config.get("defaultDeploymentRepo")
    if default and default not in members:
        raise HttpError(400, f"Default deployment repository '{default}' is not a member")


def _body(req: Request, key: str) -> dict[str, Any]:
    body = req.read_json()
    if not isinstance(body, dict):
        raise HttpError(400, "Repository configuration must be a JSON object")
    if body.get("key") not in (None, key):
        raise HttpError(400, f"Repository key in the URL ({key}) and the body ({body['key']}) differ")
    return body


def create_repo(req: Request, ctx: Sandbox, key: str) -> Response:
    config = _normalise(key, _body(req, key))
    with ctx.db.tx() as conn:
        if _exists_case_insensitive(conn, key):
            raise HttpError(
                400,
                "Repository config contains errors: error when validating repository name: "
                "Case insensitive repository key already exists",
            )
        _validate(conn, key, config)
        _insert(conn, config, ctx)
    return text_response(f"Successfully created repository '{key}' ")


def update_repo(req: Request, ctx: Sandbox, key: str) -> Response:
    body = _body(req, key)
    with ctx.db.tx() as conn:
        current = get_repo(conn, key)
        if current is None:
            raise HttpError(400, f"Repository {key} does not exist")
        if body.get("rclass", current.rclass) != current.rclass:
            raise HttpError(400, "Changing the repository class (rclass) is not allowed")
        config = _normalise(key, current.config | body)
        _validate(conn, key, config)
        conn.execute(
            "UPDATE repos SET config = ?, package_type = ? WHERE key = ?",
            (json.dumps(config), config["packageType"], key),
        )
    return text_response(f"Repository {key} update successful.")


def get_repo_config(req: Request, ctx: Sandbox, key: str) -> Response:
    with ctx.db.read() as conn:
        repo = get_repo(conn, key)
    if repo is None:
        raise HttpError(400, f"Bad Request: Repository {key} does not exist")
    return json_response({name: value for name, value in repo.config.items() if name not in NEVER_ANSWERED})


def delete_repo(req: Request, ctx: Sandbox, key: str) -> Response:
    with ctx.db.tx() as conn:
        if get_repo(conn, key) is None:
            raise HttpError(404, f"Repository {key} does not exist")
        conn.execute("DELETE FROM items WHERE repo = ?", (key,))
        conn.execute("DELETE FROM repos WHERE key = ?", (key,))
    return text_response(f"Repository {key} and all its content have been removed successfully.")


def list_repos(req: Request, ctx: Sandbox) -> Response:
    wanted_class = (req.arg("type") or "").lower()
    wanted_package = (req.arg("packageType") or "").lower()
    with ctx.db.read() as conn:
        rows = conn.execute("SELECT key, rclass, package_type, config FROM repos ORDER BY key")
        listed = [
            _summary(row, req.base_url)
            for row in rows
            if wanted_class in ("", row["rclass"]) and wanted_package in ("", row["package_type"])
        ]
    return json_response(listed)


def _summary(row: sqlite3.Row, base_url: str) -> dict[str, Any]:
    config = json.loads(row["config"])
    summary = {
        "key": row["key"],
        "type": row["rclass"].upper(),
        "description": config.get("description", ""),
        "url": config.get("url") or f"{base_url}/artifactory/{row['key']}",
        "packageType": PACKAGE_TYPES.get(row["package_type"], row["package_type"]),
    }
    return summary


def _exists_case_insensitive(conn: sqlite3.Connection, key: str) -> bool:
    row = conn.execute("SELECT 1 FROM repos WHERE lower(key) = lower(?)", (key,)).fetchone()
    return row is not None


REPO_KEY = r"(?P<key>[^/]+)"
ROUTES = [
    Route("GET", r"/artifactory/api/repositories", list_repos),
    Route("GET", rf"/artifactory/api/repositories/{REPO_KEY}", get_repo_config),
    Route("PUT", rf"/artifactory/api/repositories/{REPO_KEY}", create_repo, auth="admin"),
    Route("POST", rf"/artifactory/api/repositories/{REPO_KEY}", update_repo, auth="admin"),
    Route("DELETE", rf"/artifactory/api/repositories/{REPO_KEY}", delete_repo, auth="admin"),
]
