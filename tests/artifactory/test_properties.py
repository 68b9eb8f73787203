"""Properties: the user's `k=v;k2=v2` text and matrix parameters escaped as the JFrog CLI does."""

from __future__ import annotations

import pytest

from ml_artifactory_action.artifactory.properties import from_mapping, matrix_params, merge, parse_properties


def test_pairs_by_semicolon_or_line_with_several_values() -> None:
    assert parse_properties("team=fraud;stage=dev\nlabels=a,b,a\n") == (
        ("team", ("fraud",)),
        ("stage", ("dev",)),
        ("labels", ("a", "b")),
    )


def test_backslash_escapes_separators_and_the_value_keeps_later_equal_signs() -> None:
    assert parse_properties(r"query=a=b\;c;list=x\,y") == (("query", ("a=b;c",)), ("list", ("x,y",)))


def test_a_repeated_key_gathers_its_values() -> None:
    assert parse_properties("k=1;k=2;k=1") == (("k", ("1", "2")),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("team", "cannot read property 'team'; write 'key=value' pairs separated by ';'"),
        ("=x", "cannot read property '=x'"),
        ("k=", "cannot read property 'k='"),
        ("k=a,,b", "property 'k=a,,b' has an empty value"),
        ("my key=x", "property key 'my key' may only contain letters, digits and the characters _ . : -"),
    ],
)
def test_bad_pairs_are_named(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")):
        parse_properties(text)


def test_matrix_params_sorted_and_escaped_as_the_jfrog_cli_does() -> None:
    """jfrog-client-go ToEncodedString(false): `url.QueryEscape(key)=url.QueryEscape(value)` per
    value, so a comma in a value is a plain `%2C` (the `\\,` escape belongs to the joined form)."""
    props = (("z", ("last",)), ("note", ("a b;c=d,e/f\\g%",)), ("build.name", ("my build",)), ("k", ("1", "2")))
    assert matrix_params(props) == ";build.name=my+build;k=1;k=2;note=a+b%3Bc%3Dd%2Ce%2Ff%5Cg%25;z=last"


def test_no_properties_no_parameters() -> None:
    assert matrix_params(()) == ""


def test_merge_lets_later_groups_win_and_from_mapping_drops_empty_values() -> None:
    auto = from_mapping({"build.name": "b", "vcs.branch": "", "model.name": "m"})
    assert auto == (("build.name", ("b",)), ("model.name", ("m",)))
    assert merge(auto, (("model.name", ("mine",)),)) == (("build.name", ("b",)), ("model.name", ("mine",)))
