"""The allowlist, the caller's allowed globals, and what a user reads when a file is refused."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.model.samples import PROTO2, STOP, call, glob, text, torch_state_dict, torch_zip

from ml_artifactory_action.errors import UnsafeModelError
from ml_artifactory_action.model.safety import raise_if_unsafe, scan_files, scan_path


def _pickle(tmp_path: Path, module: str, name: str, filename: str = "m.pkl") -> Path:
    path = tmp_path / filename
    path.write_bytes(PROTO2 + call(glob(module, name), text("x")) + STOP)
    return path


def test_an_unknown_class_blocks_until_the_caller_allows_it(tmp_path: Path) -> None:
    path = _pickle(tmp_path, "mypkg.models", "Net")

    refused = scan_path(path)
    allowed = scan_path(path, frozenset({"mypkg.models.Net"}))

    assert [(f.global_name, f.severity) for f in refused.findings] == [("mypkg.models.Net", "suspicious")]
    assert "add 'mypkg.models.Net' to the allowed-globals input" in refused.findings[0].detail
    assert allowed.safe


def test_a_module_wildcard_allows_the_module_and_its_submodules(tmp_path: Path) -> None:
    assert scan_path(_pickle(tmp_path, "mypkg", "Net"), frozenset({"mypkg.*"})).safe
    assert scan_path(_pickle(tmp_path, "mypkg.deep.er", "Net"), frozenset({"mypkg.*"})).safe
    assert not scan_path(_pickle(tmp_path, "mypkgevil", "Net"), frozenset({"mypkg.*"})).safe


def test_a_wildcard_does_not_reach_attributes_through_dotted_names(tmp_path: Path) -> None:
    """Protocol 4 resolves 'os.system' inside mypkg's namespace: a wildcard must not cover that."""
    report = scan_path(_pickle(tmp_path, "mypkg", "os.system"), frozenset({"mypkg.*"}))

    assert [(f.global_name, f.severity) for f in report.findings] == [("mypkg.os.system", "dangerous")]


@pytest.mark.parametrize(
    ("wildcard", "module", "name"),
    [
        ("torch.*", "torch", "load"),
        ("torch.*", "torch.hub", "Load"),
        ("torch.*", "torch.storage", "_load_from_bytes"),
        ("numpy.*", "numpy.f2py.crackfortran", "Crack"),
        ("numpy.*", "numpy.distutils.exec_command", "Exec"),
        ("numpy.*", "numpy.testing._private.utils", "Runstring"),
        ("pandas.*", "pandas", "read_pickle"),
        ("pandas.*", "pandas.io.pytables", "HDFStore"),
        ("sklearn.*", "sklearn.utils._testing", "TempMemmap"),
        ("sklearn.*", "sklearn.datasets._base", "Fetcher"),
        ("mypkg.*", "mypkg.utils", "system"),
        ("mypkg.*", "mypkg.io", "loads"),
        ("transformers.*", "transformers.dynamic_module_utils", "Loader"),
    ],
)
def test_a_wildcard_never_reaches_what_runs_code(wildcard: str, module: str, name: str, tmp_path: Path) -> None:
    report = scan_path(_pickle(tmp_path, module, name), frozenset({wildcard}))

    assert [(f.global_name, f.severity) for f in report.findings] == [(f"{module}.{name}", "dangerous")]
    assert "only allow-unsafe-pickle: true uploads a file that imports it" in report.findings[0].detail


