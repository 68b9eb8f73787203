"""Each safety layer alone, through the real entrypoint against the sandbox.

The action's upload scanner accepts only what it knows to be safe; the sandbox's Xray (its own
engine: picklescan and a denylist, never the action's code) fails a build only for known-malicious
behaviour. So:
- a pickle calling an unknown, harmless-looking callable (`glob.glob`) is refused by the action and
  would pass Xray;
- a pickle calling `os.system`, uploaded with `allow-unsafe-pickle`, passes the action (with a
  warning, a `model.unsafe-globals` property and a flag in the summary and PR comment) and is
  stopped by Xray, whose violation the scan stage lists;
- a scikit-learn model over a time-zone aware column (pandas pickles the zone through
  `builtins.getattr`, which picklescan denies) passes both.
Both payloads are written by `pickle` from objects whose `__reduce__` names the callable; nothing
here loads them.
"""

from __future__ import annotations

import glob
import json
import os
import pickle
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from artifactory_sandbox.testing import SandboxHandle
from tests.e2e.conftest import FAKE_GITHUB_TOKEN, ActionHarness
from tests.fakes.github_api import FakeGitHub, run_fake_github
from tests.fakes.sandbox_client import SandboxClient

STAGE = "ml-models-staging-local"
MARKER = "<!-- ml-artifactory-action:report -->"
PR = {"action": "synchronize", "number": 12, "pull_request": {"number": 12, "head": {"sha": "b" * 40}}}
PR_ENV = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/12/merge", "GITHUB_REF_NAME": "12/merge"}


class Call:
    def __init__(self, target: Callable[..., Any], *args: Any) -> None:
        self.target, self.args = target, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.target, self.args


def model_pickle(target: Callable[..., Any], *args: Any) -> bytes:
    return pickle.dumps({"weights": [0.25, 0.5], "hook": Call(target, *args)}, protocol=4)


UNKNOWN_CALLABLE = model_pickle(glob.glob, "/etc/*")
MALICIOUS = model_pickle(os.system, "echo pwned")


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with run_fake_github(FAKE_GITHUB_TOKEN) as fake:
        yield fake


def test_a_file_only_the_action_refuses(action: ActionHarness, sandbox: SandboxHandle) -> None:
    (action.workspace / "model").mkdir()
    (action.workspace / "model" / "model.pkl").write_bytes(UNKNOWN_CALLABLE)

    refused = action.run({"stages": "upload", "model-path": "model"})

    assert refused.returncode == 1
    [(title, message)] = refused.errors
    assert title == "Unsafe model file refused"
    assert "glob.glob" in message
    client = SandboxClient(sandbox)
    assert client.files(STAGE) == []

    # The same file put into Artifactory by other means: Xray, on its own, lets the build through.
    client.deploy(
        STAGE, "fraud-model/7/model.pkl", UNKNOWN_CALLABLE, **{"build.name": "fraud-model", "build.number": "7"}
    )
    scanned = action.run({"stages": "build-publish,scan"})

    assert scanned.returncode == 0, scanned.log
    assert scanned.outputs["scan-result"] == "pass"
    assert json.loads(scanned.outputs["violations"]) == []


def test_a_file_uploaded_with_allow_unsafe_pickle_that_only_xray_fails(
    action: ActionHarness, sandbox: SandboxHandle, github: FakeGitHub
) -> None:
    (action.workspace / "model").mkdir()
    (action.workspace / "model" / "model.pkl").write_bytes(MALICIOUS)
    (action.workspace / "model" / "config.json").write_text('{"features": 2}')
    inputs = {"stages": "upload,build-publish,scan", "model-path": "model", "allow-unsafe-pickle": "true"}

    result = action.run(inputs, env=PR_ENV | {"GITHUB_API_URL": github.url}, event=PR)

    assert result.returncode == 1
    [(title, warned)] = [(t, m) for level, t, m in result.annotations if level == "warning"]
    assert title == "Unsafe model files uploaded"
    assert "posix.system" in warned
    assert "Each carries the property model.unsafe-globals; review them before promoting." in warned
    client = SandboxClient(sandbox)
    assert client.properties(STAGE, "fraud-model/7/model.pkl")["model.unsafe-globals"] == ["posix.system"]
    assert "model.unsafe-globals" not in client.properties(STAGE, "fraud-model/7/config.json")
    artifacts = json.loads(result.outputs["artifacts"])
    assert [a.get("unsafe_globals") for a in artifacts] == [None, ["posix.system"]]

    [(title, message)] = result.errors
    assert title == "Xray scan failed"
    assert message.startswith("Xray's policy fails build fraud-model #7 with 1 violations:\n")
    assert (
        "- Critical security: Malicious model file model.pkl: loading it calls posix.system [SANDBOX-MALICIOUS-MODEL-"
        in message
    )
    assert result.outputs["scan-result"] == "fail"

    flag = "### :warning: 1 model file that runs code when loaded was uploaded (allow-unsafe-pickle)"
    row = "| [fraud-model/7/model.pkl]("
    [comment] = [c["body"] for c in github.issue_comments(12) if MARKER in c["body"]]
    for report in (result.summary, comment):
        assert flag in report
        assert report.index(flag) < report.index("### Model files uploaded")  # first thing an approver reads
        assert ") | `posix.system` |" in report.split(flag)[1].split("###")[0]
        assert row in report
        assert "### :x: Xray scan fails the build" in report


