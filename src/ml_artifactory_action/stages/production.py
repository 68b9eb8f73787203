"""The production line of the settings' build: where promotions into target-repo land, and what
has been in production there.

gate compares with the build in production, promote decides what to promote or roll back to, and
resolve fetches what is in production: they read it the same way, from the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ml_artifactory_action.artifactory.builds import BuildStatus
from ml_artifactory_action.artifactory.models import Item, build_items
from ml_artifactory_action.artifactory.promotion import (
    current_production,
    deployment_repo,
    previous_production,
    production_history,
)
from ml_artifactory_action.stages.context import StageContext


@dataclass
class ProductionLine:
    ctx: StageContext
    build_name: str
    repo: str  # target-repo, or the default deployment repository of a virtual one

    @classmethod
    def of(cls, ctx: StageContext) -> ProductionLine:
        settings = ctx.settings
        return cls(ctx, settings.effective_build_name, deployment_repo(ctx.client, settings.target_repo))

    @cached_property
    def history(self) -> list[BuildStatus]:
        """The build name's promotions into the repository with the production status, oldest
        first; asked of the server once, when first needed."""
        settings = self.ctx.settings
        return production_history(self.ctx.client, self.build_name, settings.project, settings.status, self.repo)

    @property
    def current(self) -> BuildStatus | None:
        return current_production(self.history)

    @property
    def previous(self) -> BuildStatus | None:
        return previous_production(self.history)

    def items(self, build_number: str) -> list[Item]:
        """The files of build `build_number` in the repository."""
        return build_items(self.ctx.client, self.repo, self.build_name, build_number)
