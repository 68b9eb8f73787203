"""The sandbox's state handed to every handler as `ctx`: config, metadata, binaries, faults."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .db import Database
from .faults import FaultRegistry, RequestLog
from .filestore import FileStore
from .signed_blobs import SignedBlobServer

DEFAULT_REPOS = ("ml-models-dev-local", "ml-models-staging-local", "ml-models-prod-local")


@dataclass(frozen=True)
class SandboxConfig:
    """Everything the command line sets. Tokens are secrets: never log them."""

    data_dir: Path
    admin_token: str
    read_only_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8081
    xray_index_delay: float = 2.0
    fail_severity: str = "high"
    advisories_path: Path | None = None
    oidc_config_path: Path | None = None
    admin_token_generated: bool = False
    verbose: bool = False
    aql_limit: int = 1000  # artifactory.search.userQueryLimit: rows an AQL answer holds at most


@dataclass
class Sandbox:
    """One running sandbox. `state` is free for handler modules' own per-instance objects."""

    config: SandboxConfig
    db: Database
    files: FileStore
    faults: FaultRegistry = field(default_factory=FaultRegistry)
    requests: RequestLog = field(default_factory=RequestLog)
    state: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, config: SandboxConfig) -> Sandbox:
        """Open (or create) the data dir; a restart on the same dir keeps everything."""
        config.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(
            config=config,
            db=Database(config.data_dir / "metadata.sqlite"),
            files=FileStore(config.data_dir / "filestore"),
        )

    _blobs: SignedBlobServer | None = field(default=None, repr=False)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def blob_store(self) -> SignedBlobServer:
        """The cloud storage that redirecting repositories send downloads to (started on first use)."""
        with self.lock:
            if self._blobs is None:
                self._blobs = SignedBlobServer(self.files, self.config.host)
            return self._blobs

    def close(self) -> None:
        if self._blobs is not None:
            self._blobs.stop()
        self.db.close()


def iso_time(moment: datetime) -> str:
    """JFrog's timestamp form: `2025-04-06T09:13:04.174Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
