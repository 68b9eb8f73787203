"""Copy and move: `messages` results, folder semantics, properties carried, dry runs, errors."""

from __future__ import annotations

import httpx
import pytest
from tests.sandbox.conftest import DEV_REPO, item_exists

PROD = "ml-models-prod-local"


@pytest.fixture
def model(admin: httpx.Client) -> httpx.Client:
    admin.put(f"/artifactory/{DEV_REPO}/m/1/model.bin;stage=dev", content=b"weights")
    admin.put(f"/artifactory/{DEV_REPO}/m/1/card.md", content=b"card")
    return admin


def messages(response: httpx.Response) -> list[tuple[str, str]]:
    return [(m["level"], m["message"]) for m in response.json()["messages"]]


def props(client: httpx.Client, repo: str, path: str) -> dict[str, list[str]]:
    response = client.get(f"/artifactory/api/storage/{repo}/{path}?properties")
    return response.json()["properties"] if response.status_code == 200 else {}


def test_copy_a_file_keeps_properties(model: httpx.Client) -> None:
    response = model.post(f"/artifactory/api/copy/{DEV_REPO}/m/1/model.bin?to=/{PROD}/m/1/model.bin")
    assert response.headers["content-type"].endswith("CopyOrMoveResult+json")
    assert messages(response) == [
        (
            "INFO",
            (
                f"copying {DEV_REPO}:m/1/model.bin to {PROD}:m/1/model.bin completed successfully, "
                "1 artifacts and 0 folders were copied"
            ),
        )
    ]
    assert model.get(f"/artifactory/{PROD}/m/1/model.bin").content == b"weights"
    assert props(model, PROD, "m/1/model.bin") == {"stage": ["dev"]}
    assert item_exists(model, DEV_REPO, "m/1/model.bin")


def test_target_without_leading_slash_as_the_cli_sends_it(model: httpx.Client) -> None:
    response = model.post(f"/artifactory/api/copy/{DEV_REPO}/m/1/card.md?to={PROD}/c.md")
    assert response.status_code == 200
    assert model.get(f"/artifactory/{PROD}/c.md").content == b"card"


def test_move_a_folder_into_an_existing_folder(model: httpx.Client) -> None:
    model.put(f"/artifactory/{PROD}/models/")
    response = model.post(f"/artifactory/api/move/{DEV_REPO}/m/1?to=/{PROD}/models")
    assert messages(response)[0][1].endswith("2 artifacts and 1 folders were moved")
    assert model.get(f"/artifactory/{PROD}/models/1/model.bin").content == b"weights"
    assert props(model, PROD, "models/1/model.bin") == {"stage": ["dev"]}
    assert not item_exists(model, DEV_REPO, "m/1")


def test_dry_run_changes_nothing(model: httpx.Client) -> None:
    response = model.post(f"/artifactory/api/move/{DEV_REPO}/m?to=/{PROD}/m&dry=1")
    assert messages(response)[0][1].startswith("Dry run for moving")
    assert item_exists(model, DEV_REPO, "m/1/model.bin")
    assert not item_exists(model, PROD, "m")


def test_copy_overwrites_an_existing_file(model: httpx.Client) -> None:
    model.put(f"/artifactory/{PROD}/x.bin", content=b"old")
    model.post(f"/artifactory/api/copy/{DEV_REPO}/m/1/model.bin?to=/{PROD}/x.bin")
    assert model.get(f"/artifactory/{PROD}/x.bin").content == b"weights"


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        (f"/artifactory/api/copy/{DEV_REPO}/nope.bin?to=/{PROD}/x", 404, f"Could not find item '{DEV_REPO}:nope.bin'"),
        (f"/artifactory/api/copy/{DEV_REPO}/m?to=/ghost-repo/x", 404, "Target repository ghost-repo does not exist"),
        (f"/artifactory/api/move/{DEV_REPO}/m?to=/{DEV_REPO}/m/1", 400, f"Cannot move '{DEV_REPO}:m' into itself"),
        (f"/artifactory/api/copy/{DEV_REPO}/m/1/model.bin", 400, "Target path (to=) is required"),
        (
            f"/artifactory/api/copy/{DEV_REPO}/m?to=/{PROD}/a/../b",
            400,
            f"Invalid path '/{PROD}/a/../b': illegal path segment '..'",
        ),
    ],
)
def test_refused_transfers_answer_error_messages(model: httpx.Client, url: str, status: int, message: str) -> None:
    response = model.post(url)
    assert (response.status_code, messages(response)) == (status, [("ERROR", message)])
    assert not item_exists(model, PROD, "x")


def test_file_onto_folder_of_other_kind_is_409(model: httpx.Client) -> None:
    model.put(f"/artifactory/{PROD}/f/model.bin/inner.bin", content=b"i")
    response = model.post(f"/artifactory/api/copy/{DEV_REPO}/m/1/model.bin?to=/{PROD}/f/")
    assert response.status_code == 409
