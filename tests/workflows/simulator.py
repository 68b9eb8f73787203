"""Run our workflows' jobs the way the Actions runner would, on this machine, against the sandbox.

What the runner does that matters for a wrong workflow, and that this simulator does too:
- `workflow_call` / `workflow_dispatch` inputs are checked against the workflow's declaration
  (unknown names, missing required ones, choice options, types) and defaults are applied;
  secrets must be declared; a called workflow's jobs may not ask for more permissions than the
  caller's job grants.
- Jobs run in `needs` order with a fresh workspace each; `if:` is evaluated; outputs flow through
  `steps`, `needs` and `jobs` contexts; `${{ }}` is evaluated in `with:`, `env:`, `environment`,
  `concurrency` and outputs (see expressions.py).
- `run:` steps run with `bash --noprofile --norc -eo pipefail`, the step's env and the file commands.
- Our action's steps run the entrypoint through the e2e harness (`python -m ml_artifactory_action`
  with `INPUT_<NAME>` variables, action.yml's defaults for inputs not given); every `with:` key
  must be an input of action.yml. The job's ID token is there only if the job has id-token: write,
  and then for every step, `run:` scripts too ("a job granted the 'id-token: write' permission gets
  the ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN environment variables", as
  fluxcd/pkg's actionsoidc documents the runner's contract).
- A job with `environment:` makes a GitHub deployment of its own ("When a workflow references an
  environment, the environment will appear in the repository's deployments"; the environment's `url`
  "will appear on the deployments page"): one is created in the fake GitHub API when the job starts,
  with a success status carrying the evaluated `url` when it ends.
- Job outputs that hold a secret's value are dropped, as the runner does ("Outputs containing secrets
  are redacted on the runner and not sent to GitHub Actions", workflow syntax, jobs.<job_id>.outputs;
  the runner logs "Skip output ... since it may contain secret").
- The reusable workflows run our action from their own commit: actions/checkout with
  `repository: job.workflow_repository`, `ref: job.workflow_sha` and a `path` puts this
  repository's action.yml there ("job.workflow_repository: the owner/repo of the repository
  containing the workflow file that defines the current job"; "job.workflow_sha: the commit SHA of
  the workflow file", GitHub's job context), and `uses: ./<path>` runs it only if it is there.
- actions/checkout without `repository` empties the workspace and copies the user's repository, setup-python puts this interpreter first on PATH,
  upload-artifact/download-artifact keep files between jobs with upload-artifact's rule that paths
  are stored relative to the least common ancestor of the search paths.
Any other `uses:` raises, so a new action in a workflow needs a decision here.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from artifactory_sandbox.issuer import IssuerHandle
from tests.e2e.conftest import FAKE_GITHUB_TOKEN, ActionHarness, ActionResult, action_defaults, parse_file_command
from tests.workflows.artifacts import download_artifact, upload_artifact
from tests.workflows.declarations import WorkflowError, check_inputs, check_permissions, load
from tests.workflows.expressions import condition, interpolate, to_string

ROOT = Path(__file__).resolve().parents[2]
OUR_ACTION = re.compile(r"^[\w.-]+/ml-artifactory-action@\S+$")
LOCAL_ACTION = re.compile(r"^\./(?P<path>[\w.-]+)$")
ACTION_REPOSITORY = "acme/ml-artifactory-action"
ACTION_SHA = "9c1d5a0f6e2b7c3d4e5f60718293a4b5c6d7e8f9"  # the commit the called workflow file is at
OUR_WORKFLOW = re.compile(r"^[\w.-]+/ml-artifactory-action/\.github/workflows/(?P<file>[\w.-]+\.ya?ml)@\S+$")
CHECKOUT, SETUP_PYTHON = "actions/checkout@", "actions/setup-python@"
UPLOAD_ARTIFACT, DOWNLOAD_ARTIFACT = "actions/upload-artifact@", "actions/download-artifact@"
RUN_TIMEOUT_S = 120
GITHUB_MADE = "made by GitHub for the job's environment"


@dataclass
class StepRecord:
    name: str
    kind: str
    inputs: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    action: ActionResult | None = None
    stdout: str = ""


@dataclass
class JobRecord:
    name: str
    result: str  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    environment: str = ""
    concurrency: str = ""
    runs_on: Any = None
    timeout_minutes: Any = None
    steps: list[StepRecord] = field(default_factory=list)

    def step(self, name: str) -> StepRecord:
        return next(s for s in self.steps if s.name == name)

    @property
    def actions(self) -> list[ActionResult]:
        return [s.action for s in self.steps if s.action is not None]


@dataclass
class RunRecord:
    jobs: dict[str, JobRecord]
    outputs: dict[str, str]


class WorkflowSimulator:
    def __init__(
        self,
        harness: ActionHarness,
        repository: Path,
        github: Mapping[str, Any],
        issuer: IssuerHandle | None = None,
        github_api_url: str = "http://127.0.0.1:9",
    ) -> None:
        self.harness = harness
        self.github_api_url = github_api_url
        self.repository = repository
        self.github = dict(github)
        self.issuer = issuer
        self.artifacts = harness.root / "artifacts"
        self.action_inputs = set(action_defaults())
        self.steps_run = 0

    # Triggers ------------------------------------------------------------------------------
    def call(
        self,
        workflow: Path,
        inputs: Mapping[str, Any],
        secrets: Mapping[str, str] | None = None,
        granted: Mapping[str, str] | None = None,
        vars_: Mapping[str, str] | None = None,
    ) -> RunRecord:
        """`uses: <workflow>` from a caller job that grants `granted` permissions."""
        spec = load(workflow)
        trigger = spec["on"].get("workflow_call") or {}
        values = check_inputs(workflow.name, trigger.get("inputs") or {}, inputs, dispatch=False)
        declared = set((trigger.get("secrets") or {}).keys())
        unknown = set(secrets or {}) - declared
        if unknown:
            raise WorkflowError(f"{workflow.name}: secrets {sorted(unknown)} are not declared by workflow_call")
        check_permissions(workflow.name, spec, granted)
        contexts = {"inputs": values, "secrets": dict(secrets or {}), "vars": dict(vars_ or {})}
        run = self._run_jobs(spec, contexts)
        outputs = {
            name: to_string(interpolate(meta["value"], {"jobs": self._jobs_context(run)}))
            for name, meta in (trigger.get("outputs") or {}).items()
        }
        return RunRecord(run, outputs)

    def dispatch(
        self,
        workflow: Path,
        inputs: Mapping[str, Any],
        secrets: Mapping[str, str] | None = None,
        vars_: Mapping[str, str] | None = None,
    ) -> RunRecord:
        spec = load(workflow)
        trigger = spec["on"].get("workflow_dispatch")
        if trigger is None:
            raise WorkflowError(f"{workflow.name} has no workflow_dispatch trigger")
        values = check_inputs(workflow.name, (trigger or {}).get("inputs") or {}, inputs, dispatch=True)
        contexts = {"inputs": values, "secrets": dict(secrets or {}), "vars": dict(vars_ or {})}
        return RunRecord(self._run_jobs(spec, contexts), {})

    def trigger(
        self, workflow: Path, secrets: Mapping[str, str] | None = None, vars_: Mapping[str, str] | None = None
    ) -> RunRecord:
        """The workflow started by the event of the `github` context (push, pull_request, schedule)."""
        spec = load(workflow)
        event = self.github["event_name"]
        if event not in (spec["on"] or {}):
            raise WorkflowError(f"{workflow.name} does not run on {event}")
        contexts = {"inputs": {}, "secrets": dict(secrets or {}), "vars": dict(vars_ or {})}
        return RunRecord(self._run_jobs(spec, contexts), {})

    def caller(
        self,
        template: Path,
        inputs: Mapping[str, Any] | None = None,
        secrets: Mapping[str, str] | None = None,
        overrides: Mapping[str, str] | None = None,
        vars_: Mapping[str, str] | None = None,
    ) -> dict[str, RunRecord]:
        """Run a template's jobs that call our reusable workflows (with some `with:` values replaced).

        `inputs` are the template's own workflow_dispatch inputs, checked and defaulted.
        """
        spec = load(template)
        dispatch = (spec["on"] or {}).get("workflow_dispatch") or {}
        values = check_inputs(template.name, dispatch.get("inputs") or {}, inputs or {}, dispatch=True)
        contexts = {"inputs": values, "secrets": dict(secrets or {}), "vars": dict(vars_ or {}), "github": self.github}
        runs = {}
        for name, job in spec["jobs"].items():
            match = OUR_WORKFLOW.match(job.get("uses", ""))
            if not match:
                continue
            given = {key: _value(interpolate(value, contexts)) for key, value in (job.get("with") or {}).items()}
            given |= {key: value for key, value in (overrides or {}).items() if key in given}
            passed = {key: to_string(interpolate(v, contexts)) for key, v in (job.get("secrets") or {}).items()}
            granted = job.get("permissions", spec.get("permissions"))
            called = ROOT / ".github/workflows" / match.group("file")
            runs[name] = self.call(called, given, passed, granted, vars_)
        return runs

    # Jobs ----------------------------------------------------------------------------------
    def _run_jobs(self, spec: Mapping[str, Any], contexts: dict[str, Any]) -> dict[str, JobRecord]:
        done: dict[str, JobRecord] = {}
        pending = dict(spec["jobs"])
        while pending:
            ready = [n for n, j in pending.items() if set(_needs(j)) <= set(done)]
            if not ready:
                raise WorkflowError(f"jobs {sorted(pending)} wait on each other or on a job that does not exist")
            for name in ready:
                job = pending.pop(name)
                done[name] = self._run_job(name, job, spec, contexts, done)
        return done

    def _run_job(
        self,
        name: str,
        job: Mapping[str, Any],
        spec: Mapping[str, Any],
        contexts: dict[str, Any],
        done: Mapping[str, JobRecord],
    ) -> JobRecord:
        needs = {n: {"result": done[n].result, "outputs": done[n].outputs} for n in _needs(job)}
        job_context = {"workflow_repository": ACTION_REPOSITORY, "workflow_sha": ACTION_SHA}
        ctx = contexts | {"github": self.github, "needs": needs, "env": {}, "steps": {}, "job": job_context}
        if any(done[n].result != "success" for n in _needs(job)) or not condition(job.get("if"), ctx):
            return JobRecord(name, "skipped")
        if "uses" in job:
            raise WorkflowError(f"job {name!r}: nested reusable workflows are not simulated")
        record = JobRecord(
            name,
            "success",
            environment=to_string(interpolate(_environment_name(job.get("environment")), ctx)),
            concurrency=to_string(interpolate((job.get("concurrency") or {}).get("group", ""), ctx)),
            runs_on=interpolate(job.get("runs-on"), ctx),
            timeout_minutes=interpolate(job.get("timeout-minutes", 360), ctx),
        )
        permissions = job.get("permissions", spec.get("permissions")) or {}
        ctx["env"] = {
            k: to_string(interpolate(v, ctx)) for k, v in ((spec.get("env") or {}) | (job.get("env") or {})).items()
        }
        self._reset_workspace()
        deployment = self._environment_deployment(record.environment)
        for index, step in enumerate(job["steps"]):
            if not condition(step.get("if"), ctx):
                continue
            step_record, outputs, ok = self._run_step(index, step, ctx, permissions)
            record.steps.append(step_record)
            if "id" in step:
                ctx["steps"][step["id"]] = {"outputs": outputs, "outcome": "success" if ok else "failure"}
            if not ok:
                record.result = "failure"
                self._deployment_status(deployment, "failure", "")
                return record
        record.outputs = _drop_secrets(
            {k: to_string(interpolate(v, ctx)) for k, v in (job.get("outputs") or {}).items()}, ctx["secrets"]
        )
        environment = job.get("environment")
        url = environment.get("url", "") if isinstance(environment, Mapping) else ""
        self._deployment_status(deployment, "success", to_string(interpolate(url, ctx)))
        return record

    def _environment_deployment(self, environment: str) -> str:
        """GitHub's own deployment of a job that references an environment (its statuses URL, or '')."""
        if not environment:
            return ""
        answer = httpx.post(
            f"{self.github_api_url}/repos/{self.github['repository']}/deployments",
            json={"ref": self.github["sha"], "environment": environment, "description": GITHUB_MADE},
            headers={"Authorization": f"token {FAKE_GITHUB_TOKEN}"},
        )
        answer.raise_for_status()
        return str(answer.json()["statuses_url"])

    def _deployment_status(self, statuses_url: str, state: str, environment_url: str) -> None:
        if statuses_url:
            body = {"state": state} | ({"environment_url": environment_url} if environment_url else {})
            answer = httpx.post(statuses_url, json=body, headers={"Authorization": f"token {FAKE_GITHUB_TOKEN}"})
            answer.raise_for_status()

    def _jobs_context(self, run: Mapping[str, JobRecord]) -> dict[str, Any]:
        return {name: {"result": job.result, "outputs": job.outputs} for name, job in run.items()}

    def _reset_workspace(self) -> None:
        workspace = self.harness.workspace
        shutil.rmtree(workspace)
        workspace.mkdir()

    # Steps ---------------------------------------------------------------------------------
    def _run_step(
        self, index: int, step: Mapping[str, Any], ctx: dict[str, Any], permissions: Mapping[str, str]
    ) -> tuple[StepRecord, dict[str, str], bool]:
        run = str(step.get("run", "")).strip().splitlines()
        shown = f"Run {run[0]}" if run else f"step {index}"  # as GitHub names a step without a name
        name = str(step.get("name") or step.get("id") or step.get("uses") or shown)
        env = ctx["env"] | {k: to_string(interpolate(v, ctx)) for k, v in (step.get("env") or {}).items()}
        with_ = {k: to_string(interpolate(v, ctx)) for k, v in (step.get("with") or {}).items()}
        uses = str(step.get("uses", ""))
        if "run" in step:
            return self._run_script(name, str(step["run"]), env | self._id_token_env(permissions))
        local = LOCAL_ACTION.match(uses)
        if local and not (self.harness.workspace / local["path"] / "action.yml").is_file():
            raise WorkflowError(f"step {name!r}: no action.yml at {uses} (check the action out there first)")
        if OUR_ACTION.match(uses) or local:
            return self._run_action(name, with_, env, permissions)
        if uses.startswith(CHECKOUT):
            self._checkout(name, with_)
        elif uses.startswith(SETUP_PYTHON):
            if not with_.get("python-version"):
                raise WorkflowError(f"step {name!r}: setup-python without a python-version")
        elif uses.startswith(UPLOAD_ARTIFACT):
            upload_artifact(self.harness.workspace, self.artifacts, name, with_)
        elif uses.startswith(DOWNLOAD_ARTIFACT):
            download_artifact(self.harness.workspace, self.artifacts, with_)
        else:
            raise WorkflowError(f"step {name!r}: the simulator does not know {uses!r}")
        return StepRecord(name, uses.partition("@")[0], with_, env), {}, True

    def _checkout(self, name: str, with_: Mapping[str, str]) -> None:
        if not with_.get("repository"):
            self._reset_workspace()
            shutil.copytree(self.repository, self.harness.workspace, dirs_exist_ok=True)
            return
        if (with_["repository"], with_.get("ref")) != (ACTION_REPOSITORY, ACTION_SHA) or not with_.get("path"):
            raise WorkflowError(
                f"step {name!r}: checks out {with_['repository']}@{with_.get('ref')} instead of the action"
            )
        target = self.harness.workspace / with_["path"]
        target.mkdir(parents=True)
        shutil.copy2(ROOT / "action.yml", target / "action.yml")

    def _files(self) -> dict[str, Path]:
        self.steps_run += 1
        folder = self.harness.root / f"step-{self.steps_run}"
        folder.mkdir()
        paths = {n: folder / n.lower() for n in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_STEP_SUMMARY")}
        for path in paths.values():
            path.touch()
        return paths

    def _run_script(self, name: str, script: str, env: Mapping[str, str]) -> tuple[StepRecord, dict[str, str], bool]:
        if "${{" in script:
            raise WorkflowError(f"step {name!r}: an expression inside run: (pass it through env:)")
        files = self._files()
        full_env = self.harness.base_env() | self._github_env() | {k: str(v) for k, v in files.items()} | dict(env)
        full_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), full_env["PATH"]])
        full_env["PIP_NO_INDEX"] = "1"  # a test never installs from the network
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=self.harness.workspace,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        outputs = parse_file_command(files["GITHUB_OUTPUT"].read_text())
        record = StepRecord(name, "run", {}, dict(env), None, proc.stdout + proc.stderr)
        return record, outputs, proc.returncode == 0

    def _run_action(
        self, name: str, with_: Mapping[str, str], env: Mapping[str, str], permissions: Mapping[str, str]
    ) -> tuple[StepRecord, dict[str, str], bool]:
        unknown = set(with_) - self.action_inputs
        if unknown:
            raise WorkflowError(f"step {name!r}: {sorted(unknown)} are not inputs of action.yml")
        step_env: dict[str, str | None] = {"JF_URL": None, "JF_ACCESS_TOKEN": None}
        step_env |= self._github_env() | dict(env) | self._id_token_env(permissions)
        result = self.harness.run(with_, env=step_env, event=self.github.get("event"))
        record = StepRecord(name, "ml-artifactory-action", dict(with_), dict(env), result)
        return record, result.outputs, result.returncode == 0

    def _id_token_env(self, permissions: Mapping[str, str]) -> dict[str, str]:
        if self.issuer is None or permissions.get("id-token") != "write":
            return {}
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.issuer.request_url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.issuer.request_token,
        }

    def _github_env(self) -> dict[str, str]:
        g = self.github
        return {
            "GITHUB_REPOSITORY": g["repository"],
            "GITHUB_REF": g["ref"],
            "GITHUB_REF_NAME": g["ref_name"],
            "GITHUB_SHA": g["sha"],
            "GITHUB_RUN_ID": g["run_id"],
            "GITHUB_RUN_NUMBER": g["run_number"],
            "GITHUB_EVENT_NAME": g["event_name"],
            "GITHUB_API_URL": self.github_api_url,
        }


def _drop_secrets(outputs: Mapping[str, str], secrets: Mapping[str, str]) -> dict[str, str]:
    """What the job passes on: an output holding any secret's value arrives empty."""
    values = [v for v in secrets.values() if v]
    return {name: "" if any(v in value for v in values) else value for name, value in outputs.items()}


def _value(value: Any) -> Any:
    """A `with:` value as the called workflow receives it: booleans stay booleans, null is empty."""
    return value if isinstance(value, bool) else to_string(value)


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def _environment_name(environment: Any) -> Any:
    return environment.get("name", "") if isinstance(environment, Mapping) else (environment or "")