@pytest.mark.parametrize(
    ("wildcard", "module", "name", "passes"),
    [
        ("numpy.*", "numpy.linalg", "LinAlgError", True),
        ("numpy.*", "numpy", "cumsum", False),
        ("collections.*", "collections", "ChainMap", True),
        ("collections.*", "collections", "namedtuple", False),
        ("mypkg.*", "mypkg.models", "build_net", True),
    ],
)
def test_a_wildcard_over_a_well_known_library_adds_only_its_classes(
    wildcard: str, module: str, name: str, passes: bool, tmp_path: Path
) -> None:
    assert scan_path(_pickle(tmp_path, module, name), frozenset({wildcard})).safe is passes


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("sklearn._loss.loss", "HalfBinomialLoss"),
        ("sklearn._loss._loss", "__pyx_unpickle_CyHalfBinomialLoss"),
        ("sklearn.linear_model._sgd_fast", "Hinge"),
        ("sklearn.dummy", "DummyClassifier"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("pandas.core.frame", "DataFrame"),
        ("lightgbm.sklearn", "LGBMClassifier"),
        ("xgboost.core", "Booster"),
        ("catboost.core", "CatBoostClassifier"),
        ("torch.nn.modules.linear", "Linear"),
        ("torch.optim.adamw", "AdamW"),
        ("torch.optim.lr_scheduler", "StepLR"),
        ("transformers.training_args", "TrainingArguments"),
        ("transformers.models.bert.configuration_bert", "BertConfig"),
        ("accelerate.utils.dataclasses", "DistributedType"),
        ("numpy", "log1p"),
        ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"),  # joblib files of scikit-learn < 0.23
        ("sklearn.externals.array_api_compat.numpy._aliases", "asarray"),
        ("sklearn.feature_selection._univariate_selection", "f_classif"),
        ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"),
        ("zoneinfo", "ZoneInfo"),
    ],
)
def test_classes_of_the_ml_libraries_pass_by_default(module: str, name: str, tmp_path: Path) -> None:
    assert scan_path(_pickle(tmp_path, module, name)).safe


@pytest.mark.parametrize(
    ("module", "name", "level"),
    [
        ("sklearn.utils.validation", "check_memory", "dangerous"),  # makes folders (joblib.Memory)
        ("sklearn.externals.joblib", "load", "dangerous"),
        ("sklearn.callback._transport", "Client", "dangerous"),  # multiprocessing's, connects to an address
        ("sklearn.metrics._ranking", "partial", "dangerous"),  # functools', in a module whose functions pass
        ("sklearn.metrics._scorer", "get_scorer", "suspicious"),  # a function: judged on its own
        ("transformers", "AutoModel.from_pretrained", "dangerous"),  # downloads, runs remote code
        ("transformers.trainer", "Trainer", "dangerous"),
        ("torch", "UntypedStorage.from_file", "dangerous"),
        ("torch.nn.modules.module", "Module.__init__.__globals__", "dangerous"),
        ("numpy", "memmap", "dangerous"),
        ("numpy", "load", "dangerous"),
        ("scipy", "LowLevelCallable", "dangerous"),
        ("builtins", "getattr", "dangerous"),
        ("functools", "partial", "dangerous"),
        ("operator", "methodcaller", "dangerous"),
        ("importlib", "import_module", "dangerous"),
        ("runpy", "run_path", "dangerous"),
        ("socket", "create_connection", "dangerous"),
        ("torch.nn.modules", "Linear.forward", "suspicious"),  # attribute paths never pass by default
    ],
)
def test_functions_attribute_paths_and_what_reaches_the_os_are_refused_by_default(
    module: str, name: str, level: str, tmp_path: Path
) -> None:
    report = scan_path(_pickle(tmp_path, module, name))

    assert [(f.global_name, f.severity) for f in report.findings] == [(f"{module}.{name}", level)]


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("*", "is not a dotted Python name"),
        ("sklearn", "names a module, not a global; write 'sklearn.*'"),
        ("my pkg.Net", "is not a dotted Python name"),
        ("mypkg..Net", "is not a dotted Python name"),
        ("mypkg.Ne*", "is not a dotted Python name"),
        ("mypkg.*.Net", "is not a dotted Python name"),
        ("os.system", "'os.system' can run code"),
        ("os.*", "every name under 'os' can run code"),
        ("torch.hub.*", "every name under 'torch.hub' can run code"),
        ("builtins.eval", "'builtins.eval' can run code"),
        ("mypkg.utils.system", "'mypkg.utils.system' can run code"),
        ("mypkg.Net.__init__.__globals__", "'mypkg.Net.__init__.__globals__' can run code"),
    ],
)
def test_a_bad_allowed_global_is_rejected_with_how_to_fix_it(entry: str, says: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=re.escape(says)) as raised:
        scan_path(_pickle(tmp_path, "a", "b"), frozenset({entry}))

    if "can run code" in says:
        assert "only allow-unsafe-pickle: true uploads a file that imports it" in str(raised.value)


