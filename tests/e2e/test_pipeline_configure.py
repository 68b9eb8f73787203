"""configure end-to-end: later steps get pip / uv / huggingface_hub pointed at the sandbox, masked."""

from __future__ import annotations

import httpx

from artifactory_sandbox.testing import SandboxHandle
from tests.e2e.conftest import ActionHarness


def create_remote(sandbox: SandboxHandle, key: str, package_type: str, url: str) -> None:
    response = httpx.put(
        f"{sandbox.url}/artifactory/api/repositories/{key}",
        json={"key": key, "rclass": "remote", "packageType": package_type, "url": url},
        headers={"Authorization": f"Bearer {sandbox.admin_token}"},
    )
    response.raise_for_status()


def test_configure_exports_the_indexes_with_masked_credentials(action: ActionHarness, sandbox: SandboxHandle) -> None:
    create_remote(sandbox, "pypi-remote", "pypi", "https://pypi.org")
    create_remote(sandbox, "hf-remote", "huggingfaceml", "https://huggingface.co")

    result = action.run({"stages": "configure", "pypi-repo": "pypi-remote", "hf-repo": "hf-remote"})

    assert result.returncode == 0, result.log
    token, host = sandbox.admin_token, sandbox.url.removeprefix("http://")
    index = f"http://:{token}@{host}/artifactory/api/pypi/pypi-remote/simple"
    assert result.env_file == {
        "PIP_INDEX_URL": index,
        "UV_DEFAULT_INDEX": index,
        "PIP_TRUSTED_HOST": "127.0.0.1",
        "HF_ENDPOINT": f"{sandbox.url}/artifactory/api/huggingfaceml/hf-remote",
        "HF_TOKEN": token,
        "HF_HUB_ETAG_TIMEOUT": "86400",
        "HF_HUB_DOWNLOAD_TIMEOUT": "86400",
        "HF_HUB_DISABLE_XET": "1",
    }
    masks = {
        line.removeprefix("::add-mask::") for line in result.stdout.splitlines() if line.startswith("::add-mask::")
    }
    assert {token, index} <= masks
    printed = [line for line in result.stdout.splitlines() if not line.startswith("::add-mask::")]
    assert not any(token in line for line in printed)
    assert token not in result.summary
    assert "`PIP_INDEX_URL` (masked)" in result.summary


def test_a_missing_repository_is_an_input_error(action: ActionHarness) -> None:
    result = action.run({"stages": "configure", "pypi-repo": "no-such-pypi"})

    assert result.returncode == 1
    [(title, message)] = result.errors
    assert title == "Invalid input 'pypi-repo'"
    assert message.startswith("Input 'pypi-repo': repository 'no-such-pypi' does not exist on http://127.0.0.1:")
    assert result.env_file == {}
