"""The JFrog ML manifest, names and multipart body, checked without a server (the HTTP side runs
against the sandbox in tests/e2e/test_ml_repo.py)."""

from __future__ import annotations

import json
from email.parser import BytesParser
from email.policy import HTTP

import pytest

from ml_artifactory_action.artifactory import ml_repo
from ml_artifactory_action.errors import ConfigError


def test_created_date_is_the_transaction_time_as_frogml_writes_it() -> None:
    # frogml: datetime.fromtimestamp(ms / 1000, tz=utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]
    assert ml_repo.created_date("1796315720376") == "2026-12-03T16:35:20.37"


def test_the_manifest_lists_every_file_with_size_and_sha256() -> None:
    files = [
        ml_repo.ManifestFile("model.safetensors", 48, "a" * 64),
        ml_repo.ManifestFile("config/c.json", 2, "b" * 64),
    ]
    manifest = ml_repo.build_manifest(files, "1796315720376", "safetensors")
    assert manifest["model_artifacts"] == [
        {"artifact_path": "model.safetensors", "size": 48, "checksums": {"sha2": "a" * 64}},
        {"artifact_path": "config/c.json", "size": 2, "checksums": {"sha2": "b" * 64}},
    ]
    assert manifest["model_format"]["framework"] == "files"
    assert manifest["model_format"]["serialization_format"] == "safetensors"
    assert ml_repo.manifest_files(manifest) == files


def test_a_malformed_manifest_read_back_never_matches_real_files() -> None:
    entries = ml_repo.manifest_files({"model_artifacts": [{"artifact_path": "m.bin", "size": "12"}, "junk"]})
    assert entries == [ml_repo.ManifestFile("m.bin", -1, "")]


def test_the_multipart_body_has_the_two_parts_frogml_sends() -> None:
    body, content_type = ml_repo.multipart([("modelManifest", b'{"a": 1}'), ("additionalData", b"null")])
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = {
        p.get_param("name", header="content-disposition"): p.get_payload(decode=True) for p in message.iter_parts()
    }
    assert parts == {"modelManifest": b'{"a": 1}', "additionalData": b"null"}
    assert json.loads(parts["modelManifest"]) == {"a": 1}


@pytest.mark.parametrize("value", ["1.4 beta", "a..b", ".hidden", "x" * 61, "org/name", ""])
def test_names_outside_frogmls_rule_are_refused_naming_the_input(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        ml_repo.check_name(value, "model-version")
    assert refused.value.message == f"Input 'model-version': {value!r} cannot name a JFrog ML model version"


def test_the_serialization_format_is_the_largest_files_extension() -> None:
    assert ml_repo.serialization_format([("config.json", 10), ("weights.safetensors", 900)]) == "safetensors"
    assert ml_repo.serialization_format([]) == ""
