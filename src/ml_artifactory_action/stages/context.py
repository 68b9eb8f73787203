"""What every stage receives: the settings, the runner I/O, the clients, and the run's results.

Stages share one run's results in memory through `RunState`; across jobs they meet only through
Artifactory and the action's outputs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import httpx

from ml_artifactory_action.artifactory.client import ArtifactoryClient
from ml_artifactory_action.errors import ConfigError
from ml_artifactory_action.runner import Runner
from ml_artifactory_action.settings import Settings, Stage


@dataclass
class RunState:
    """Results of the stages that ran, by stage; each stage module defines its own result type."""

    results: dict[Stage, Any] = field(default_factory=dict)
    finished: list[Stage] = field(default_factory=list)
    failed: Stage | None = None  # the stage whose error ended the run, named in the report
    # When this run started: the build's `started` and the uploads' `build.timestamp` (epoch ms).
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def build_timestamp(self) -> str:
        """`build.timestamp` as the JFrog CLI writes it: epoch milliseconds of `started`."""
        return str(int(self.started.timestamp() * 1000))

    def get(self, stage: Stage) -> Any:
        return self.results.get(stage)


@dataclass
class StageContext:
    settings: Settings
    runner: Runner
    state: RunState
    client_factory: Any = None  # Callable[[], ArtifactoryClient], set by the pipeline
    transport: httpx.BaseTransport | None = None  # tests swap the network here (GitHub, MLflow)
    _client: ArtifactoryClient | None = None

    @property
    def client(self) -> ArtifactoryClient:
        """The Artifactory client, built (and logged in) on first use."""
        if self._client is None:
            if self.client_factory is None:
                raise ConfigError("url", "this stage needs a JFrog server", fix="Set url (or JF_URL).")
            self._client = self.client_factory()
        return self._client

    def http(self, **kwargs: Any) -> httpx.Client:
        """A plain httpx client for other services (MLflow, the GitHub OIDC endpoint)."""
        return httpx.Client(transport=self.transport, timeout=httpx.Timeout(60.0, connect=15.0), **kwargs)
