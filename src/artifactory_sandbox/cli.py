"""`python -m artifactory_sandbox` / `ml-artifactory sandbox`: run the sandbox until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import secrets
import signal
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from .app import SandboxConfig
from .server import SandboxServer, create_server

SEVERITIES = ("low", "medium", "high", "critical")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="artifactory-sandbox",
        description="A local Artifactory + Xray + Access compatible server for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="port; 0 picks a free one")
    parser.add_argument("--data-dir", type=Path, required=True, help="metadata and binaries")
    parser.add_argument("--admin-token", help="admin access token (generated when omitted)")
    parser.add_argument("--read-only-token", help="a token that may read but not write")
    parser.add_argument("--oidc-config", type=Path, help="OIDC providers (JSON)")
    parser.add_argument("--advisories", type=Path, help="Xray advisories (JSON)")
    parser.add_argument("--fail-severity", choices=SEVERITIES, default="high")
    parser.add_argument("--xray-index-delay", type=float, default=2.0, metavar="SECONDS")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--aql-limit", type=int, default=1000, metavar="ROWS", help="most rows of an AQL answer")
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    token = args.admin_token or secrets.token_urlsafe(32)
    return SandboxConfig(
        data_dir=args.data_dir,
        admin_token=token,
        admin_token_generated=args.admin_token is None,
        read_only_token=args.read_only_token,
        host=args.host,
        port=args.port,
        xray_index_delay=args.xray_index_delay,
        fail_severity=args.fail_severity,
        advisories_path=args.advisories,
        oidc_config_path=args.oidc_config,
        verbose=args.verbose,
        aql_limit=args.aql_limit,
    )


def ready_line(server: SandboxServer) -> str:
    config = server.ctx.config
    suffix = f" (admin token: {config.admin_token})" if config.admin_token_generated else ""
    return f"Sandbox ready at {server.url}{suffix}"


def main(argv: Sequence[str] | None = None) -> int:
    config = config_from_args(build_parser().parse_args(argv))
    server = create_server(config)
    _stop_on_signals(server)
    print(ready_line(server), flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        server.ctx.close()
    return 0


def _stop_on_signals(server: SandboxServer) -> None:
    """SIGINT and SIGTERM stop the serving loop (from a helper thread: shutdown() waits for it)."""

    def stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
