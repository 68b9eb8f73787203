"""TLS: verification is always on, a private CA works through ca-bundle, plain http:// is warned.

The sandbox is served over TLS with a certificate signed by a CA made for the test; the action
runs against `https://127.0.0.1:<port>` through the real entrypoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ml_artifactory_action.__main__ import make_client
from ml_artifactory_action.inputs import load_settings
from ml_artifactory_action.runner import Runner
from ml_artifactory_action.settings import GitHubContext
from tests.e2e.conftest import ActionHarness
from tests.reliability.conftest import BUILD, FOLDER, NUMBER, lay_out, model_files, one_error, pipeline_inputs
from tests.reliability.registry import Registry, check_complete
from tests.secrets.tls import PrivateCA, TLSSandbox, make_ca, tls_sandbox

STAGES = "upload,build-publish,scan,promote"
PLAIN_HTTP = "Unencrypted connection"


@pytest.fixture
def ca(tmp_path: Path) -> PrivateCA:
    return make_ca(tmp_path / "pki")


@pytest.fixture
def server(tmp_path: Path, ca: PrivateCA) -> Iterator[TLSSandbox]:
    with tls_sandbox(tmp_path / "sandbox-data", ca) as running:
        yield running


def harness(tmp_path: Path, server: TLSSandbox) -> tuple[ActionHarness, dict[str, str]]:
    found = ActionHarness(None, tmp_path)
    lay_out(found.workspace, model_files())
    return found, {"JF_URL": server.url, "JF_ACCESS_TOKEN": server.admin_token}


def test_a_private_ca_given_in_ca_bundle_is_trusted(tmp_path: Path, server: TLSSandbox) -> None:
    action, env = harness(tmp_path, server)

    result = action.run(pipeline_inputs(STAGES, **{"ca-bundle": str(server.ca_bundle)}), env=env)

    assert result.returncode == 0, result.log
    assert result.annotations == []
    check_complete(Registry(server), model_files(), FOLDER, build_name=BUILD, number=NUMBER, promoted=True)
    assert result.outputs["build-url"].startswith(f"{server.url}/ui/builds/")


def test_without_the_ca_the_server_is_refused_and_nothing_is_sent(tmp_path: Path, server: TLSSandbox) -> None:
    action, env = harness(tmp_path, server)
    registry = Registry(server)
    before = registry.snapshot()

    result = action.run(pipeline_inputs(STAGES), env=env)

    title, message = one_error(result)
    assert title == "Artifactory request failed"
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert "set ca-bundle to that CA's PEM file" in message
    assert "Retrying" not in result.stdout  # an untrusted certificate stays untrusted
    assert registry.snapshot() == before


def test_a_certificate_for_another_host_is_refused_even_with_its_ca(tmp_path: Path) -> None:
    ca = make_ca(tmp_path / "pki", hosts=("models.acme.example",))
    with tls_sandbox(tmp_path / "sandbox-data", ca) as server:
        action, env = harness(tmp_path, server)

        result = action.run(pipeline_inputs("upload", **{"ca-bundle": str(ca.ca_pem)}), env=env)

    title, message = one_error(result)
    assert title == "Artifactory request failed"
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert "IP address mismatch" in message


@pytest.mark.parametrize("content", [None, b"not a certificate\n"], ids=["missing", "not-pem"])
def test_an_unreadable_ca_bundle_is_a_bad_input(content: bytes | None, tmp_path: Path, server: TLSSandbox) -> None:
    action, env = harness(tmp_path, server)
    if content is not None:
        (action.workspace / "ca.pem").write_bytes(content)

    result = action.run(pipeline_inputs("upload", **{"ca-bundle": "ca.pem"}), env=env)

    title, message = one_error(result)
    assert title == "Invalid input 'ca-bundle'"
    assert message.startswith("Input 'ca-bundle': 'ca.pem' cannot be read as PEM certificates: ")
    assert message.endswith(
        "Point ca-bundle at the PEM file of the CA that signed the server's certificate (relative to the workspace)."
    )


def client_warnings(url: str) -> list[tuple[str, str, str]]:
    """The annotations made while the client for `url` is built (nothing is sent)."""
    runner = Runner(GitHubContext())
    settings = load_settings(
        {
            "INPUT_URL": url,
            "INPUT_ACCESS-TOKEN": "a-token-0123456789",
            "INPUT_STAGES": "configure",
            "INPUT_PYPI-REPO": "pypi",
        }
    )
    never = httpx.MockTransport(lambda request: pytest.fail(f"nothing should be sent: {request.url}"))
    with make_client(settings, runner, never).http:
        return [a for a in runner.annotations if a[0] == "warning"]


@pytest.mark.parametrize(
    "url", ["http://artifactory.acme.internal:8081", "http://10.1.2.3/artifactory", "http://[2001:db8::1]:8081"]
)
def test_plain_http_to_another_machine_is_warned(url: str) -> None:
    [(_, title, message)] = client_warnings(url)
    assert title == PLAIN_HTTP
    assert message.startswith(f"url {url.removesuffix('/artifactory')} is plain http:// to another machine")
    assert "Use the server's https:// URL" in message


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8081", "http://localhost:8081", "http://[::1]:8081", "https://acme.jfrog.io"]
)
def test_https_and_this_machine_are_not_warned(url: str) -> None:
    assert client_warnings(url) == []
