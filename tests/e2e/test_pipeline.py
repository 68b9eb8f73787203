"""The whole pipeline against the sandbox, run as the runner runs the action.

gate → upload → build-publish → scan → promote → resolve on a small model; a re-run of every
stage changes nothing; a failed gate uploads nothing; an unsafe model fails the scan and is not
promoted.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator

import pytest

from artifactory_sandbox.testing import SandboxHandle
from tests.e2e.conftest import FAKE_GITHUB_TOKEN, ActionHarness, ActionResult
from tests.fakes.github_api import FakeGitHub, run_fake_github
from tests.fakes.sandbox_client import SandboxClient

STAGE, PROD = "ml-models-staging-local", "ml-models-prod-local"
SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
REQ_HASH = "1b2c3d4e" * 8
STAGES = "gate,upload,build-publish,scan,promote,resolve"
# A pickle that runs os.system when loaded (written as bytes: nothing here ever loads it).
EXPLOIT = b"cos\nsystem\n(S'echo pwned'\ntR."


def safetensors(values: list[float]) -> bytes:
    data = struct.pack(f"<{len(values)}f", *values)
    header = json.dumps({"weights": {"dtype": "F32", "shape": [len(values)], "data_offsets": [0, len(data)]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + data


MODEL = {"model.safetensors": safetensors([0.5, -1.25, 2.0, 0.0]), "config.json": b'{"features": 4}'}


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with run_fake_github(FAKE_GITHUB_TOKEN) as fake:
        yield fake


def workspace(action: ActionHarness, metrics: dict[str, float], files: dict[str, bytes] = MODEL) -> None:
    model = action.workspace / "model"
    model.mkdir(exist_ok=True)
    for name, content in files.items():
        (model / name).write_bytes(content)
    (action.workspace / "metrics.json").write_text(json.dumps({"eval": metrics}))
    (action.workspace / "requirements.txt").write_text(f"numpy==2.1.0 --hash=sha256:{REQ_HASH}\n")


def pipeline(action: ActionHarness, github: FakeGitHub, stages: str = STAGES, **inputs: str) -> ActionResult:
    given = {
        "stages": stages,
        "model-path": "model",
        "metrics-file": "metrics.json",
        "thresholds": "eval.accuracy >= 0.9\neval.loss <= 0.3",
        "dependencies-file": "requirements.txt",
        "download-dir": "serving",
    }
    return action.run(given | inputs, env={"GITHUB_API_URL": github.url})


def test_the_full_flow_carries_a_model_from_metrics_to_a_verified_production_download(
    action: ActionHarness, sandbox: SandboxHandle, github: FakeGitHub
) -> None:
    workspace(action, {"accuracy": 0.94, "loss": 0.21})
    client = SandboxClient(sandbox)

    result = pipeline(action, github)

    assert result.returncode == 0, result.log
    assert result.errors == []
    out = result.outputs
    assert (out["gate-passed"], json.loads(out["metrics"])) == ("true", {"eval.accuracy": 0.94, "eval.loss": 0.21})
    assert (out["build-name"], out["build-number"]) == ("fraud-model", "7")
    assert out["build-url"].startswith(f"{sandbox.url}/ui/builds/fraud-model/7/")
    assert (out["scan-result"], json.loads(out["violations"])) == ("pass", [])
    assert (out["promoted"], out["promoted-build"]) == ("true", "7")
    assert (out["download-path"], out["resolved-build"]) == ("serving", "7")
    for name, content in MODEL.items():
        assert (action.workspace / "serving" / name).read_bytes() == content

    assert (
        client.files(STAGE)
        == client.files(PROD)
        == [
            "fraud-model/7/config.json",
            "fraud-model/7/fraud-model.cdx.json",  # the AI-BOM, promoted with the build
            "fraud-model/7/model.safetensors",
        ]
    )
    props = client.properties(PROD, "fraud-model/7/model.safetensors")
    assert props["env"] == ["production"]
    assert props["promoted.by"] == ["octocat"]
    assert props["metric.eval.accuracy"] == ["0.94"]
    info = client.build("fraud-model", "7")
    assert info is not None
    assert info["vcs"][0]["revision"] == SHA
    assert info["url"] == "https://github.com/acme/fraud-model/actions/runs/90001"
    stored = {a["path"]: a["sha256"] for a in info["modules"][0]["artifacts"]}
    bom = stored.pop("fraud-model/7/fraud-model.cdx.json")
    assert stored == {f"fraud-model/7/{n}": hashlib.sha256(c).hexdigest() for n, c in MODEL.items()}
    assert bom == hashlib.sha256((action.workspace / "serving" / "fraud-model.cdx.json").read_bytes()).hexdigest()
    assert info["modules"][0]["dependencies"] == [
        {"id": "numpy:2.1.0", "type": "pypi", "scopes": ["runtime"], "sha256": REQ_HASH}
    ]
    assert [s["status"] for s in info["statuses"]] == ["Production"]
    assert sandbox.admin_token not in json.dumps(info)

    [deployment] = github.deployments.values()
    assert out["deployment-id"] == str(deployment["id"])
    assert (deployment["sha"], deployment["environment"]) == (SHA, "production")

    sections = [
        "Quality gate passed",
        "Model files uploaded",
        "### Build-info",
        "Xray scan passed",
        "### Promotion",
        "### Resolved model",
    ]
    positions = [result.summary.index(s) for s in sections]
    assert positions == sorted(positions)
    assert sandbox.admin_token not in result.summary
    assert sandbox.admin_token not in "\n".join(result.stdout.splitlines()[2:])


def test_rerunning_every_stage_changes_nothing(
    action: ActionHarness, sandbox: SandboxHandle, github: FakeGitHub
) -> None:
    workspace(action, {"accuracy": 0.94, "loss": 0.21})
    first = pipeline(action, github)
    assert first.returncode == 0, first.log
    client = SandboxClient(sandbox)

    again = pipeline(action, github, stages=STAGES + ",configure", **{"pypi-repo": STAGE})

    assert again.returncode == 0, again.log
    assert again.outputs["uploaded-bytes"] == "0"
    assert again.outputs["promoted-build"] == "7"
    assert again.outputs["deployment-id"] == first.outputs["deployment-id"]
    assert "Build fraud-model #7 is already published with these files; nothing to do." in again.stdout
    assert "Build fraud-model #7 is already in ml-models-prod-local as Production; nothing to do." in again.stdout
    assert "Downloaded 0 of 3 files" in again.stdout
    assert client.runs("fraud-model") == ["7"]
    assert len((client.build("fraud-model", "7") or {})["statuses"]) == 1
    assert len(github.deployments) == 1


def test_a_failed_gate_uploads_nothing(action: ActionHarness, sandbox: SandboxHandle, github: FakeGitHub) -> None:
    workspace(action, {"accuracy": 0.81, "loss": 0.21})

    result = pipeline(action, github)

    assert result.returncode == 1
    [(title, message)] = result.errors
    assert title == "Quality gate failed"
    assert "- eval.accuracy = 0.81: needs >= 0.9" in message
    assert result.outputs == {"gate-passed": "false", "metrics": '{"eval.accuracy": 0.81, "eval.loss": 0.21}'}
    client = SandboxClient(sandbox)
    assert client.files(STAGE) == []
    assert [r for r in client.requests() if r["method"] == "PUT"] == []
    assert "| eval.accuracy | 0.81 | `>= 0.9` |  |  | :x: |" in result.summary


def test_an_unsafe_model_uploaded_on_purpose_fails_the_scan_and_is_not_promoted(
    action: ActionHarness, sandbox: SandboxHandle, github: FakeGitHub
) -> None:
    workspace(action, {"accuracy": 0.95, "loss": 0.2}, {"model.pkl": EXPLOIT})

    result = pipeline(action, github, stages="upload,build-publish,scan,promote", **{"allow-unsafe-pickle": "true"})

    assert result.returncode == 1
    [(title, message)] = result.errors
    assert title == "Xray scan failed"
    assert message.startswith("Xray's policy fails build fraud-model #7 with ")
    assert "model.pkl" in message
    assert result.outputs["scan-result"] == "fail"
    assert json.loads(result.outputs["violations"])[0]["severity"] == "Critical"
    client = SandboxClient(sandbox)
    assert client.files(STAGE) == ["fraud-model/7/fraud-model.cdx.json", "fraud-model/7/model.pkl"]
    assert client.files(PROD) == []
    assert "promoted" not in result.outputs
    assert github.deployments == {}


def test_a_dry_run_of_every_stage_only_reads(action: ActionHarness, sandbox: SandboxHandle, github: FakeGitHub) -> None:
    workspace(action, {"accuracy": 0.94, "loss": 0.21})

    result = pipeline(action, github, stages=STAGES + ",configure", **{"dry-run": "true", "hf-repo": STAGE})

    assert result.returncode == 0, result.log
    client = SandboxClient(sandbox)
    writes = [
        (r["method"], r["path"])
        for r in client.requests()
        if r["method"] not in ("GET", "HEAD") and r["path"] != "/artifactory/api/search/aql"
    ]
    assert writes == []
    assert client.files(STAGE) == client.files(PROD) == []
    assert client.runs("fraud-model") == []
    assert github.deployments == {}
    assert result.env_file == {}
    assert not (action.workspace / "serving").exists()
    assert result.outputs["scan-result"] == "skipped"
    assert result.outputs["promoted"] == "false"
    assert "## Model pipeline: fraud-model (dry run)" in result.summary
    assert "Dry run: would publish build fraud-model #7" in result.stdout
    assert "Dry run: would promote build fraud-model #7 to ml-models-prod-local once published." in result.stdout
    assert "Dry run: would download build fraud-model #7 from ml-models-prod-local once promoted." in result.stdout
    assert (
        "Dry run: build fraud-model #7 would be downloaded from `ml-models-prod-local` to `serving` once promoted."
        in result.summary
    )


def test_a_vulnerable_dependency_is_listed_and_fail_on_violations_false_lets_the_promotion_go_on(
    action: ActionHarness, sandbox: SandboxHandle, github: FakeGitHub
) -> None:
    SandboxClient(sandbox).deploy(
        STAGE,
        "fraud-model/7/model.safetensors",
        MODEL["model.safetensors"],
        **{"build.name": "fraud-model", "build.number": "7"},
    )
    (action.workspace / "requirements.txt").write_text("torch==2.5.1\n")
    inputs = {
        "stages": "build-publish,scan,promote",
        "dependencies-file": "requirements.txt",
        "fail-on-violations": "false",
    }

    result = action.run(inputs, env={"GITHUB_API_URL": github.url})

    assert result.returncode == 0, result.log
    assert result.outputs["scan-result"] == "fail"
    violations = json.loads(result.outputs["violations"])
    torch = next(v for v in violations if "CVE-2025-32434" in v["cves"])
    assert torch["severity"] == "Critical"
    assert [(c["id"], c["fixed_versions"]) for c in torch["components"]] == [("pypi://torch:2.5.1", ["[2.6.0]"])]
    assert "### :x: Xray scan fails the build" in result.summary
    assert (
        "CVE-2025-32434: PyTorch: torch.load with weights_only=True leads to remote code execution | pypi://torch:2.5.1 | [2.6.0] |"
        in result.summary
    )
    assert [title for level, title, _ in result.annotations if level == "warning"] == ["Xray policy violations"]
    assert result.outputs["promoted"] == "true"
