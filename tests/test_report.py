from __future__ import annotations

import io
import json
from pathlib import Path

from ml_artifactory_action.artifactory.xray import BuildScan, Component, Violation
from ml_artifactory_action.buildinfo.document import BuildArtifact
from ml_artifactory_action.errors import GateFailedError
from ml_artifactory_action.inputs import load_settings
from ml_artifactory_action.model.thresholds import Threshold
from ml_artifactory_action.report import MARKER, comment_marker, publish, render
from ml_artifactory_action.runner import Runner
from ml_artifactory_action.settings import Stage
from ml_artifactory_action.stages.build_publish import BuildPublishResult
from ml_artifactory_action.stages.configure import ConfigureResult, Variable
from ml_artifactory_action.stages.context import RunState, StageContext
from ml_artifactory_action.stages.gate import GateResult, GateRow
from ml_artifactory_action.stages.promote import PromoteResult
from ml_artifactory_action.stages.resolve import ResolvedFile, ResolveResult
from ml_artifactory_action.stages.scan import ScanResult
from tests.fakes.github_api import run_fake_github
from tests.fakes.jfrog import make_context

BUILD_URL = "https://acme.jfrog.io/ui/builds/fraud-model/7/1/published?buildRepo=artifactory-build-info"
TOKEN = "ghs_reportTestToken0123456789"
GATE = GateResult(
    passed=True,
    metrics={"accuracy": 0.93, "loss": 0.2},
    rows=(
        GateRow("accuracy", 0.93, Threshold("accuracy", ">=", 0.9), 0.91),
        GateRow("loss", 0.2, Threshold("loss", "<=", 0.3), 0.25, higher_is_better=False),
    ),
    source="metrics-file 'metrics.json'",
    compared=True,
    production_build="6",
)
SCAN = ScanResult(
    "fail",
    BuildScan(
        status="completed",
        fail_build=True,
        more_details_url="https://acme.jfrog.io/ui/scans/1",
        violations=(
            Violation(
                "High",
                "security",
                "code | exec in torch.load",
                "XRAY-9",
                ("CVE-2025-32434",),
                (Component("pypi://torch:2.5.1", ("[2.6.0]",)),),
                True,
            ),
        ),
        vulnerabilities=3,
    ),
)


BOM_URL = "https://acme.jfrog.io/artifactory/stage/fraud-model/7/fraud-model.cdx.json"


def full_context(tmp_path: Path, **inputs: str) -> StageContext:
    ctx = make_context(
        tmp_path,
        {"stages": "gate,build-publish,scan,promote,resolve", "metrics-file": "m.json", "thresholds": "a>1"} | inputs,
    )
    ctx.state.results[Stage.GATE] = GATE
    ctx.state.results[Stage.BUILD_PUBLISH] = BuildPublishResult(
        "fraud-model",
        "7",
        BUILD_URL,
        (BuildArtifact("stage", "fraud-model/7/m.pkl", "1", "2", "3"),),
        2,
        31,
        published=True,
        bom_url=BOM_URL,
    )
    ctx.state.results[Stage.SCAN] = SCAN
    ctx.state.results[Stage.PROMOTE] = PromoteResult(
        "fraud-model", "7", "ml-models-prod-local", "Production", changed=True, build_url=BUILD_URL, deployment_id=1234
    )
    ctx.state.results[Stage.RESOLVE] = ResolveResult(
        "7",
        "build fraud-model #7",
        "ml-models-prod-local",
        Path("model"),
        (ResolvedFile("fraud-model/7/m.pkl", "m.pkl", 2048, "ab" * 32, True),),
    )
    ctx.state.finished.extend([Stage.GATE, Stage.BUILD_PUBLISH, Stage.SCAN, Stage.PROMOTE, Stage.RESOLVE])
    return ctx


