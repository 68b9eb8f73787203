"""Save real models with the real libraries: run in the models venv (`make test` builds it).

    python generate_light.py OUT_DIR

Fits every estimator of scikit-learn's `all_estimators()` that fits on a toy data set, plus the
LightGBM, XGBoost and CatBoost scikit-learn wrappers and a few everyday pipelines, and saves each
with `pickle`, `joblib.dump` and `joblib.dump(compress=3)`. Then writes the negative controls: the
same kind of real models carrying a payload. OUT_DIR/manifest.json says what was written, what
each control must be refused for, and why an estimator could not be fitted.

This file imports only the libraries under test; it never imports the action. Nothing here loads
what it wrote.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import sys
import warnings
import zoneinfo
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from sklearn.utils import all_estimators

SEED = 0
SAVERS: dict[str, Callable[[object, Path], None]] = {
    "pickle.pkl": lambda obj, path: path.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)),
    "joblib.joblib": joblib.dump,
    "joblib-zlib.joblib": lambda obj, path: joblib.dump(obj, path, compress=3),
}


def main(out: Path) -> None:
    warnings.simplefilter("ignore")
    out.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, str]] = []
    tried, not_fitted = 0, {}
    for name, model in _estimators():
        tried += 1
        fitted, why = _fit(model)
        if not fitted:
            not_fitted[name] = why
            continue
        files += _save(model, out / "sklearn", name)
    for name, model in _boosters() + _pipelines():
        files += _save(model, out / "everyday", name)
    manifest = {
        "versions": _versions(),
        "estimators": {"tried": tried, "fitted": tried - len(not_fitted), "not_fitted": not_fitted},
        "files": files,
        "malicious": _malicious(out / "malicious"),
        "inventory": _inventory(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))


# --- scikit-learn's own estimators ------------------------------------------------------------------


def _estimators() -> Iterator[tuple[str, Any]]:
    """One instance of each estimator, built as scikit-learn's own common tests build them."""
    try:
        from sklearn.utils._test_common.instance_generator import _construct_instances  # noqa: PLC0415
    except ImportError:  # an older or newer layout: the estimator's defaults
        _construct_instances = None
    for name, cls in all_estimators():
        try:
            model = next(iter(_construct_instances(cls))) if _construct_instances else cls()
        except Exception:  # a wrapper of a fitted model, or counted as not fitted
            model = _wrapping(cls)
        yield name, model


def _wrapping(cls: type) -> Any:
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    try:
        return cls(LogisticRegression().fit(*_toy_data()[0]))
    except Exception:  # counted as not fitted
        return None


def _toy_data() -> list[tuple[Any, Any]]:
    rng = np.random.RandomState(SEED)
    x = np.abs(rng.normal(size=(60, 4))) + 0.1  # positive, for chi2 and the naive Bayes models
    y_class = np.repeat([0, 1, 2], 20)
    y_reg = x @ [1.0, 2.0, -1.0, 0.5] + rng.normal(scale=0.1, size=60)
    texts = [f"word{i % 7} token{i % 3} model {'good' if i % 2 else 'bad'}" for i in range(60)]
    return [
        (x, y_class),
        (x, y_class % 2),
        (x, y_reg),
        (x, np.abs(y_reg) + 0.1),
        (x, np.c_[y_reg, y_reg * 2]),
        (x, np.c_[y_class % 2, (y_class + 1) % 2]),
        (texts, y_class),
        ([{"a": i % 3, "b": f"v{i % 2}"} for i in range(60)], y_class),
        (x[:, 0], y_reg),
        (y_class, None),
        ([[f"t{i % 3}", f"u{i % 2}"] for i in range(60)], None),
        (rng.rand(4, 8, 8), None),
        (x.astype(int), y_class),
        (x @ x.T, None),
        (x[:, :3], None),
    ]


def _fit(model: Any) -> tuple[bool, str]:
    if model is None:
        return False, "cannot be built with default parameters"
    _quick(model)
    reasons = []
    for x, y in _toy_data():
        try:
            model.fit(x) if y is None else model.fit(x, y)
        except Exception as exc:  # the next toy data set may fit
            reasons.append(f"{type(exc).__name__}: {str(exc)[:80]}")
            continue
        return True, ""
    return False, reasons[0] if reasons else "no data set fits"


