"""The command line: ready line, generated token, clean SIGTERM, restart on the same data dir,
and a crash mid-upload leaving nothing behind."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.sandbox.conftest import DEV_REPO

from artifactory_sandbox.cli import build_parser, config_from_args
from artifactory_sandbox.testing import SandboxProcess

pytestmark = pytest.mark.timeout(60)


def auth(process: SandboxProcess) -> dict[str, str]:
    return {"Authorization": f"Bearer {process.admin_token}"}


def test_generated_token_is_printed_in_the_one_ready_line(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "artifactory_sandbox", "--port", "0", "--data-dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.fullmatch(r"Sandbox ready at (http://127\.0\.0\.1:\d+) \(admin token: (\S+)\)\n", line)
        assert found, line
        url, token = found.groups()
        ping = httpx.get(f"{url}/artifactory/api/repositories", headers={"Authorization": f"Bearer {token}"})
        assert ping.status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None
        assert proc.stdout.read() == ""  # exactly one line
        proc.stdout.close()


def test_given_token_is_not_printed(tmp_path: Path) -> None:
    with SandboxProcess(tmp_path / "d", admin_token="secret-admin") as process:
        assert process.url.startswith("http://127.0.0.1:")
    assert "secret-admin" not in process.log_path.read_text()


def test_sigterm_is_a_clean_exit(tmp_path: Path) -> None:
    process = SandboxProcess(tmp_path / "d").start()
    process.stop()
    assert process.returncode == 0


def test_sigint_is_a_clean_exit(tmp_path: Path) -> None:
    process = SandboxProcess(tmp_path / "d").start()
    process.interrupt()
    assert process.returncode == 0


def test_restart_on_the_same_dir_and_port_keeps_everything(tmp_path: Path) -> None:
    with SandboxProcess(tmp_path / "d") as process:
        url = process.url
        httpx.put(f"{url}/artifactory/{DEV_REPO}/kept.bin;stage=dev", content=b"kept", headers=auth(process))
        httpx.put(f"{url}/artifactory/api/repositories/extra-local", json={"rclass": "local"}, headers=auth(process))
        process.restart()
        assert process.url == url
        got = httpx.get(f"{url}/artifactory/{DEV_REPO}/kept.bin", headers=auth(process))
        assert got.content == b"kept"
        props = httpx.get(
            f"{url}/artifactory/api/storage/{DEV_REPO}/kept.bin?properties", headers=auth(process)
        ).json()["properties"]
        assert props == {"stage": ["dev"]}
        repos = httpx.get(f"{url}/artifactory/api/repositories", headers=auth(process)).json()
        assert "extra-local" in [r["key"] for r in repos]


def test_kill_mid_upload_then_restart_leaves_no_item(tmp_path: Path) -> None:
    with SandboxProcess(tmp_path / "d") as process:
        port = int(process.url.rsplit(":", 1)[1])
        head = (
            f"PUT /artifactory/{DEV_REPO}/partial.bin HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {process.admin_token}\r\nContent-Length: 50000000\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head + b"p" * 4_000_000)
            time.sleep(0.2)
            process.kill()
        process.start()
        info = httpx.get(f"{process.url}/artifactory/api/storage/{DEV_REPO}/partial.bin", headers=auth(process))
        assert info.status_code == 404
        assert list((tmp_path / "d" / "filestore" / "_tmp").iterdir()) == []


def test_flags_become_the_config(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        [
            "--data-dir",
            str(tmp_path),
            "--port",
            "0",
            "--admin-token",
            "a",
            "--read-only-token",
            "r",
            "--fail-severity",
            "critical",
            "--xray-index-delay",
            "0.5",
            "--advisories",
            "adv.json",
            "--oidc-config",
            "oidc.json",
        ]
    )
    config = config_from_args(args)
    assert (config.admin_token, config.read_only_token, config.admin_token_generated) == ("a", "r", False)
    assert (config.fail_severity, config.xray_index_delay, config.port) == ("critical", 0.5, 0)
    assert (config.advisories_path, config.oidc_config_path) == (Path("adv.json"), Path("oidc.json"))


def test_bad_flags_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--data-dir", str(tmp_path), "--fail-severity", "extreme"])
    assert exited.value.code == 2
    assert "invalid choice: 'extreme'" in capsys.readouterr().err


def test_a_token_starting_with_a_dash_is_given_with_equals(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--data-dir", str(tmp_path), "--admin-token=-starts-with-dash"])
    assert args.admin_token == "-starts-with-dash"
