"""Pure parsing: repository paths (traversal refused) and the two property grammars."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from artifactory_sandbox.http import HttpError
from artifactory_sandbox.paths import RepoPath, parse
from artifactory_sandbox.props import matrix_params, parse_properties, split_unescaped


def test_parse_decodes_segments() -> None:
    where = parse("repo/dir/my%20file.bin")
    assert (where.repo, where.path, where.parent, where.name) == ("repo", "dir/my file.bin", "dir", "my file.bin")
    assert where.display == "repo:dir/my file.bin"
    assert where.url_path() == "repo/dir/my%20file.bin"


def test_parse_root_and_folder_requests() -> None:
    assert parse("repo") == RepoPath("repo", "")
    assert parse("repo/a/b/") == RepoPath("repo", "a/b", is_folder_request=True)
    assert parse("repo//a///b") == RepoPath("repo", "a/b")
    assert RepoPath("repo", "x").parent == "."


@pytest.mark.parametrize(
    "raw",
    [
        "repo/../x",
        "repo/a/%2E%2E/x",
        "repo/a%2Fb",
        "repo/a%5Cb",
        "repo/a\\b",
        "repo/a%00b",
        "repo/./a",
        "..%2Fetc/passwd",
        "repo/%FF.bin",
    ],
)
def test_traversal_is_refused(raw: str) -> None:
    with pytest.raises(HttpError) as refused:
        parse(raw)
    assert refused.value.status == 400


SEGMENT_CHARS = st.characters(codec="utf-8", exclude_characters="/\\\x00")


@given(st.lists(st.text(alphabet=SEGMENT_CHARS, min_size=1), min_size=1, max_size=5))
def test_any_refused_or_parsed_path_stays_inside_its_repo(segments: list[str]) -> None:
    raw = "/".join(quote(s, safe="") for s in ["repo", *segments])
    try:
        where = parse(raw)
    except HttpError:
        assert any(s in (".", "..") for s in segments)
        return
    assert where.repo == "repo"
    assert ".." not in where.path.split("/")


def test_matrix_params_are_decoded_and_otherwise_kept() -> None:
    """Artifactory's processMatrixParams: `value = URLDecoder.decode(value, "UTF-8");
    propertyCollection.put(key, value);` (no split on commas, no backslash removed)."""
    raw = "/artifactory/r/f.bin;a=1;a=2;b=x+y;c=p%5C%2Cq;d=1%2C2;empty="
    assert matrix_params(raw) == {"a": ["1", "2"], "b": ["x y"], "c": ["p\\,q"], "d": ["1,2"], "empty": [""]}


def test_matrix_params_absent() -> None:
    assert matrix_params("/artifactory/r/f.bin") == {}


def test_properties_grammar() -> None:
    assert parse_properties("a=1,2;b=x y|c=p\\,q;d=e\\=f;;") == {
        "a": ["1", "2"],
        "b": ["x y"],
        "c": ["p,q"],
        "d": ["e=f"],
    }


def test_key_without_value_is_an_empty_value() -> None:
    assert parse_properties("flag") == {"flag": [""]}


def test_split_unescaped_keeps_or_drops_escapes() -> None:
    assert split_unescaped("a\\,b,c", ",") == ["a,b", "c"]
    assert split_unescaped("a\\,b,c", ",", keep_escapes=True) == ["a\\,b", "c"]
    assert split_unescaped("k=v=w", "=", maxsplit=1) == ["k", "v=w"]
