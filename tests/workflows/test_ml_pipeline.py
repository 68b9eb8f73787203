"""The reusable ML pipeline, run job by job as the runner would, against the sandbox with OIDC."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import parse_file_command
from tests.fakes.mlflow import run_fake_mlflow
from tests.workflows.artifacts import upload_artifact
from tests.workflows.conftest import PROVIDER, Platform
from tests.workflows.declarations import WorkflowError, load
from tests.workflows.expressions import interpolate
from tests.workflows.simulator import GITHUB_MADE, ROOT, WorkflowSimulator

PIPELINE = ROOT / ".github" / "workflows" / "ml-pipeline.yml"
TEMPLATE = ROOT / "workflows" / "train-and-publish.yml"
GRANTED = {"contents": "read", "id-token": "write", "deployments": "write"}


def pipeline_inputs(platform: Platform, **overrides: Any) -> dict[str, Any]:
    return {
        "train-command": "python train.py --out model --metrics metrics.json",
        "requirements-file": "requirements.txt",
        "model-path": "model/",
        "thresholds": "accuracy >= 0.90\nf1 >= 0.85",
        "jfrog-url": platform.sandbox.url,
        "oidc-provider-name": PROVIDER,
    } | overrides


def aql(platform: Platform, query: str) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{platform.sandbox.artifactory_url}/api/search/aql",
        content=query,
        headers={"Authorization": f"Bearer {platform.sandbox.admin_token}", "Content-Type": "text/plain"},
    )
    response.raise_for_status()
    return list(response.json()["results"])


def models_in(platform: Platform, repo: str) -> dict[str, str]:
    """path/name -> sha256 of every model.safetensors in the repository."""
    found = aql(platform, f'items.find({{"repo":"{repo}","name":"model.safetensors"}}).include("path","name","sha256")')
    return {f"{item['path']}/{item['name']}": item["sha256"] for item in found}


def build_statuses(platform: Platform, name: str, number: str) -> list[str]:
    response = httpx.get(
        f"{platform.sandbox.artifactory_url}/api/build/{name}/{number}",
        headers={"Authorization": f"Bearer {platform.sandbox.admin_token}"},
    )
    response.raise_for_status()
    return [s["status"] for s in response.json()["buildInfo"].get("statuses", [])]


def trained_sha256(simulator: WorkflowSimulator) -> str:
    return hashlib.sha256(
        (simulator.artifacts / "ml-model-fraud-model" / "model" / "model.safetensors").read_bytes()
    ).hexdigest()


def test_on_the_default_branch_it_trains_publishes_scans_stages_and_promotes(simulate: Any, platform: Platform) -> None:
    simulator = simulate()
    # A caller with a JF_ACCESS_TOKEN secret left over: OIDC is used (the jobs have an ID token); if
    # the stale token were used, the sandbox would refuse it.
    stale = {"JF_ACCESS_TOKEN": "stale-token-0123456789"}

    run = simulator.call(PIPELINE, pipeline_inputs(platform), stale, GRANTED)

    assert {name: job.result for name, job in run.jobs.items()} == {
        "train": "success",
        "publish": "success",
        "promote": "success",
    }
    assert run.outputs["build-name"] == "fraud-model"
    assert run.outputs["build-number"] == "7"
    assert run.outputs["scan-result"] == "pass"
    assert run.outputs["promoted"] == "true"
    assert run.outputs["model-url"].startswith(f"{platform.sandbox.artifactory_url}/ml-models-dev-local/fraud-model/7")
    sha256 = trained_sha256(simulator)
    for repo in ("ml-models-dev-local", "ml-models-staging-local", "ml-models-prod-local"):
        assert list(models_in(platform, repo).values()) == [sha256], repo
    assert build_statuses(platform, "fraud-model", "7") == ["Staging", "Production"]
    promote = run.jobs["promote"]
    assert promote.environment == "production"
    assert promote.concurrency == "ml-promote-acme/fraud-model-fraud-model"
    deployments = list(platform.github.deployments.values())
    assert [d["environment"] for d in deployments] == ["staging", "production"], "one deployment per promotion"
    assert deployments[1]["description"] == GITHUB_MADE  # the environment's, with the build's link
    [status] = platform.github.statuses[deployments[1]["id"]]
    assert status["environment_url"].startswith(f"{platform.sandbox.url}/ui/builds/fraud-model/7/")
    for action in run.jobs["publish"].actions + run.jobs["promote"].actions:
        both = [message for level, title, message in action.annotations if title == "Two ways to log in"]
        assert len(both) == 1
        assert "logging in with OIDC (github-oidc)" in both[0]


def test_on_another_branch_it_publishes_to_staging_with_the_training_paths_but_does_not_promote(
    simulate: Any, platform: Platform
) -> None:
    simulator = simulate(ref="refs/heads/feature/new-features")
    # The training command gets its secrets from TRAIN_ENV, and fails without them.
    train = 'test "$HF_TOKEN" = hf_0123456789abcdef && test "$WANDB_MODE" = offline && python train.py --out model'
    inputs = pipeline_inputs(platform, **{"train-command": train, "runs-on": '["self-hosted", "gpu"]'})
    inputs |= {"model-version": "1.4.0", "properties": "team=fraud", "scan-timeout": 120, "timeout-minutes": 90}
    secrets = {"TRAIN_ENV": "# for the training only\nHF_TOKEN=hf_0123456789abcdef\r\nWANDB_MODE=offline\n"}

    run = simulator.call(PIPELINE, inputs, secrets, GRANTED)

    trained = run.jobs["train"]
    assert (trained.runs_on, trained.timeout_minutes) == (["self-hosted", "gpu"], 90)
    assert "::add-mask::hf_0123456789abcdef" in trained.step("Train").stdout.splitlines()
    assert run.jobs["publish"].result == "success"
    assert run.outputs["model-url"].startswith(
        f"{platform.sandbox.artifactory_url}/ml-models-dev-local/fraud-model/1.4.0"
    )
    tagged = aql(platform, 'items.find({"repo":"ml-models-dev-local","@team":"fraud"}).include("name")')
    assert sorted(item["name"] for item in tagged) == ["config.json", "model.safetensors"]
    artifact = simulator.artifacts / "ml-model-fraud-model"
    stored = sorted(p.relative_to(artifact).as_posix() for p in artifact.rglob("*") if p.is_file())
    assert stored == ["metrics.json", "ml-pipeline-run.json", "model/config.json", "model/model.safetensors"]
    assert run.jobs["promote"].result == "skipped"
    assert run.outputs["promoted"] == ""
    assert len(models_in(platform, "ml-models-staging-local")) == 1
    assert models_in(platform, "ml-models-prod-local") == {}


# GitHub's "Events that trigger workflows", schedule: GITHUB_SHA is the "Last commit on default branch",
# GITHUB_REF the "Default branch"; the payload carries only the cron line. github/codeql-action#1211:
# "When running on a schedule, the event payload does not contain any repository information such as
# the default branch name."
SCHEDULE_EVENT = {"schedule": "23 4 * * 1"}


def artifact_name(model_name: str, tmp_path: Path) -> str:
    """The train job's naming step, run as the runner runs a `run:` step."""
    step = next(s for s in load(PIPELINE)["jobs"]["train"]["steps"] if s.get("id") == "artifact")
    output = tmp_path / "github_output"
    output.write_text("")
    env = {"PATH": "/usr/bin:/bin", "GITHUB_OUTPUT": str(output), "GITHUB_REPOSITORY": "acme/fraud-model"}
    script = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]]
    subprocess.run(script, env=env | {"MODEL_NAME": model_name}, check=True)
    return parse_file_command(output.read_text())["name"]


