"""The entrypoint: build the settings, run the stages, and report errors. The only exit.

`python -m ml_artifactory_action` is what the Docker action runs (inputs from INPUT_* variables);
the `ml-artifactory` console script calls `main` with flags from the command line.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Mapping
from typing import TextIO

import httpx
import stamina.instrumentation

from ml_artifactory_action import report
from ml_artifactory_action.artifactory.auth import auth_for
from ml_artifactory_action.artifactory.client import (
    ArtifactoryClient,
    build_http_client,
    is_plain_http_to_another_host,
    tls_verify,
)
from ml_artifactory_action.errors import ActionError
from ml_artifactory_action.inputs import github_context, load_settings, secret_values
from ml_artifactory_action.runner import Runner
from ml_artifactory_action.settings import Settings
from ml_artifactory_action.stages.context import RunState, StageContext
from ml_artifactory_action.stages.pipeline import run_stages

BUG_FIX = "This is a bug in ml-artifactory-action: please open an issue with the log of this step."


def main(
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, str] | None = None,
    *,
    stream: TextIO | None = None,
    transport: httpx.BaseTransport | None = None,
) -> int:
    """Run the action; return the exit code (0 done, 1 failed)."""
    environ = os.environ if environ is None else environ
    # The client logs each retry in the step's log; stamina's own hook printed a bare
    # "stamina.retry_scheduled" line to stderr for every one.
    stamina.instrumentation.set_on_retry_hooks([])
    runner = Runner(github_context(environ), stream)
    for value in secret_values(environ, flags or {}):
        runner.mask(value)
    ctx: StageContext | None = None
    try:
        settings = load_settings(environ, flags)
        for name, value in settings.local_defaults:
            runner.info(f"--{name} not given: using {value}")
        ctx = StageContext(settings, runner, RunState(), transport=transport)
        ctx.client_factory = lambda: make_client(settings, runner, transport)
        run_stages(ctx)
        finish(ctx)
    except ActionError as error:
        fail(runner, error, ctx)
        return 1
    except Exception:  # the one place that turns a bug into a readable failure
        fail(
            runner,
            ActionError(f"Unexpected error:\n{traceback.format_exc()}", fix=BUG_FIX, title="Internal error"),
            ctx,
        )
        return 1
    return 0


def make_client(settings: Settings, runner: Runner, transport: httpx.BaseTransport | None = None) -> ArtifactoryClient:
    verify = tls_verify(settings.ca_bundle)
    if is_plain_http_to_another_host(settings.url):
        runner.warning(
            "Unencrypted connection",
            f"url {settings.url} is plain http:// to another machine: the credentials and the model cross the "
            "network unencrypted. Use the server's https:// URL (with ca-bundle for a private CA).",
        )
    auth = auth_for(settings, runner, transport)
    http = build_http_client(verify=verify, auth=auth, transport=transport)
    return ArtifactoryClient(settings.url, http, log=runner.info)


def fail(runner: Runner, error: ActionError, ctx: StageContext | None) -> None:
    """One annotation, one summary section with the fix, after the report of what did finish."""
    message = f"{error.message.rstrip('.')}. {error.fix}" if error.fix else error.message
    runner.error(error.title, message)
    if ctx is None:
        runner.add_summary(report.failure_section(error))
        return
    try:
        report.publish(ctx, error)
    except Exception:  # a broken report must not hide the error it was reporting
        runner.warning("Report not written", f"Writing the report failed:\n{traceback.format_exc()}")
        runner.add_summary(report.failure_section(error))


def finish(ctx: StageContext | None) -> None:
    if ctx is not None:
        report.publish(ctx, None)


if __name__ == "__main__":
    sys.exit(main())
