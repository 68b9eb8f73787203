"""The OIDC access token expiring while a long upload is under way.

Some servers check the token only once the whole body has arrived (a proxy that buffers request
bodies, as nginx does by default, passes the request on at the end). The sandbox checks it after
an injected `delay`: a token valid when the upload starts and expired when the server looks at
it gets a 401, and the action must log in again and send the file again, not fail the run.
One worker, so that no other request renews the token meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from artifactory_sandbox.issuer import IssuerHandle, run_issuer
from artifactory_sandbox.testing import SandboxHandle, run_sandbox
from tests.e2e.conftest import ActionHarness
from tests.reliability.conftest import BUILD, FOLDER, NUMBER, PIPELINE, pipeline_inputs, seed_shared_content
from tests.reliability.registry import Registry, check_complete
from tests.reliability.test_faults import DEPLOY, PUBLISH

PROVIDER, AUDIENCE = "github-oidc", "jfrog-github"
TOKEN_LIFETIME_S = 3  # the access token JFrog gives in exchange
HOLD_S = 4.0  # the upload held on the server longer than that


@pytest.fixture
def issuer() -> Iterator[IssuerHandle]:
    with run_issuer(repository="acme/fraud-model", ref="refs/heads/main") as handle:
        yield handle


@pytest.fixture
def sandbox(tmp_path: Path, issuer: IssuerHandle) -> Iterator[SandboxHandle]:
    """A sandbox whose OIDC exchange gives tokens of TOKEN_LIFETIME_S (overrides the e2e fixture)."""
    config = issuer.write_oidc_config(
        tmp_path / "oidc.yml",
        PROVIDER,
        {"repository": "acme/fraud-model"},
        username="gh-ci",
        expires_in=TOKEN_LIFETIME_S,
        audience=AUDIENCE,
    )
    with run_sandbox(tmp_path / "sandbox-data", oidc_config_path=config, xray_index_delay=0.0) as handle:
        yield handle


def oidc_env(issuer: IssuerHandle) -> dict[str, str | None]:
    return {
        "JF_ACCESS_TOKEN": None,
        "ACTIONS_ID_TOKEN_REQUEST_URL": issuer.request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": issuer.request_token,
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stages", "held", "workers"),
    [("upload", (DEPLOY,), "1"), (PIPELINE, (PUBLISH,), "1")],
    ids=["upload", "pipeline"],
)
def test_a_token_expiring_during_a_long_upload_is_renewed_and_the_file_sent_again(  # noqa: PLR0917  fixtures
    stages: str,
    held: tuple[tuple[str, str], ...],
    workers: str,
    action: ActionHarness,
    sandbox: SandboxHandle,
    issuer: IssuerHandle,
    model: dict[str, bytes],
) -> None:
    registry = Registry(sandbox)
    seed_shared_content(registry)
    registry.clear()
    for method, path in held:
        registry.fault(method=method, path=path, delay=HOLD_S)

    result = action.run(
        pipeline_inputs(stages, **{"oidc-provider-name": PROVIDER, "oidc-audience": AUDIENCE, "max-workers": workers}),
        env=oidc_env(issuer),
    )

    assert result.returncode == 0, result.log
    assert result.errors == []
    log = registry.requests()
    refused = [e for e in log if e["status"] == 401]
    assert [(e["method"], e["path"]) for e in refused] == [
        (e["method"], e["path"]) for e in log if e["fault"] is not None
    ], "each held request is refused once, for its expired token"
    assert all(e["user"] == "gh-ci" for e in log if e["status"] != 401 and not e["path"].startswith("/access/"))
    check_complete(
        registry,
        model,
        FOLDER,
        build_name=BUILD if "build-publish" in stages else "",
        number=NUMBER,
        promoted="promote" in stages,
    )
