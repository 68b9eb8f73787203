"""The environment build-info records: JFrog's include/exclude, then our secret filter."""

from __future__ import annotations

import pytest

from ml_artifactory_action.buildinfo.env import looks_secret, recorded_env
from ml_artifactory_action.settings import DEFAULT_ENV_EXCLUDE


def test_include_then_exclude_case_insensitively() -> None:
    env = {"GITHUB_REF": "main", "github_job": "train", "RUNNER_OS": "Linux", "HOME": "/root"}

    assert recorded_env(env, "GITHUB_*;runner_os", "*job*") == {
        "buildInfo.env.GITHUB_REF": "main",
        "buildInfo.env.RUNNER_OS": "Linux",
    }


@pytest.mark.parametrize(
    "name",
    [
        "AWS_SECRET_ACCESS_KEY",
        "NPM_TOKEN",
        "DB_PASSWORD",
        "MY_PSW",
        "BASIC_AUTH",
        "GOOGLE_CREDENTIALS",
        "JF_URL",
        "JF_USER",
        "JF_ENV_PROD",
        "SSH_PRIVATE",
    ],
)
def test_credential_names_are_dropped_even_when_included(name: str) -> None:
    assert recorded_env({name: "x"}, "*", "") == {}


@pytest.mark.parametrize(
    "value",
    [
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln",
        "ghp_" + "A1b2" * 9,
        "github_pat_" + "A1b2_" * 6,
        "AKCp8" + "x" * 70,
        "cmVmdGtuOjAxOjE3MDAwMDAwMDA6abcdef",
        "AKIAIOSFODNN7EXAMPLE",
        "hf_" + "aB3" * 10,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nabc",
        "https://ci:hunter2@pypi.acme.dev/simple",
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "dGhpcyBpcyBhIHNlY3JldCB2YWx1ZSAxMjM0NTY3OA==",
    ],
)
def test_secret_looking_values_are_dropped(value: str) -> None:
    assert looks_secret(value)
    assert recorded_env({"HARMLESS_NAME": value}, "*", "") == {}


@pytest.mark.parametrize(
    "value",
    [
        "main",
        "/home/runner/work/FraudModel2024/FraudModel2024LongPathName",
        "Linux",
        "refs/heads/feature/ABC-123",
        "3.11.7",
        "acme/fraud-model",
    ],
)
def test_ordinary_values_are_kept(value: str) -> None:
    assert not looks_secret(value)


def test_a_known_secret_inside_a_value_and_the_commit_sha_exception() -> None:
    sha = "3f786850e387550fdab836ed7e6dc881de23001b"
    assert looks_secret("Bearer tok-123456", known_secrets=["tok-123456"])
    assert looks_secret(sha)
    assert not looks_secret(sha, harmless={sha})


def test_jfrogs_default_excludes_are_the_action_default() -> None:
    env = {"KEYSTORE": "x", "PSW_FILE": "y", "SAFE": "z"}
    assert recorded_env(env, "*", DEFAULT_ENV_EXCLUDE) == {"buildInfo.env.SAFE": "z"}