def test_the_report_has_a_section_per_stage_with_the_facts_a_reviewer_needs(tmp_path: Path) -> None:
    text = render(full_context(tmp_path))

    assert text.startswith(f"{MARKER}\n## Model pipeline: fraud-model\n")
    assert (
        "build `fraud-model` #7 · commit `3f78685` · [workflow run](https://github.com/acme/fraud-model/actions/runs/90001)"
        in text
    )
    assert "### :white_check_mark: Quality gate passed" in text
    assert "Metrics from metrics-file 'metrics.json'. Compared with production build #6." in text
    assert "| accuracy | 0.93 | `>= 0.9` | 0.91 | +0.02 | :white_check_mark: |" in text
    assert "| loss | 0.2 | `<= 0.3` | 0.25 | -0.05 | :white_check_mark: |" in text
    assert (
        f"Published build [fraud-model #7]({BUILD_URL}). 1 files, 2 dependencies, 31 environment variables recorded."
        in text
    )
    assert f"AI-BOM (CycloneDX 1.6): [fraud-model.cdx.json]({BOM_URL})" in text
    assert "### :x: Xray scan fails the build" in text
    assert "1 violations, 3 vulnerabilities. [Details in Xray](https://acme.jfrog.io/ui/scans/1)" in text
    assert "| High | security | CVE-2025-32434: code \\| exec in torch.load | pypi://torch:2.5.1 | [2.6.0] |" in text
    assert (
        f"Build [fraud-model #7]({BUILD_URL}) promoted to `ml-models-prod-local` as **Production**. GitHub deployment 1234 recorded."
        in text
    )
    assert "Downloaded 1 of 1 files (2.0 KiB) of build fraud-model #7 from `ml-models-prod-local` to `model`." in text
    assert "| m.pkl | 2.0 KiB | `abababababab` | downloaded |" in text


def test_a_failure_keeps_the_sections_that_ran_and_ends_with_the_fix(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, {"stages": "gate", "metrics-file": "m.json", "thresholds": "a>1"})
    failed = GateResult(
        False, {"accuracy": 0.5}, (GateRow("accuracy", 0.5, Threshold("accuracy", ">=", 0.9)),), "metrics-file 'm.json'"
    )
    ctx.state.results[Stage.GATE] = failed
    error = GateFailedError("The candidate fails 1 of 1 checks", fix="Improve the model.")

    text = render(ctx, error)

    assert "### :x: Quality gate failed" in text
    assert "| accuracy | 0.5 | `>= 0.9` |  |  | :x: |" in text
    assert text.endswith(
        "### :x: Quality gate failed\n\nThe candidate fails 1 of 1 checks\n\n**How to fix:** Improve the model.\n"
    )


def test_configure_and_dry_run_sections(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, {"stages": "configure,promote", "pypi-repo": "pypi-remote", "dry-run": "true"})
    ctx.state.results[Stage.CONFIGURE] = ConfigureResult(
        (Variable("PIP_INDEX_URL", "https://u:t@x/simple", secret=True), Variable("HF_HUB_DISABLE_XET", "1")),
        "https://x/simple",
        "",
        dry_run=True,
    )
    ctx.state.results[Stage.PROMOTE] = PromoteResult(
        "fraud-model", "7", "prod", "Production", changed=False, dry_run=True, build_url="u"
    )

    text = render(ctx)

    assert "## Model pipeline: fraud-model (dry run)" in text
    assert "Would set for later steps: `PIP_INDEX_URL` (masked), `HF_HUB_DISABLE_XET`." in text
    assert "https://u:t@x" not in text
    assert "Dry run: build [fraud-model #7](u) would be promoted to `prod` as **Production**." in text


def pr_event(tmp_path: Path, number: int = 42) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "number": number, "pull_request": {"number": number}}))
    return {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event)}


def test_on_a_pull_request_the_report_is_a_comment_updated_in_place(tmp_path: Path) -> None:
    with run_fake_github(TOKEN) as github:
        env = pr_event(tmp_path) | {"GITHUB_API_URL": github.url}
        first = make_context(
            tmp_path / "1",
            {"stages": "gate", "metrics-file": "m.json", "thresholds": "a>1", "github-token": TOKEN},
            env=env,
        )
        first.state.results[Stage.GATE] = GATE
        publish(first, None)
        second = make_context(
            tmp_path / "2",
            {"stages": "gate", "metrics-file": "m.json", "thresholds": "a>1", "github-token": TOKEN},
            env=env,
        )
        second.runner.mask("a-secret-value")
        second.state.results[Stage.GATE] = GateResult(False, {}, (), "metrics from a-secret-value")
        publish(second, GateFailedError("gate failed", fix="fix it"))

    [comment] = github.issue_comments(42)
    assert comment["body"].startswith(MARKER)
    assert "### :x: Quality gate failed" in comment["body"]
    assert "a-secret-value" not in comment["body"]
    assert [m for m, _ in github.requests] == ["GET", "POST", "GET", "PATCH"]
    assert second.runner.summary[-1].startswith(MARKER)


