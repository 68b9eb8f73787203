"""The scan on models the libraries save themselves: every ordinary one passes, every payload is refused.

Counts (scikit-learn 1.9.1, all_estimators() = 210): see the assertions; each fitted estimator is
saved with pickle, joblib and compressed joblib, and scanned by the action's scanner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.model.realmodels.reviewed import REVIEWED

from ml_artifactory_action.model.pickle_policy import is_dangerous, rebuilds_ml_objects
from ml_artifactory_action.model.safety import scan_files

MIN_ESTIMATORS = 150  # all_estimators() lists 210 in scikit-learn 1.9
MIN_FITTED_SHARE = 0.95
ML_ROOTS = frozenset({"sklearn", "scipy", "numpy", "pandas", "lightgbm", "xgboost", "catboost"})
# Their compiled parts and vendored packages, defined outside the package names above.
ML_ORIGINS = frozenset({"_catboost", "uarray", "_hnsw", "_cyutility", "_ni_label", "_propack", "View"})


def _scan(entries: list[dict[str, str]]) -> list[tuple[dict[str, str], Any]]:
    reports = scan_files([Path(entry["path"]) for entry in entries])
    return list(zip(entries, reports, strict=True))


def test_every_estimator_of_scikit_learn_that_fits_is_accepted_however_saved(light_models: dict[str, Any]) -> None:
    counts = light_models["estimators"]
    sklearn_files = [entry for entry in light_models["files"] if "/sklearn/" in entry["path"]]

    refused = [(e["path"], r.findings) for e, r in _scan(sklearn_files) if not r.safe]

    assert counts["tried"] >= MIN_ESTIMATORS
    assert counts["fitted"] >= MIN_FITTED_SHARE * counts["tried"], counts["not_fitted"]
    assert len(sklearn_files) == 3 * counts["fitted"]
    assert refused == []


def test_boosters_pipelines_and_data_frames_are_accepted(light_models: dict[str, Any]) -> None:
    everyday = [entry for entry in light_models["files"] if "/everyday/" in entry["path"]]

    refused = [(e["path"], r.findings) for e, r in _scan(everyday) if not r.safe]

    assert {e["model"] for e in everyday} >= {
        "LGBMClassifier",
        "XGBClassifier",
        "CatBoostClassifier",
        "lightgbm-Booster",
        "xgboost-Booster",
        "catboost-CatBoost",
        "ColumnTransformer-log1p",
        "Tfidf-LogisticRegression",
        "Imputer-HistGradientBoosting",
        "DataFrame",
        "pandas-objects",
    }
    assert refused == []


def test_real_models_carrying_a_payload_are_refused_for_it(light_models: dict[str, Any]) -> None:
    scanned = _scan(light_models["malicious"])

    verdicts = {
        (entry["model"], entry["saved_with"]): {f.global_name: f.severity for f in report.findings}.get(
            entry["expected"]
        )
        for entry, report in scanned
    }

    assert len(verdicts) == 15
    assert set(verdicts.values()) == {"dangerous"}, verdicts


def test_what_passes_by_default_is_defined_in_the_ml_libraries(light_models: dict[str, Any]) -> None:
    """A class rule over a package must not pass what its modules import (`Client`, `Thread`, ...)."""
    passed = [
        (module, name, origin)
        for module, name, is_callable, origin in light_models["inventory"]["names"]
        if is_callable and rebuilds_ml_objects(module, name) and not is_dangerous(module, name)
    ]
    foreign = {
        f"{module}.{name} (from {origin})"
        for module, name, origin in passed
        if origin.split(".")[0] not in ML_ROOTS | ML_ORIGINS and origin not in REVIEWED
    }

    assert len(passed) > 1000
    assert foreign == set()


def test_what_passes_by_default_is_not_a_dangerous_object_under_another_name(light_models: dict[str, Any]) -> None:
    """`sklearn.pipeline.Parallel` is joblib's process pool, `xgboost.RabitTracker` a network tracker."""
    passed_but_dangerous_where_defined = {
        f"{module}.{name} (from {origin})"
        for module, name, is_callable, origin in light_models["inventory"]["names"]
        if is_callable
        and origin
        and rebuilds_ml_objects(module, name)
        and not is_dangerous(module, name)
        and is_dangerous(origin, name)
        and origin not in REVIEWED
    }

    assert passed_but_dangerous_where_defined == set()
