"""GitHub's concurrency groups, as documented, to test who waits behind (or cancels) whom.

GitHub's "Control the concurrency of workflows and jobs": "there can be at most one running and one
pending job in a concurrency group at any time. When a concurrent job or workflow is queued, if
another job or workflow using the same concurrency group in the repository is in progress, the
queued job or workflow will be pending. Any existing pending job or workflow in the same concurrency
group, if it exists, will be canceled and the new queued job or workflow will take its place."
"The concurrency group name is case insensitive."

A job that references an environment with required reviewers "will wait for an approval before
starting. While a job is awaiting approval, it has a status of 'Waiting'" ("Reviewing deployments"),
and it already holds its concurrency group while it waits (vstorm-co/agenticos#1494: "A deploy
sitting at the approval gate holds the deploy-production concurrency group, and holds it until
somebody approves or cancels").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.workflows.declarations import load
from tests.workflows.expressions import interpolate, to_string


@dataclass
class QueuedJob:
    name: str
    group: str
    state: str = "queued"  # waiting (for approval) | running | pending | cancelled | done


@dataclass
class ConcurrencyGroups:
    holders: dict[str, QueuedJob] = field(default_factory=dict)
    pending: dict[str, QueuedJob] = field(default_factory=dict)

    def queue(self, name: str, group: str, *, needs_approval: bool) -> QueuedJob:
        job = QueuedJob(name, group.casefold())
        if job.group not in self.holders:
            job.state = "waiting" if needs_approval else "running"
            self.holders[job.group] = job
            return job
        replaced = self.pending.get(job.group)
        if replaced is not None:
            replaced.state = "cancelled"
        job.state = "pending"
        self.pending[job.group] = job
        return job


def concurrency_group(workflow: Path, job: str, contexts: Mapping[str, Any]) -> str:
    """The job's concurrency group as the runner evaluates it from the workflow file."""
    spec = load(workflow)["jobs"][job]["concurrency"]
    return to_string(interpolate(spec["group"], contexts))