def test_files_uploaded_without_a_build_are_scanned_through_xrays_artifact_api(
    action: ActionHarness, sandbox: SandboxHandle
) -> None:
    (action.workspace / "model").mkdir()
    (action.workspace / "model" / "model.pkl").write_bytes(MALICIOUS)
    (action.workspace / "model" / "config.json").write_text('{"features": 2}')
    inputs = {"stages": "upload,scan", "model-path": "model", "allow-unsafe-pickle": "true"}

    result = action.run(inputs)

    assert result.returncode == 1
    [(title, message)] = result.errors
    assert title == "Xray scan failed"
    assert message.startswith(
        f"Xray's policy fails the 2 files uploaded to {STAGE}/fraud-model/7 with 1 violations:\n"
        "- Critical security: Malicious model file model.pkl: loading it calls posix.system [SANDBOX-MALICIOUS-MODEL-"
    )
    assert result.outputs["scan-result"] == "fail"
    [violation] = json.loads(result.outputs["violations"])
    assert violation["components"][0]["id"].startswith("generic://sha256:")
    client = SandboxClient(sandbox)
    assert client.runs("fraud-model") == []  # no build was published or scanned
    asked = [(r["method"], r["path"]) for r in client.requests() if r["path"].startswith("/xray/")]
    assert ("POST", "/xray/api/v1/scanArtifact") in asked
    assert ("POST", "/xray/api/v1/artifact/status") in asked
    assert ("POST", "/xray/api/v2/summary/artifact") in asked
    assert ("POST", "/xray/api/v1/violations") in asked
    assert not any(path.startswith("/xray/api/v2/ci/build") for _, path in asked)

    (action.workspace / "model" / "model.pkl").write_bytes(pickle.dumps({"weights": [0.5]}))
    clean = action.run({"stages": "upload,scan", "model-path": "model", "build-number": "8", "model-version": "8"})

    assert clean.returncode == 0, clean.log
    assert clean.outputs["scan-result"] == "pass"
    assert "Xray: passes; 0 violations, 0 vulnerabilities." in clean.stdout


TZ_MODEL_DRIVER = """
import sys
import joblib, numpy as np, pandas as pd
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

opened = pd.date_range("2025-03-28", periods=6, freq="D", tz="Europe/Berlin").repeat(5)
frame = pd.DataFrame({"opened": opened, "amount": np.arange(30.0)})
pipeline = make_pipeline(
    make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["opened"]), (StandardScaler(), ["amount"])),
    LogisticRegression(),
).fit(frame, np.arange(30) % 2)
joblib.dump(pipeline, sys.argv[1])
"""


def test_a_time_zone_aware_model_passes_the_sandbox_xrays_build_scan(action: ActionHarness) -> None:
    """pandas pickles the column's zone as getattr(zoneinfo.ZoneInfo, '_unpickle'): ordinary, not malicious."""
    venv = os.environ.get("ML_MODELS_VENV")
    if not venv:
        pytest.skip(
            "ML_MODELS_VENV is not set: it names the virtualenv with pandas and scikit-learn (make test builds it)"
        )
    (action.workspace / "model").mkdir()
    model = action.workspace / "model" / "model.joblib"
    subprocess.run([str(Path(venv) / "bin" / "python"), "-c", TZ_MODEL_DRIVER, str(model)], check=True, timeout=180)
    (action.workspace / "model" / "config.json").write_text('{"features": ["opened", "amount"]}')

    result = action.run({"stages": "upload,build-publish,scan", "model-path": "model"})

    assert result.returncode == 0, result.log
    assert result.outputs["scan-result"] == "pass"
    assert json.loads(result.outputs["violations"]) == []
    assert "Xray: passes; 0 violations, 0 vulnerabilities." in result.stdout