def _quick(model: Any) -> None:
    """Fewer iterations where fitting would take seconds (TSNE, the gradient boosters): same classes saved."""
    params = model.get_params(deep=False)
    quick = {"max_iter": 250 if type(model).__name__ == "TSNE" else 10, "perplexity": 5.0, "n_estimators": 5}
    for key, value in quick.items():
        if isinstance(params.get(key), int | float) and params[key] > value:
            model.set_params(**{key: value})


def _save(model: object, folder: Path, name: str) -> list[dict[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, save in SAVERS.items():
        path = folder / f"{name}.{suffix}"
        save(model, path)
        written.append({"path": str(path), "model": name, "saved_with": suffix.split(".")[0]})
    return written


# --- boosters and everyday pipelines ----------------------------------------------------------------


def _boosters() -> list[tuple[str, Any]]:
    import catboost  # noqa: PLC0415
    import lightgbm  # noqa: PLC0415
    import xgboost  # noqa: PLC0415

    x, y_class = _toy_data()[0]
    _, y_reg = _toy_data()[2]
    models = [
        ("LGBMClassifier", lightgbm.LGBMClassifier(n_estimators=5, verbose=-1), y_class),
        ("LGBMRegressor", lightgbm.LGBMRegressor(n_estimators=5, verbose=-1), y_reg),
        ("XGBClassifier", xgboost.XGBClassifier(n_estimators=5), y_class),
        ("XGBRegressor", xgboost.XGBRegressor(n_estimators=5), y_reg),
        (
            "CatBoostClassifier",
            catboost.CatBoostClassifier(iterations=5, verbose=0, allow_writing_files=False),
            y_class,
        ),
        ("CatBoostRegressor", catboost.CatBoostRegressor(iterations=5, verbose=0, allow_writing_files=False), y_reg),
    ]
    fitted = [(name, model.fit(x, y)) for name, model, y in models]
    native = [
        ("lightgbm-Booster", lightgbm.train({"verbose": -1}, lightgbm.Dataset(x, y_reg), num_boost_round=3)),
        ("xgboost-Booster", xgboost.train({}, xgboost.DMatrix(x, y_reg), num_boost_round=3)),
        (
            "catboost-CatBoost",
            catboost.CatBoost({"iterations": 3, "verbose": 0, "allow_writing_files": False}).fit(x, y_reg),
        ),
    ]
    return fitted + native


def _pipelines() -> list[tuple[str, Any]]:
    """The models issue 9 saw refused, fitted on a pandas DataFrame where they take one."""
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler  # noqa: PLC0415

    x, y = _toy_data()[0]
    frame = pd.DataFrame(x, columns=["amount", "age", "score", "days"])
    frame["city"] = pd.Categorical(["paris", "lyon", "nice"] * 20)
    frame["when"] = pd.date_range("2026-01-01", periods=60, freq="D")
    columns = ColumnTransformer(
        [
            ("log", FunctionTransformer(np.log1p), ["amount", "age"]),
            ("scale", StandardScaler(), ["score", "days"]),
            ("city", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    texts, _ = _toy_data()[6]
    return [
        ("ColumnTransformer-log1p", make_pipeline(columns, LogisticRegression()).fit(frame, y)),
        ("Imputer-HistGradientBoosting", make_pipeline(SimpleImputer(), HistGradientBoostingClassifier()).fit(x, y)),
        ("Tfidf-LogisticRegression", make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, y)),
        ("DataFrame", frame),
        ("pandas-objects", _pandas_objects()),
    ]


def _pandas_objects() -> dict[str, Any]:
    """Data that travels with models: pandas' index kinds, extension dtypes and scalars."""
    return {
        "datetime_index": pd.DataFrame({"a": range(3)}, index=pd.date_range("2026-01-01", periods=3)),
        # zoneinfo.ZoneInfo pickles as getattr(ZoneInfo, "_unpickle")(key, from_cache)
        "tz_aware": pd.DataFrame({"t": pd.date_range("2026-01-01", periods=3, tz=zoneinfo.ZoneInfo("Europe/Paris"))}),
        "period_index": pd.Series(range(3), index=pd.period_range("2026-01", periods=3, freq="M")),
        "multi_index": pd.DataFrame({"a": range(4)}, index=pd.MultiIndex.from_product([["x", "y"], [1, 2]])),
        "intervals": pd.Series(pd.interval_range(0, 3)),
        "timedeltas": pd.Series(pd.to_timedelta([1, 2], unit="D")),
        "nullable": pd.DataFrame(
            {
                "i": pd.array([1, None], dtype="Int64"),
                "s": pd.array(["a", None], dtype="string"),
                "b": pd.array([True, None], dtype="boolean"),
            }
        ),
        "categorical": pd.Series(pd.Categorical(["a", "b", "a"])),
        "sparse": pd.Series(pd.arrays.SparseArray([0, 0, 1])),
        "scalars": [pd.Timestamp("2026-01-01"), pd.Timedelta(1, "h"), pd.Period("2026-01", "M"), pd.NaT, pd.NA],
    }


# --- negative controls --------------------------------------------------------------------------------


class _Payload:
    """Unpickling it calls `func(*args)`: how a malicious model file runs code."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.func, self.args


def _malicious(folder: Path) -> list[dict[str, str]]:
    """Real fitted models with a payload: each entry says which global the scan must refuse."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import FunctionTransformer  # noqa: PLC0415

    x, y = _toy_data()[0]
    cases: list[tuple[str, Callable[[], object], str]] = [
        (
            "attribute-os-system",
            lambda: _with(LogisticRegression().fit(x, y), _Payload(os.system, "true")),
            _name_of(os.system),
        ),
        (
            "function-transformer-read-pickle",
            lambda: make_pipeline(FunctionTransformer(pd.read_pickle), LogisticRegression()),
            _name_of(pd.read_pickle),
        ),
        (
            "function-transformer-numpy-load",
            lambda: make_pipeline(FunctionTransformer(np.load), LogisticRegression()),
            _name_of(np.load),
        ),
        (
            "partial-eval",
            lambda: _with(LogisticRegression().fit(x, y), functools.partial(eval, "1")),
            "functools.partial",
        ),
        (
            "joblib-load",
            lambda: _with(LogisticRegression().fit(x, y), _Payload(joblib.load, "x")),
            _name_of(joblib.load),
        ),
    ]
    written = []
    folder.mkdir(parents=True, exist_ok=True)
    for name, build, expected in cases:
        for entry in _save(build(), folder, name):
            written.append(entry | {"expected": expected})
    return written


def _name_of(function: Any) -> str:
    """The global pickle writes for a function: posix.system on Linux, pandas.read_pickle."""
    return f"{function.__module__}.{function.__qualname__}"


def _with(model: Any, payload: object) -> Any:
    model.note_ = payload
    return model


# --- what the libraries' modules hold ---------------------------------------------------------------

INVENTORY_ROOTS = ("sklearn", "scipy", "numpy", "pandas", "lightgbm", "xgboost", "catboost")
INVENTORY_SKIPS = ("tests", "testing", "conftest", "_pytesttester", "f2py", "distutils")


def _inventory() -> dict[str, list[Any]]:
    """Every (module, name, callable, where the object was defined) in the libraries' modules.

    The test checks that what the policy passes by default is defined in the ML libraries
    themselves, not a re-export such as `from multiprocessing.connection import Client`. Modules
    that need an optional dependency not installed are listed apart.
    """
    import importlib  # noqa: PLC0415

    rows: list[Any] = []
    unimportable: list[Any] = []
    for module in _modules():
        try:
            namespace = vars(importlib.import_module(module))
        except Exception as exc:  # recorded: nothing to list in it
            unimportable.append((module, type(exc).__name__))
            continue
        for name, obj in list(namespace.items()):
            if not (name.startswith("__") and not name.startswith("__pyx_unpickle_")):
                rows.append((module, name, callable(obj), getattr(obj, "__module__", None) or ""))
    return {"names": rows, "unimportable": unimportable}


def _modules() -> Iterator[str]:
    import importlib  # noqa: PLC0415
    import pkgutil  # noqa: PLC0415

    for root in INVENTORY_ROOTS:
        yield root
        for found in pkgutil.walk_packages(importlib.import_module(root).__path__, root + "."):
            if not set(found.name.split(".")) & set(INVENTORY_SKIPS):
                yield found.name


def _versions() -> dict[str, str]:
    import catboost  # noqa: PLC0415
    import lightgbm  # noqa: PLC0415
    import scipy  # noqa: PLC0415
    import xgboost  # noqa: PLC0415

    libraries = (sklearn, np, scipy, pd, joblib, lightgbm, xgboost, catboost)
    return {lib.__name__: lib.__version__ for lib in libraries} | {"python": sys.version.split()[0]}


if __name__ == "__main__":
    main(Path(sys.argv[1]))