def test_two_models_called_in_one_run_upload_artifacts_of_their_own(tmp_path: Path) -> None:
    train = load(PIPELINE)["jobs"]["train"]
    upload = next(s for s in train["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "${{ steps.artifact.outputs.name }}"
    (tmp_path / "metrics.json").write_text("{}")
    store = tmp_path / "artifacts"

    names = [artifact_name(model, tmp_path) for model in ("fraud-model", "churn:model/v2", "")]
    for name in names[:2]:
        upload_artifact(tmp_path, store, "keep", {"name": name, "path": "metrics.json"})

    assert names == ["ml-model-fraud-model", "ml-model-churn-model-v2", "ml-model-fraud-model"]
    assert sorted(p.name for p in store.iterdir()) == ["ml-model-churn-model-v2", "ml-model-fraud-model"]
    with pytest.raises(WorkflowError, match="an artifact named 'ml-model-fraud-model' was already uploaded"):
        upload_artifact(tmp_path, store, "keep", {"name": names[2], "path": "metrics.json"})


def test_a_malformed_train_env_line_fails_without_showing_it(tmp_path: Path) -> None:
    step = next(s for s in load(PIPELINE)["jobs"]["train"]["steps"] if s.get("id") == "train")
    env = {"PATH": "/usr/bin:/bin", "TRAIN_ENV": "HF_TOKEN=ok\nhf_leaked_value_without_a_name", "TRAIN_COMMAND": "true"}
    script = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]]

    proc = subprocess.run(script, env=env, cwd=tmp_path, capture_output=True, text=True, check=False)

    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1].startswith("::error title=Invalid secret 'TRAIN_ENV'::Each line must be")
    assert "hf_leaked_value_without_a_name" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("runs_on", "expected"),
    [("ubuntu-latest", "ubuntu-latest"), ('{"group": "gpu-runners"}', {"group": "gpu-runners"})],
)
def test_the_training_runner_is_a_label_or_json(runs_on: str, expected: Any) -> None:
    job = load(PIPELINE)["jobs"]["train"]

    assert interpolate(job["runs-on"], {"inputs": {"runs-on": runs_on}}) == expected