def test_a_class_of_a_script_is_allowed_by_its_main_module_name(tmp_path: Path) -> None:
    """A class defined in the training script pickles as `__main__.Net`."""
    assert scan_path(_pickle(tmp_path, "__main__", "Net"), frozenset({"__main__.Net"})).safe
    assert not scan_path(_pickle(tmp_path, "__main__", "Net")).safe


def test_a_dangerous_finding_names_only_allow_unsafe_pickle_as_the_way_through(tmp_path: Path) -> None:
    reports = scan_files([_pickle(tmp_path, "subprocess", "Popen", "b.pkl")])

    with pytest.raises(UnsafeModelError) as raised:
        raise_if_unsafe(reports)

    assert "allowed-globals" not in raised.value.fix.split("allow-unsafe-pickle")[0]
    assert "passed only by allow-unsafe-pickle: true" in raised.value.fix


def test_findings_say_where_inside_an_archive(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(torch_zip(PROTO2 + call(glob("os", "system"), text("id")) + STOP)(path))

    (finding,) = scan_path(path).findings

    assert finding.detail.startswith("model.pt:archive/data.pkl: loading it imports os.system")


def test_scan_files_reports_each_file_in_order(tmp_path: Path) -> None:
    safe = tmp_path / "a.pt"
    safe.write_bytes(torch_zip(torch_state_dict())(safe))
    unsafe = _pickle(tmp_path, "subprocess", "Popen", "b.pkl")

    reports = scan_files([safe, unsafe])

    assert [(r.path, r.format, r.safe) for r in reports] == [(safe, "pytorch-zip", True), (unsafe, "pickle", False)]


def test_raise_if_unsafe_names_each_file_and_global(tmp_path: Path) -> None:
    reports = scan_files([_pickle(tmp_path, "subprocess", "Popen", "b.pkl"), _pickle(tmp_path, "mypkg", "X", "c.pkl")])

    with pytest.raises(UnsafeModelError) as raised:
        raise_if_unsafe(reports)

    assert raised.value.message.splitlines()[1:] == [
        f"{tmp_path / 'b.pkl'} (pickle): subprocess.Popen (dangerous)",
        f"{tmp_path / 'c.pkl'} (pickle): mypkg.X (suspicious)",
    ]
    assert "allowed-globals" in raised.value.fix


def test_raise_if_unsafe_is_silent_for_safe_files(tmp_path: Path) -> None:
    raise_if_unsafe(scan_files([_pickle(tmp_path, "collections", "OrderedDict")]))


def test_a_missing_file_is_reported_not_raised(tmp_path: Path) -> None:
    report = scan_path(tmp_path / "gone.pkl")

    assert not report.safe
    assert report.format == "unknown"
    assert (
        report.error
        == "gone.pkl: the file cannot be read (No such file or directory); the scan fails closed on what it cannot read"
    )


@pytest.mark.parametrize(
    ("module", "class_name", "refused"),
    [
        ("keras.src.models.functional", "Functional", False),
        ("keras.losses", "function", False),
        ("keras", "DTypePolicy", False),
        ("keras.layersevil", "Dense", True),
        ("keras.saving", "function", True),
        ("mypkg.layers", "Custom", True),
    ],
)
def test_keras_config_modules_outside_keras_layers_block(
    module: str, class_name: str, refused: bool, tmp_path: Path
) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"module": module, "class_name": class_name, "config": "mean_squared_error"}))

    report = scan_path(path)

    assert (report.format, report.safe) == ("text", not refused)


def test_an_extension_code_cannot_be_checked_and_only_allow_unsafe_pickle_passes_it(tmp_path: Path) -> None:
    """EXT1 names whatever the loading program registered with copyreg: unknowable, so refused."""
    path = tmp_path / "m.pkl"
    path.write_bytes(PROTO2 + b"\x82\x01" + b"(tR" + STOP)

    (finding,) = scan_path(path).findings

    assert (finding.global_name, finding.severity) == ("copyreg._extension_registry.1", "unreadable")
    assert "only allow-unsafe-pickle: true uploads a file that imports it" in finding.detail
