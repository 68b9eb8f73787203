"""Items and repositories as they are stored: does a repository exist, delete an item, URLs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.errors import ConfigError

REPO_FIX = "Create the repository in Artifactory, or set repo to an existing local repository."


def item_path(repo: str, path: str) -> str:
    """`repo/path` escaped for a URL; `;` is escaped so only matrix parameters add raw ones."""
    return f"{quote(repo, safe='')}/{quote(path.lstrip('/'), safe='/')}"


@dataclass(frozen=True)
class Repository:
    key: str
    rclass: str  # local | remote | virtual | federated
    package_type: str


def get_repository(client: ArtifactoryClient, key: str) -> Repository | None:
    """The repository's class and type, or None when the server has no such repository."""
    response = client.request(
        "GET", f"api/repositories/{quote(key, safe='')}", action=f"looking up repository {key}", expect=(400, 404)
    )
    if response.status_code in (400, 404):
        return None
    body = response.json()
    return Repository(key, str(body.get("rclass", "local")), str(body.get("packageType", "generic")))


def require_deployable(client: ArtifactoryClient, key: str, input_name: str = "repo") -> Repository:
    """The repository, if files can be deployed to it; ConfigError naming the input otherwise."""
    repo = get_repository(client, key)
    if repo is None:
        raise ConfigError(input_name, f"repository {key!r} does not exist on {client.platform_url}", fix=REPO_FIX)
    if repo.rclass == "remote":
        raise ConfigError(
            input_name,
            f"{key!r} is a remote repository (a cache of another server); files cannot be deployed to it",
            fix="Deploy to a local repository, or a virtual one with a default deployment repository.",
        )
    return repo


def delete_item(client: ArtifactoryClient, repo: str, path: str) -> None:
    """Delete a file or folder; an item that is already gone is fine."""
    client.request("DELETE", item_path(repo, path), action=f"deleting {repo}/{path}", expect=(404,))


def download_url(client: ArtifactoryClient, repo: str, path: str) -> str:
    return client.url("artifactory", item_path(repo, path))