# Action inputs the issue found missing from the reusable pipeline (issue 11, item 7).
EXPOSED = ("mlflow-tracking-uri", "mlflow-run-id", "allowed-globals", "allow-unsafe-pickle", "model-version")
EXPOSED += ("properties", "scan-timeout", "fail-on-violations", "overwrite")


def test_the_pipeline_passes_the_model_inputs_ml_projects_need_to_the_action() -> None:
    spec = load(PIPELINE)
    declared = spec["on"]["workflow_call"]["inputs"]
    publish = next(s for s in spec["jobs"]["publish"]["steps"] if s.get("id") == "publish")

    for name in EXPOSED:
        assert name in declared, name
        assert f"inputs.{name}" in str(publish["with"][name]), name


@pytest.mark.parametrize("overwrite", [False, True])
def test_overwrite_reaches_the_action_and_decides_whether_a_taken_version_is_replaced(
    simulate: Any, platform: Platform, overwrite: bool
) -> None:
    """A model version already holding other content (a run before, say) stops the upload unless
    the caller sets the pipeline's overwrite, which the publish step hands to the action as a string."""
    taken = "fraud-model/7/config.json"
    httpx.put(
        f"{platform.sandbox.artifactory_url}/ml-models-dev-local/{taken}",
        content=b'{"an": "older model"}',
        headers={"Authorization": f"Bearer {platform.sandbox.admin_token}"},
    ).raise_for_status()
    inputs = pipeline_inputs(platform, promote=False) | ({"overwrite": True} if overwrite else {})

    simulator = simulate()
    run = simulator.call(PIPELINE, inputs, {}, GRANTED)

    publish = run.jobs["publish"]
    assert publish.step("Gate, upload, publish build-info, scan").inputs["overwrite"] == str(overwrite).lower()
    if overwrite:
        assert publish.result == "success"
        assert f"overwrite is set: replacing 1 files that hold other content: {taken}" in publish.actions[0].log
        assert list(models_in(platform, "ml-models-dev-local").values()) == [trained_sha256(simulator)]
    else:
        assert publish.result == "failure"
        assert [title for title, _ in publish.actions[0].errors] == ["Target path holds other content"]
        assert models_in(platform, "ml-models-dev-local") == {}


