"""gate: check the candidate's metrics against thresholds and, optionally, the model in production.

The production model is the build now in production (the latest promotion with `status` into
`target-repo`, see `artifactory/promotion.py`); its metrics are the `metric.<name>` properties its
files carry since upload. A threshold's operator says which way is better (`accuracy >= 0.9`:
higher; `loss <= 0.3`: lower); without thresholds every metric both sides have is compared, lower
being better for names like loss, error, mse, mae, rmse, perplexity, latency.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ml_artifactory_action.artifactory.models import metric_key, metric_properties
from ml_artifactory_action.errors import GateFailedError
from ml_artifactory_action.model.metrics import Metrics, fetch_mlflow_metrics, load_metrics_file
from ml_artifactory_action.model.thresholds import Threshold
from ml_artifactory_action.settings import Stage
from ml_artifactory_action.stages.context import StageContext
from ml_artifactory_action.stages.production import ProductionLine

LOWER_IS_BETTER = re.compile(
    r"loss|error|(^|[._/-])err($|[._/-])|mse|mae|rmse|perplexity|latency|wer|cer|fpr|fnr", re.I
)
# Float noise must not turn "equal to production" into a regression.
TOLERANCE = 1e-12


@dataclass(frozen=True)
class Production:
    build_number: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class GateRow:
    metric: str
    value: float
    threshold: Threshold | None = None
    production: float | None = None
    higher_is_better: bool = True
    max_regression: float = 0.0

    @property
    def meets_threshold(self) -> bool:
        return self.threshold is None or self.threshold.passes(self.value)

    @property
    def delta(self) -> float | None:
        return None if self.production is None else self.value - self.production

    @property
    def regression(self) -> float:
        """How much worse than production (0 when better, equal or not compared)."""
        if self.delta is None:
            return 0.0
        return max(-self.delta if self.higher_is_better else self.delta, 0.0)

    @property
    def within_regression(self) -> bool:
        return self.regression <= self.max_regression + TOLERANCE

    @property
    def passed(self) -> bool:
        return self.meets_threshold and self.within_regression

    def failure(self, production_build: str) -> str:
        reasons = []
        if not self.meets_threshold and self.threshold is not None:
            reasons.append(f"needs {self.threshold.op} {self.threshold.value:g}")
        if not self.within_regression and self.production is not None:
            reasons.append(
                f"worse than production (build {production_build}: {self.production:g}) by {self.regression:g}, "
                f"more than max-regression {self.max_regression:g}"
            )
        return f"{self.metric} = {self.value:g}: {'; '.join(reasons)}"


@dataclass(frozen=True)
class GateResult:
    passed: bool
    metrics: dict[str, float]
    rows: tuple[GateRow, ...]
    source: str
    compared: bool = False
    production_build: str = ""  # "" when nothing is in production (or no comparison was asked)


def run(ctx: StageContext) -> GateResult:
    settings = ctx.settings
    metrics = read_metrics(ctx)
    production = find_production(ctx) if settings.compare_to_production else None
    rows = gate_rows(settings.thresholds, metrics, production, settings.max_regression)
    result = GateResult(
        passed=all(row.passed for row in rows),
        metrics=metrics.values,
        rows=rows,
        source=metrics.source,
        compared=settings.compare_to_production,
        production_build=production.build_number if production else "",
    )
    ctx.state.results[Stage.GATE] = result  # kept for the report even when the gate fails
    ctx.runner.set_output("gate-passed", "true" if result.passed else "false")
    ctx.runner.set_output("metrics", json.dumps(result.metrics, sort_keys=True))
    _log(ctx, result)
    if not result.passed:
        raise gate_failure(result)
    return result


def read_metrics(ctx: StageContext) -> Metrics:
    settings = ctx.settings
    if settings.metrics_file is not None:
        path = settings.metrics_file
        if not path.is_absolute() and settings.github.workspace is not None:
            path = settings.github.workspace / path
        return load_metrics_file(path)
    with ctx.http() as http:
        return fetch_mlflow_metrics(http, settings.mlflow_tracking_uri, settings.mlflow_run_id)


def find_production(ctx: StageContext) -> Production | None:
    settings = ctx.settings
    line = ProductionLine.of(ctx)
    current = line.current
    if current is None:
        ctx.runner.info(
            f"No build of {line.build_name} is in {settings.target_repo} with status {settings.status}: "
            "nothing to compare with."
        )
        return None
    return Production(current.build_number, metric_properties(line.items(current.build_number)))


def gate_rows(
    thresholds: tuple[Threshold, ...], metrics: Metrics, production: Production | None, max_regression: float
) -> tuple[GateRow, ...]:
    """One row per threshold (a missing metric raises); without thresholds, one per shared metric."""
    before = production.metrics if production else {}
    if thresholds:
        return tuple(
            GateRow(
                metric=t.metric,
                value=metrics.require(t.metric),
                threshold=t,
                production=before.get(metric_key(t.metric)),
                higher_is_better=_higher_is_better(t.metric, t),
                max_regression=max_regression,
            )
            for t in thresholds
        )
    shared = sorted(name for name in metrics.values if metric_key(name) in before)
    return tuple(
        GateRow(
            name, metrics.values[name], None, before[metric_key(name)], _higher_is_better(name, None), max_regression
        )
        for name in shared
    )


def _higher_is_better(metric: str, threshold: Threshold | None) -> bool:
    if threshold is not None and threshold.op in (">=", ">", "<=", "<"):
        return threshold.higher_is_better
    return LOWER_IS_BETTER.search(metric) is None


def gate_failure(result: GateResult) -> GateFailedError:
    failed = [row for row in result.rows if not row.passed]
    lines = "\n".join(f"- {row.failure(result.production_build)}" for row in failed)
    return GateFailedError(
        f"The candidate fails {len(failed)} of {len(result.rows)} checks ({result.source}):\n{lines}",
        fix="Improve the model, or change thresholds / max-regression if the limits are wrong. Nothing was uploaded.",
    )


def _log(ctx: StageContext, result: GateResult) -> None:
    for row in result.rows:
        mark = "pass" if row.passed else "FAIL"
        limit = f" (needs {row.threshold.op} {row.threshold.value:g})" if row.threshold else ""
        versus = f", production {row.production:g}, delta {row.delta:+g}" if row.delta is not None else ""
        ctx.runner.info(f"{mark}: {row.metric} = {row.value:g}{limit}{versus}")
    if result.compared and not result.production_build:
        ctx.runner.info("No model in production yet: only the thresholds were checked.")
    if result.compared and not result.rows:
        ctx.runner.warning(
            "Nothing compared with production",
            "compare-to-production is on but the candidate and the production model share no metric.",
        )