def test_two_models_on_one_pull_request_each_keep_their_own_comment(tmp_path: Path) -> None:
    with run_fake_github(TOKEN) as github:
        env = pr_event(tmp_path) | {"GITHUB_API_URL": github.url}
        for run, model in enumerate(["fraud-model", "churn-model", "fraud-model", "fraud-model-v2"]):
            ctx = make_context(
                tmp_path / str(run),
                {"stages": "gate", "metrics-file": "m.json", "thresholds": "a>1", "github-token": TOKEN}
                | {"model-name": model},
                env=env,
            )
            ctx.state.results[Stage.GATE] = GATE
            publish(ctx, None)

    bodies = [c["body"] for c in github.issue_comments(42)]
    assert [b.splitlines()[0] for b in bodies] == [
        f"{MARKER}<!-- model=fraud-model -->",
        f"{MARKER}<!-- model=churn-model -->",
        f"{MARKER}<!-- model=fraud-model-v2 -->",
    ]
    assert comment_marker("a-->b") == f"{MARKER}<!-- model=a--%3Eb -->"


def test_a_comment_refused_only_warns_and_other_events_post_nothing(tmp_path: Path) -> None:
    with run_fake_github(TOKEN, deny={"comments"}) as github:
        env = pr_event(tmp_path) | {"GITHUB_API_URL": github.url}
        ctx = make_context(
            tmp_path / "pr",
            {"stages": "gate", "metrics-file": "m.json", "thresholds": "a>1", "github-token": TOKEN},
            env=env,
        )
        publish(ctx, None)
        push = make_context(
            tmp_path / "push",
            {"stages": "gate", "metrics-file": "m.json", "thresholds": "a>1", "github-token": TOKEN},
            env={"GITHUB_API_URL": github.url},
        )
        publish(push, None)
        off = make_context(
            tmp_path / "off",
            {
                "stages": "gate",
                "metrics-file": "m.json",
                "thresholds": "a>1",
                "github-token": TOKEN,
                "pr-comment": "false",
            },
            env=env,
        )
        publish(off, None)

    assert ctx.runner.annotations[0][:2] == ("warning", "Report not posted on the pull request")
    assert "pull-requests: write" in ctx.runner.annotations[0][2]
    assert len(github.requests) == 1


def test_outside_actions_the_report_goes_to_a_file_and_outputs_are_printed(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "INPUT_STAGES": "gate",
            "INPUT_METRICS-FILE": "m.json",
            "INPUT_THRESHOLDS": "a>1",
            "GITHUB_REPOSITORY": "acme/fraud-model",
        }
    )
    stream = io.StringIO()
    runner = Runner(settings.github, stream)
    ctx = StageContext(settings, runner, RunState())
    ctx.state.results[Stage.GATE] = GATE
    runner.set_output("gate-passed", "true")

    publish(ctx, None)

    lines = stream.getvalue().splitlines()
    report_line = next(line for line in lines if line.startswith("Report: "))
    assert Path(report_line.removeprefix("Report: ")).read_text().startswith(MARKER)
    assert "Output gate-passed: true" in lines
    Path(report_line.removeprefix("Report: ")).unlink()


def test_files_uploaded_with_allow_unsafe_pickle_open_the_report(tmp_path: Path) -> None:
    from ml_artifactory_action.stages.upload_result import UploadedArtifact, UploadResult  # noqa: PLC0415

    def artifact(path: str, unsafe: tuple[str, ...] = ()) -> UploadedArtifact:
        url = f"https://acme.jfrog.io/artifactory/stage/{path}"
        return UploadedArtifact(path, "stage", path, 10, "1", "2" * 64, "3", url, True, unsafe_globals=unsafe)

    ctx = full_context(tmp_path)
    artifacts = (
        artifact("fraud-model/7/config.json"),
        artifact("fraud-model/7/m.pkl", ("posix.system", "builtins.eval")),
    )
    ctx.state.results[Stage.UPLOAD] = UploadResult("stage", "fraud-model/7", "https://x", artifacts, (), "1")

    text = render(ctx)

    flag = "### :warning: 1 model file that runs code when loaded was uploaded (allow-unsafe-pickle)"
    assert text.index(flag) < text.index("### :white_check_mark: Quality gate passed")
    assert "Each carries the property `model.unsafe-globals`. Review them before approving the promotion." in text
    assert (
        "| [fraud-model/7/m.pkl](https://acme.jfrog.io/artifactory/stage/fraud-model/7/m.pkl) | `posix.system`, `builtins.eval` |"
        in text
    )
    assert "| sent :warning: runs code when loaded |" in text
    ctx.state.results[Stage.UPLOAD] = UploadResult("stage", "fraud-model/7", "https://x", artifacts[:1], (), "1")
    assert ":warning:" not in render(ctx)
