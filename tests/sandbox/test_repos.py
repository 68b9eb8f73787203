"""Repositories: defaults, create/update/get/list/delete, errors, virtual read resolution."""

from __future__ import annotations

import httpx
import pytest
from tests.sandbox.conftest import DEV_REPO, errors

from artifactory_sandbox.repos import get_repo
from artifactory_sandbox.testing import SandboxHandle

REPOS = "/artifactory/api/repositories"
DEFAULTS = ["ml-models-dev-local", "ml-models-prod-local", "ml-models-staging-local"]


def create(client: httpx.Client, repo_key: str, /, **config: object) -> httpx.Response:
    return client.put(f"{REPOS}/{repo_key}", json=config)


def test_first_start_has_the_three_generic_local_repos(admin: httpx.Client) -> None:
    listed = admin.get(REPOS).json()
    assert [r["key"] for r in listed] == DEFAULTS
    assert {(r["type"], r["packageType"]) for r in listed} == {("LOCAL", "Generic")}
    assert listed[0]["url"].endswith("/artifactory/ml-models-dev-local")


def test_create_then_get_the_full_config(admin: httpx.Client) -> None:
    response = create(admin, "hf-local", rclass="local", packageType="huggingfaceml", description="HF models")
    assert (response.status_code, response.text) == (200, "Successfully created repository 'hf-local' ")
    config = admin.get(f"{REPOS}/hf-local").json()
    assert config["key"] == "hf-local"
    assert (config["rclass"], config["packageType"]) == ("local", "huggingfaceml")
    assert config["description"] == "HF models"
    assert config["includesPattern"] == "**/*"


# Artifactory never hands a remote repository's password back: it keeps it encrypted with its master
# key and a read returns that encrypted form, which only the server can decrypt (jfrog-client-go
# issue #681: "When retrieving the password set in a remote repository ... it's encrypted";
# terraform-provider-artifactory's remote repository docs: "Since only the artifactory server can
# decrypt them it is impossible for terraform to diff changes correctly"). The sandbox has no key
# encryption to imitate, so it leaves the password out of what it answers.
def test_a_remote_repository_password_is_kept_but_never_answered(sandbox: SandboxHandle, admin: httpx.Client) -> None:
    secret = "hf_upstream-token-never-shown"
    create(
        admin,
        "hf-remote",
        rclass="remote",
        packageType="huggingfaceml",
        url="https://huggingface.co",
        username="bot",
        password=secret,
    )
    answered = admin.get(f"{REPOS}/hf-remote")
    assert "password" not in answered.json()
    assert answered.json()["username"] == "bot"
    assert secret not in answered.text + admin.get(REPOS).text

    # A client that writes back what it read (to change one field) does not erase the password.
    assert admin.post(f"{REPOS}/hf-remote", json=answered.json() | {"description": "Hub"}).status_code == 200
    with sandbox.server.ctx.db.read() as conn:
        stored = get_repo(conn, "hf-remote")
    assert stored is not None
    assert (stored.config["password"], stored.config["description"]) == (secret, "Hub")


@pytest.mark.parametrize("package", ["generic", "machinelearning", "huggingfaceml", "pypi"])
def test_ml_package_types_are_stored(admin: httpx.Client, package: str) -> None:
    assert create(admin, f"{package}-local", rclass="local", packageType=package).status_code == 200
    assert admin.get(f"{REPOS}/{package}-local").json()["packageType"] == package


def test_duplicate_key_is_400_case_insensitively(admin: httpx.Client) -> None:
    response = create(admin, "ML-MODELS-DEV-LOCAL", rclass="local")
    assert errors(response) == [
        (
            400,
            (
                "Repository config contains errors: error when validating repository name: "
                "Case insensitive repository key already exists"
            ),
        )
    ]


@pytest.mark.parametrize(
    ("key", "config", "message"),
    [
        ("x-local", {"rclass": "nope"}, "Repository rclass must be one of local, remote, virtual, federated"),
        ("x-local", {"rclass": "local", "packageType": "cobol"}, "Unsupported package type 'cobol'"),
        ("x-remote", {"rclass": "remote"}, "Remote repository URL is required"),
        ("x-virtual", {"rclass": "virtual", "repositories": ["missing"]}, "Repository 'missing' does not exist"),
        ("api", {"rclass": "local"}, "Invalid repository key 'api'"),
        (
            "x-local",
            {"key": "other", "rclass": "local"},
            "Repository key in the URL (x-local) and the body (other) differ",
        ),
    ],
)
def test_invalid_configs_are_400_and_create_nothing(
    admin: httpx.Client, key: str, config: dict[str, object], message: str
) -> None:
    assert errors(create(admin, key, **config)) == [(400, message)]
    assert [r["key"] for r in admin.get(REPOS).json()] == DEFAULTS


