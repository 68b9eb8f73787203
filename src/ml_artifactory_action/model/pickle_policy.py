"""Which imported globals a model file may use: our allowlist on top of picklescan's denylist.

picklescan fails a file only for names on its denylist and calls everything else it does not
know "suspicious". Here every import that is neither known safe for ML nor allowed by the caller
blocks too; names on the denylist block even when the caller allows them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .findings import Finding, Severity

# Globals that ML checkpoints need and that only rebuild data: PyTorch's weights-only set,
# numpy's array and scalar reconstruction, and the plain containers.
_SAFE_FOR_ML = {
    "collections": "OrderedDict Counter defaultdict deque",
    "builtins": "set frozenset complex slice bytearray range object int float bool str bytes dict list tuple",
    "__builtin__": "set frozenset complex slice bytearray object",
    "copyreg": "_reconstructor",
    "copy_reg": "_reconstructor",
    "_codecs": "encode",
    "datetime": "datetime date time timedelta timezone",
    "torch": "Size device dtype Tensor bfloat16 float16 float32 float64 int8 int16 int32 int64 uint8 bool "
    "complex64 complex128 FloatStorage DoubleStorage HalfStorage BFloat16Storage LongStorage IntStorage "
    "ShortStorage CharStorage ByteStorage BoolStorage ComplexFloatStorage ComplexDoubleStorage "
    "QInt8Storage QUInt8Storage QInt32Storage QUInt4x2Storage QUInt2x4Storage",
    "torch._utils": "_rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter "
    "_rebuild_parameter_with_state _rebuild_qtensor _rebuild_sparse_tensor _rebuild_device_tensor_from_numpy "
    "_rebuild_meta_tensor_no_storage _rebuild_wrapper_subclass _rebuild_nested_tensor",
    "torch._tensor": "_rebuild_from_type_v2",
    "torch.nn.parameter": "Parameter",
    "torch.serialization": "_get_layout",
    "torch.storage": "UntypedStorage TypedStorage",
    "numpy": "dtype ndarray float16 float32 float64 int8 int16 int32 int64 uint8 uint16 uint32 uint64 bool_",
    "numpy.core.multiarray": "_reconstruct scalar",
    "numpy._core.multiarray": "_reconstruct scalar",
    "numpy.core.numeric": "_frombuffer",
    "numpy._core.numeric": "_frombuffer",
    "numpy.dtypes": "Float16DType Float32DType Float64DType Int8DType Int16DType Int32DType Int64DType "
    "UInt8DType UInt16DType UInt32DType UInt64DType BoolDType ObjectDType StrDType BytesDType",
    "numpy.random._pickle": "__randomstate_ctor __bit_generator_ctor __generator_ctor",
    "numpy.random.bit_generator": "__pyx_unpickle_SeedSequence",
    "numpy.random._mt19937": "MT19937",
    "numpy.random._pcg64": "PCG64 PCG64DXSM",
    "numpy.random._philox": "Philox",
    "numpy.random._sfc64": "SFC64",
    "numpy.random.mtrand": "RandomState",
    "numpy.random._generator": "Generator",
    "joblib.numpy_pickle": "NumpyArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle": "NumpyArrayWrapper",
    "sklearn.linear_model._base": "LinearRegression",
    "sklearn.linear_model._logistic": "LogisticRegression",
    "sklearn.linear_model._ridge": "Ridge RidgeClassifier",
    "sklearn.linear_model._coordinate_descent": "Lasso ElasticNet",
    "sklearn.linear_model._stochastic_gradient": "SGDClassifier SGDRegressor",
    "sklearn.tree._classes": "DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier ExtraTreeRegressor",
    "sklearn.tree._tree": "Tree",
    "sklearn.ensemble._forest": "RandomForestClassifier RandomForestRegressor ExtraTreesClassifier ExtraTreesRegressor",
    "sklearn.ensemble._gb": "GradientBoostingClassifier GradientBoostingRegressor",
    "sklearn.svm._classes": "SVC SVR LinearSVC LinearSVR",
    "sklearn.neighbors._classification": "KNeighborsClassifier",
    "sklearn.neighbors._regression": "KNeighborsRegressor",
    "sklearn.naive_bayes": "GaussianNB MultinomialNB BernoulliNB",
    "sklearn.cluster._kmeans": "KMeans MiniBatchKMeans",
    "sklearn.decomposition._pca": "PCA",
    "sklearn.pipeline": "Pipeline",
    "sklearn.preprocessing._data": "StandardScaler MinMaxScaler RobustScaler MaxAbsScaler Normalizer",
    "sklearn.preprocessing._label": "LabelEncoder LabelBinarizer",
    "sklearn.preprocessing._encoders": "OneHotEncoder OrdinalEncoder",
}
SAFE_FOR_ML = frozenset(f"{module}.{name}" for module, names in _SAFE_FOR_ML.items() for name in names.split())

# Names picklescan does not list that run code, open files or import modules when called or
# imported: reported as dangerous too, so the message says how bad it is.
_ALSO_DANGEROUS = {
    "builtins": "__import__ setattr delattr globals locals vars input print memoryview",
    "__builtin__": "__import__ setattr delattr globals locals vars input",
    "importlib": "*",
    "marshal": "*",
    "types": "FunctionType LambdaType MethodType ModuleType",
    "code": "*",
    "codeop": "*",
    "multiprocessing": "*",
    "ctypes": "*",
    "antigravity": "*",
    "this": "*",
    "idlelib": "*",
    "tempfile": "*",
    "io": "open FileIO",
    "zipimport": "*",
    "copyreg._extension_registry": "*",
}
_WILDCARD = ".*"


@dataclass(frozen=True)
class Allowlist:
    """Globals a pickle may import: the ML defaults plus the caller's `allowed_globals`.

    An entry is a dotted name (`mypkg.models.Net`) or a module wildcard (`mypkg.*`), which allows
    every plain name of that module and of its submodules.
    """

    exact: frozenset[str]
    modules: tuple[str, ...] = ()

    @classmethod
    def with_extra(cls, entries: frozenset[str]) -> Allowlist:
        for entry in entries:
            _check_entry(entry)
        wild = tuple(sorted(entry[: -len(_WILDCARD)] for entry in entries if entry.endswith(_WILDCARD)))
        return cls(SAFE_FOR_ML | {entry for entry in entries if not entry.endswith(_WILDCARD)}, wild)

    def allows(self, module: str, name: str) -> bool:
        if f"{module}.{name}" in self.exact:
            return True
        return "." not in name and any(_within(module, prefix) for prefix in self.modules)


def severity(module: str, name: str, *, engine_dangerous: bool, allowlist: Allowlist) -> Severity | None:
    """None when allowed; otherwise how bad an import of `module.name` is."""
    if engine_dangerous or _also_dangerous(module, name) or "?" in (module, name):
        return "dangerous"
    return None if allowlist.allows(module, name) else "suspicious"


def describe(global_name: str, level: Severity, where: str) -> Finding:
    if level == "dangerous":
        why = "a name known to run code, touch files or reach the network; do not load this file"
    else:
        why = (
            "not on the allowlist of globals known safe for ML models; if you wrote or trust it, "
            f"add '{global_name}' to the allowed-globals input"
        )
    return Finding(global_name, level, f"{where}: loading it imports {global_name}, {why}")


def hidden_import(where: str) -> Finding:
    return Finding("?.?", "dangerous", f"{where}: imports a name it hides from a static reading (STACK_GLOBAL)")


def _also_dangerous(module: str, name: str) -> bool:
    for prefix, names in _ALSO_DANGEROUS.items():
        if _within(module, prefix) and (names == "*" or name.split(".", maxsplit=1)[0] in names.split()):
            return True
    return False


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _check_entry(entry: str) -> None:
    body = entry[: -len(_WILDCARD)] if entry.endswith(_WILDCARD) else entry
    parts = body.split(".")
    if not all(part.isidentifier() for part in parts) or (len(parts) < 2 and body == entry):
        raise ValueError(
            f"allowed global {entry!r} is not a dotted name: write 'module.Name' or 'module.*', e.g. 'mypkg.models.Net'"
        )