def test_a_failed_gate_on_the_mlflow_run_the_training_names_stops_the_pipeline_before_any_upload(
    simulate: Any, platform: Platform
) -> None:
    # The training logs to MLflow and writes the run id as a step output, as README says.
    train = 'python train.py --out model && echo "mlflow-run-id=5f1e0c2a" >> "$GITHUB_OUTPUT"'
    with run_fake_mlflow({"5f1e0c2a": {"accuracy": 0.95, "f1": 0.91}}) as tracking_uri:
        inputs = pipeline_inputs(platform, thresholds="accuracy >= 0.99") | {"train-command": train}
        run = simulate().call(PIPELINE, inputs | {"mlflow-tracking-uri": tracking_uri}, {}, GRANTED)

    publish = run.jobs["publish"]
    assert (publish.result, run.jobs["promote"].result) == ("failure", "skipped")
    assert publish.step("Gate, upload, publish build-info, scan").inputs["mlflow-run-id"] == "5f1e0c2a"
    assert publish.step("Gate, upload, publish build-info, scan").inputs["metrics-file"] == ""
    assert [title for title, _ in publish.actions[0].errors] == ["Quality gate failed"]
    assert f"MLflow run '5f1e0c2a' at {tracking_uri}" in publish.actions[0].summary
    assert models_in(platform, "ml-models-dev-local") == {}


def test_an_access_token_secret_works_and_a_jf_url_secret_is_warned_about(simulate: Any, platform: Platform) -> None:
    inputs = pipeline_inputs(platform, promote=False) | {"oidc-provider-name": "", "jfrog-url": ""}
    secrets = {"JF_ACCESS_TOKEN": platform.sandbox.admin_token, "JF_URL": platform.sandbox.url}

    run = simulate().call(PIPELINE, inputs, secrets, GRANTED)

    publish = run.jobs["publish"]
    assert publish.result == "success"
    assert run.outputs["scan-result"] == "pass"
    assert publish.actions[0].outputs["model-url"].startswith(platform.sandbox.url)
    assert run.outputs["model-url"] == "", "the runner drops a job output that holds a secret's value"
    warning = publish.step("Warn when the JFrog URL is a secret").stdout
    assert warning.startswith("::warning title=JF_URL is a secret::The runner drops job outputs")


def test_a_scheduled_run_of_the_template_runs_the_pipeline_as_written_and_promotes(
    simulate: Any, platform: Platform
) -> None:
    simulator = simulate(event_name="schedule", event=SCHEDULE_EVENT)
    assert "schedule" in load(TEMPLATE)["on"]

    runs = simulator.caller(TEMPLATE, vars_={"JF_URL": platform.sandbox.url})

    run = runs["pipeline"]
    assert {name: job.result for name, job in run.jobs.items()} == {
        "train": "success",
        "publish": "success",
        "promote": "success",
    }
    assert len(models_in(platform, "ml-models-prod-local")) == 1
    assert run.outputs["model-url"].startswith(platform.sandbox.url), "a variable's value is no secret"


def test_a_caller_that_does_not_grant_id_token_write_is_refused(simulate: Any, platform: Platform) -> None:
    with pytest.raises(
        WorkflowError, match="job 'publish' asks for id-token: write but the caller grants id-token: none"
    ):
        simulate().call(PIPELINE, pipeline_inputs(platform), {}, {"contents": "read", "deployments": "write"})


def test_a_wrong_input_name_in_the_workflow_fails_before_anything_runs(
    simulate: Any, platform: Platform, tmp_path: Path
) -> None:
    broken = tmp_path / "ml-pipeline.yml"
    broken.write_text(PIPELINE.read_text(encoding="utf-8").replace("          model-path:", "          model-paths:"))

    with pytest.raises(WorkflowError, match=r"\['model-paths'\] are not inputs of action.yml"):
        simulate().call(broken, pipeline_inputs(platform), {}, GRANTED)


def test_every_input_the_template_passes_is_declared_by_the_pipeline() -> None:
    declared = yaml.safe_load(PIPELINE.read_text(encoding="utf-8"))[True]["workflow_call"]["inputs"]
    given = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))["jobs"]["pipeline"]["with"]

    assert set(given) <= set(declared)
    assert {name for name, meta in declared.items() if meta.get("required")} <= set(given)