def test_get_missing_repo_is_400(admin: httpx.Client) -> None:
    assert errors(admin.get(f"{REPOS}/ghost")) == [(400, "Bad Request: Repository ghost does not exist")]


def test_update_merges_the_config(admin: httpx.Client) -> None:
    response = admin.post(f"{REPOS}/{DEV_REPO}", json={"description": "dev models"})
    assert (response.status_code, response.text) == (200, f"Repository {DEV_REPO} update successful.")
    config = admin.get(f"{REPOS}/{DEV_REPO}").json()
    assert (config["description"], config["rclass"]) == ("dev models", "local")


def test_update_cannot_change_rclass(admin: httpx.Client) -> None:
    response = admin.post(f"{REPOS}/{DEV_REPO}", json={"rclass": "remote"})
    assert errors(response) == [(400, "Changing the repository class (rclass) is not allowed")]


def test_delete_removes_repo_and_content(admin: httpx.Client) -> None:
    admin.put(f"/artifactory/{DEV_REPO}/a.bin", content=b"a")
    response = admin.delete(f"{REPOS}/{DEV_REPO}")
    assert response.text == (f"Repository {DEV_REPO} and all its content have been removed successfully.")
    assert admin.get(f"{REPOS}/{DEV_REPO}").status_code == 400
    create(admin, DEV_REPO, rclass="local")
    assert admin.get(f"/artifactory/{DEV_REPO}/a.bin").status_code == 404


def test_list_filters_by_type_and_package(admin: httpx.Client) -> None:
    create(admin, "py-local", rclass="local", packageType="pypi")
    create(admin, "hf-remote", rclass="remote", packageType="huggingfaceml", url="https://huggingface.co")
    assert [r["key"] for r in admin.get(f"{REPOS}?type=remote").json()] == ["hf-remote"]
    pypi = admin.get(f"{REPOS}?packageType=pypi").json()
    assert [(r["key"], r["packageType"]) for r in pypi] == [("py-local", "Pypi")]
    remote = admin.get(f"{REPOS}?type=remote").json()[0]
    assert (remote["type"], remote["url"]) == ("REMOTE", "https://huggingface.co")


@pytest.fixture
def virtual(admin: httpx.Client) -> httpx.Client:
    admin.put("/artifactory/ml-models-prod-local/m.bin", content=b"prod")
    admin.put(f"/artifactory/{DEV_REPO}/m.bin", content=b"dev")
    admin.put(f"/artifactory/{DEV_REPO}/only-dev.bin", content=b"only")
    create(admin, "models", rclass="virtual", repositories=["ml-models-prod-local", DEV_REPO])
    return admin


def test_virtual_reads_try_members_in_order(virtual: httpx.Client) -> None:
    assert virtual.get("/artifactory/models/m.bin").content == b"prod"
    assert virtual.get("/artifactory/models/only-dev.bin").content == b"only"
    info = virtual.get("/artifactory/api/storage/models/only-dev.bin").json()
    assert info["size"] == "4"
    assert virtual.get("/artifactory/models/none.bin").status_code == 404


def test_virtual_storage_miss_says_not_found(virtual: httpx.Client) -> None:
    assert errors(virtual.get("/artifactory/api/storage/models/none.bin")) == [(404, "Not Found")]


def test_deploy_to_virtual_without_default_is_refused(virtual: httpx.Client) -> None:
    response = virtual.put("/artifactory/models/new.bin", content=b"n")
    assert errors(response) == [(400, "Virtual repository models has no default deployment repository")]


def test_deploy_to_virtual_goes_to_its_default_repo(virtual: httpx.Client) -> None:
    virtual.post(f"{REPOS}/models", json={"defaultDeploymentRepo": DEV_REPO})
    response = virtual.put("/artifactory/models/new.bin", content=b"n")
    assert response.json()["repo"] == DEV_REPO
    assert virtual.get(f"/artifactory/{DEV_REPO}/new.bin").content == b"n"


def test_deploy_to_remote_is_refused(admin: httpx.Client) -> None:
    create(admin, "r-remote", rclass="remote", url="https://example.invalid")
    response = admin.put("/artifactory/r-remote/a.bin", content=b"a")
    assert errors(response) == [(400, "Cannot deploy to remote repository r-remote")]


def test_creating_repos_needs_admin(reader: httpx.Client) -> None:
    assert create(reader, "x-local", rclass="local").status_code == 403
