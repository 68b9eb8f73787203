"""Item properties: `?properties` GET/PUT/DELETE with the real escaping rules, recursion, and
`PATCH api/metadata`."""

from __future__ import annotations

import httpx
import pytest
from tests.sandbox.conftest import DEV_REPO, errors

API = f"/artifactory/api/storage/{DEV_REPO}"
URL = f"/artifactory/{DEV_REPO}"


@pytest.fixture
def files(admin: httpx.Client) -> httpx.Client:
    admin.put(f"{URL}/m/model.bin", content=b"m")
    admin.put(f"{URL}/m/sub/card.md", content=b"c")
    return admin


def props(client: httpx.Client, path: str) -> dict[str, list[str]]:
    response = client.get(f"{API}/{path}?properties")
    return response.json()["properties"] if response.status_code == 200 else {}


def test_no_properties_is_404_with_the_message_the_cli_expects(files: httpx.Client) -> None:
    assert errors(files.get(f"{API}/m/model.bin?properties")) == [(404, "No properties could be found.")]


def test_set_as_the_jfrog_cli_encodes_it(files: httpx.Client) -> None:
    response = files.put(f"{API}/m/model.bin?properties=a=1%2C2;b=x+y;c=p%5C%2Cq&recursive=0")
    assert response.status_code == 204
    assert props(files, "m/model.bin") == {"a": ["1", "2"], "b": ["x y"], "c": ["p,q"]}


def test_pipe_separator_and_escaped_specials(files: httpx.Client) -> None:
    files.put(f"{API}/m/model.bin?properties=k1=v1|k2=a%5C=b%5C|c")
    assert props(files, "m/model.bin") == {"k1": ["v1"], "k2": ["a=b|c"]}


def test_setting_a_key_replaces_its_values_only(files: httpx.Client) -> None:
    files.put(f"{API}/m/model.bin?properties=stage=dev;owner=ml")
    files.put(f"{API}/m/model.bin?properties=stage=prod")
    assert props(files, "m/model.bin") == {"stage": ["prod"], "owner": ["ml"]}


def test_get_selected_keys(files: httpx.Client) -> None:
    files.put(f"{API}/m/model.bin?properties=a=1;b=2;c=3")
    body = files.get(f"{API}/m/model.bin?properties=a,c").json()
    assert body["properties"] == {"a": ["1"], "c": ["3"]}
    assert body["uri"].endswith(f"{API}/m/model.bin")
    assert files.get(f"{API}/m/model.bin?properties=zzz").status_code == 404


def test_folder_set_is_recursive_by_default(files: httpx.Client) -> None:
    files.put(f"{API}/m?properties=team=vision")
    assert props(files, "m") == {"team": ["vision"]}
    assert props(files, "m/sub/card.md") == {"team": ["vision"]}


def test_folder_set_with_recursive_0_touches_the_folder_only(files: httpx.Client) -> None:
    files.put(f"{API}/m?properties=team=vision&recursive=0")
    assert props(files, "m") == {"team": ["vision"]}
    assert props(files, "m/model.bin") == {}


def test_delete_keys(files: httpx.Client) -> None:
    files.put(f"{API}/m/model.bin?properties=a=1;b=2;c=3")
    assert files.delete(f"{API}/m/model.bin?properties=a,c").status_code == 204
    assert props(files, "m/model.bin") == {"b": ["2"]}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "properties=1abc=x",
            "Property key: 1abc is invalid due to Name must start with a letter "
            "and cannot contain whitespace or special characters",
        ),
        (
            "properties=a%20b=x",
            "Property key: a b is invalid due to Name must start with a letter "
            "and cannot contain whitespace or special characters",
        ),
        ("recursive=0", "The 'properties' parameter is required"),
    ],
)
def test_bad_property_input_is_400_and_changes_nothing(files: httpx.Client, query: str, message: str) -> None:
    files.put(f"{API}/m/model.bin?properties=keep=1")
    response = files.put(f"{API}/m/model.bin?{query}")
    assert errors(response) == [(400, message)]
    assert props(files, "m/model.bin") == {"keep": ["1"]}


def test_set_on_missing_item_is_404(files: httpx.Client) -> None:
    assert errors(files.put(f"{API}/m/none.bin?properties=a=1")) == [(404, "Unable to find item")]


def test_patch_metadata_sets_and_removes(files: httpx.Client) -> None:
    files.put(f"{API}/m/model.bin?properties=old=1;keep=2")
    response = files.patch(
        f"/artifactory/api/metadata/{DEV_REPO}/m/model.bin",
        json={"props": {"new": "v", "many": ["x", "y"], "old": None}},
    )
    assert response.status_code == 204
    assert props(files, "m/model.bin") == {"keep": ["2"], "new": ["v"], "many": ["x", "y"]}


def test_patch_metadata_recursion_flag(files: httpx.Client) -> None:
    url = f"/artifactory/api/metadata/{DEV_REPO}/m?recursiveProperties=0"
    files.patch(url, json={"props": {"top": "1"}})
    assert props(files, "m") == {"top": ["1"]}
    assert props(files, "m/model.bin") == {}


@pytest.mark.parametrize("body", [b"[]", b'{"props": 3}', b"{nope"])
def test_patch_metadata_bad_body_is_400(files: httpx.Client, body: bytes) -> None:
    response = files.patch(
        f"/artifactory/api/metadata/{DEV_REPO}/m/model.bin", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_a_backslash_that_escapes_nothing_is_kept(files: httpx.Client) -> None:
    files.put(f"{API}/m/model.bin?properties=path=C:%5Cmodels%5Cv1;list=a%5C,b")
    assert props(files, "m/model.bin") == {"path": ["C:\\models\\v1"], "list": ["a,b"]}
