"""The data behind the pickle policy: which imported globals run code, and which rebuild ML objects.

Facts gathered from how others decide (PyTorch's weights-only unpickler, skops' trusted types,
fickling's ML allowlist, modelscan's severity tiers, picklescan's denylist) and from the globals
that scikit-learn, LightGBM, XGBoost, CatBoost, pandas, SciPy, NumPy, PyTorch, transformers and
accelerate really write (tests/model/realmodels/ saves them with the libraries themselves).

Each table maps a module to its names separated by spaces; "*" stands for every name of the
module and of its submodules, and a name ending in "*" for every name starting so.
"""

from __future__ import annotations

# DANGEROUS: runs code, reaches the OS (files, processes, environment), the network, imports
# modules or reflects on objects, when called or merely constructed. Never passes without
# allow-unsafe-pickle, whatever allowed-globals says.
DANGEROUS = {
    # Processes, the OS, files
    "os": "*",
    "posix": "*",
    "nt": "*",
    "posixpath": "*",
    "ntpath": "*",
    "genericpath": "*",
    "subprocess": "*",
    "_posixsubprocess": "*",
    "pty": "*",
    "sys": "*",
    "shutil": "*",
    "tempfile": "*",
    "glob": "*",
    "fileinput": "*",
    "io": "open open_code FileIO",
    "_io": "open open_code FileIO",
    "zipfile": "*",
    "tarfile": "*",
    "gzip": "*",
    "bz2": "*",
    "lzma": "*",
    "shelve": "*",
    "dbm": "*",
    "sqlite3": "*",
    "mmap": "*",
    "fcntl": "*",
    "resource": "*",
    "signal": "*",
    "_signal": "*",
    "atexit": "*",
    "platform": "*",
    "sysconfig": "*",
    "site": "*",
    "venv": "*",
    "ensurepip": "*",
    "pip": "*",
    "setuptools": "*",
    "distutils": "*",
    "logging": "*",
    "faulthandler": "*",
    "tracemalloc": "*",
    "getpass": "*",
    "pwd": "*",
    "grp": "*",
    "msvcrt": "*",
    "winreg": "*",
    "_winapi": "*",
    "multiprocessing": "*",
    "concurrent": "*",
    "threading": "*",
    "_thread": "*",
    "asyncio": "*",
    "sched": "*",
    # Code, imports, reflection
    "builtins": "eval exec compile open input breakpoint __import__ getattr setattr delattr globals locals vars "
    "apply execfile exit quit help memoryview __loader__ __spec__ __build_class__",
    "__builtin__": "eval exec compile open input breakpoint __import__ getattr setattr delattr globals locals vars "
    "apply execfile exit quit help file reload",
    "importlib": "*",
    "imp": "*",
    "pkgutil": "*",
    "zipimport": "*",
    "runpy": "*",
    "code": "*",
    "codeop": "*",
    "marshal": "*",
    "types": "*",
    "inspect": "*",
    "gc": "*",
    "ctypes": "*",
    "_ctypes": "*",
    "cffi": "*",
    "operator": "attrgetter methodcaller itemgetter",
    "_operator": "attrgetter methodcaller itemgetter",
    "functools": "partial partialmethod reduce singledispatch* wraps update_wrapper",
    "copyreg": "pickle constructor add_extension remove_extension _extension_registry _inverted_registry "
    "_extension_cache __newobj__ __newobj_ex__ _reduce_ex",
    "pickle": "*",
    "_pickle": "*",
    "cPickle": "*",
    "pickletools": "*",
    "dill": "*",
    "cloudpickle": "*",
    "joblib": "load dump Parallel parallel Memory memory externals numpy_pickle.load* _store_backends hashing",
    "pdb": "*",
    "bdb": "*",
    "pydoc": "*",
    "profile": "*",
    "cProfile": "*",
    "timeit": "*",
    "trace": "*",
    "doctest": "*",
    "unittest": "*",
    "test": "*",
    "idlelib": "*",
    "lib2to3": "*",
    "tkinter": "*",
    "turtle": "*",
    "antigravity": "*",
    "this": "*",
    "rlcompleter": "*",
    "readline": "*",
    "uuid": "*",
    # The network
    "socket": "*",
    "_socket": "*",
    "ssl": "*",
    "select": "*",
    "selectors": "*",
    "socketserver": "*",
    "http": "*",
    "httplib": "*",
    "urllib": "*",
    "urllib2": "*",
    "ftplib": "*",
    "smtplib": "*",
    "poplib": "*",
    "imaplib": "*",
    "nntplib": "*",
    "telnetlib": "*",
    "xmlrpc": "*",
    "webbrowser": "*",
    "requests": "*",
    "aiohttp": "*",
    "httpx": "*",
    "urllib3": "*",
    # Parts of the ML libraries that reach the OS, the network, compile or import code, or load
    # pickles: a module prefix (`numpy.*`, `torch.*`) in allowed-globals never reaches them.
    "numpy": "load save savez savez_compressed savetxt loadtxt genfromtxt fromfile fromregex memmap DataSource "
    "test show_config show_runtime info source lookfor get_include "
    "f2py distutils testing ctypeslib _pytesttester conftest _pyinstaller __config__ _configtool "
    "lib._datasource lib.npyio lib._npyio_impl lib.format lib._format_impl lib._iotools lib._utils_impl lib.utils "
    "core._internal _core._internal core.memmap _core.memmap",
    "scipy": "io datasets misc weave conftest test LowLevelCallable _lib._testutils _lib._ccallback",
    "pandas": "read_* to_pickle eval HDFStore ExcelWriter ExcelFile test show_versions set_option "
    "io core.computation compat.pickle_compat _testing testing util._tester util._print_versions "
    "plotting conftest core._numba core.window.numba_ api.extensions.register_*",
    "sklearn": "datasets externals.joblib.load externals.joblib.dump externals.joblib.Parallel externals.joblib.parallel "
    "externals.joblib.Memory externals.joblib.memory externals.joblib.externals externals.joblib.numpy_pickle.load* "
    "_build_utils __check_build tests conftest show_versions "
    "utils._testing utils.estimator_checks utils._show_versions utils.parallel utils._joblib "
    "utils.validation.check_memory utils.discovery callback._transport",
    "xgboost": "dask spark tracker collective federated testing libpath _typing.C*tr _data_utils.C*tr core.C*tr",
    "lightgbm": "dask libpath basic._*Handle DaskLGBM*",
    "catboost": "datasets widget eval utils dev_utils",
    "torch": "load save from_file hub jit package distributed multiprocessing _dynamo _inductor fx export onnx "
    "compiler library ops classes _ops _classes _C serialization.load* serialization._load* serialization._legacy* "
    "serialization.save serialization._save serialization._open* storage._load_from_bytes "
    "utils.cpp_extension utils.data utils.tensorboard utils.model_zoo utils.benchmark utils.bottleneck "
    "utils.collect_env utils._config_module testing profiler autograd.profiler _weights_only_unpickler",
    "transformers": "dynamic_module_utils hub utils.hub pipelines agents tools commands testing_utils integrations "
    "onnx convert_* models.*.convert_* trainer modeling_utils",
    "accelerate": "commands launchers utils.launch test_utils",
    "tensorflow": "*",
    "keras": "*",
}

# Dangerous wherever they are found: what `from os import system` or `from pickle import loads`
# makes a name of any module, including a caller's own (`mypkg.utils.system`).
REEXPORTED = (
    "system popen Popen spawn spawnl spawnle spawnlp spawnlpe spawnv spawnve spawnvp spawnvpe posix_spawn "
    "posix_spawnp execl execle execlp execlpe execv execve execvp execvpe fork forkpty startfile kill killpg "
    "check_call check_output getoutput getstatusoutput run_path run_module eval exec execfile __import__ "
    "import_module load_module exec_module getattr setattr delattr attrgetter methodcaller load loads open "
    "read_pickle CDLL PyDLL WinDLL OleDLL LoadLibrary dlopen load_library from_pretrained push_to_hub from_file "
    # classes found re-exported in the ML libraries' modules (see tests/model/realmodels/)
    "partial partialmethod Thread ThreadPoolExecutor ProcessPoolExecutor Process Pool Client Listener Connection "
    "NamedTemporaryFile TemporaryFile TemporaryDirectory SpooledTemporaryFile TestCase PyCapsule_GetPointer "
    "PyCapsule_GetName CFUNCTYPE PYFUNCTYPE POINTER pointer cast FileHandler RotatingFileHandler "
    "TimedRotatingFileHandler WatchedFileHandler SocketHandler DatagramHandler SysLogHandler HTTPHandler SMTPHandler "
    "Parallel delayed RabitTracker LowLevelCallable"
)

# The libraries whose classes rebuild fitted models: a class (a capitalised name) of these
# packages passes by default; a function passes only when listed in REBUILD_FUNCTIONS.
ML_CLASS_NAMESPACES = (
    "sklearn",
    "scipy",
    "numpy",
    "pandas",
    "lightgbm",
    "xgboost",
    "catboost",
    "torch.nn.modules",
    "torch.nn.parameter",
    "torch.optim",
    "torch.storage",
    "torch.amp.grad_scaler",
    "transformers.configuration_utils",
    "transformers.models.*.configuration_*",
    "transformers.training_args",
    "transformers.training_args_seq2seq",
    "transformers.trainer_utils",
    "transformers.trainer_pt_utils",
    "transformers.generation.configuration_utils",
    "transformers.utils.generic",
    "transformers.utils.quantization_config",
    "transformers.debug_utils",
    "accelerate.utils.dataclasses",
    "accelerate.state",
)

# Package roots a caller's wildcard reaches only the classes of (`numpy.*` adds numpy's classes;
# functions must be named one by one): the libraries above and the standard library.
WELL_KNOWN_ROOTS = (
    "sklearn scipy numpy pandas lightgbm xgboost catboost torch transformers accelerate joblib keras "
    "tensorflow tokenizers safetensors huggingface_hub"
)

# Functions and non-class objects that only rebuild data, and the lower-case classes that do.
REBUILD = {
    # Containers and plain values of the standard library
    "builtins": "set frozenset complex slice bytearray bytes range int float bool str dict list tuple object",
    "__builtin__": "set frozenset complex slice bytearray bytes range int float bool str dict list tuple object",
    "collections": "OrderedDict Counter defaultdict deque",
    "copyreg": "_reconstructor",
    "copy_reg": "_reconstructor",
    "_codecs": "encode",
    "datetime": "datetime date time timedelta timezone",
    # reads the time-zone database, by key; a ZoneInfo pickles as getattr(ZoneInfo, "_unpickle")(key, from_cache)
    "zoneinfo": "ZoneInfo ZoneInfo._unpickle",
    "decimal": "Decimal",
    "fractions": "Fraction",
    "argparse": "Namespace",
    "re": "_compile",
    # NumPy arrays, scalars, dtypes, random state, and its element-wise math (ufuncs)
    "numpy": "dtype ndarray generic number bool_ bool int8 int16 int32 int64 uint8 uint16 uint32 uint64 intc uintc "
    "intp uintp longlong ulonglong float16 float32 float64 longdouble complex64 complex128 clongdouble str_ "
    "bytes_ void object_ datetime64 timedelta64 half single double "
    "absolute abs add arccos arccosh arcsin arcsinh arctan arctan2 arctanh bitwise_and bitwise_or bitwise_xor "
    "bitwise_not cbrt ceil conj conjugate copysign cos cosh deg2rad degrees divide divmod equal exp exp2 expm1 "
    "fabs float_power floor floor_divide fmax fmin fmod frexp gcd greater greater_equal heaviside hypot invert "
    "isfinite isinf isnan isnat lcm ldexp left_shift less less_equal log log10 log1p log2 logaddexp logaddexp2 "
    "logical_and logical_not logical_or logical_xor matmul maximum minimum mod modf multiply negative nextafter "
    "not_equal positive power rad2deg radians reciprocal remainder right_shift rint sign signbit sin sinh "
    "spacing sqrt square subtract tan tanh true_divide trunc "
    # reductions, which estimators keep as default parameters (FeatureAgglomeration's pooling_func)
    "mean median sum prod std var amin amax min max nanmean nanmedian nansum average ptp percentile quantile",
    "numpy.core.multiarray": "_reconstruct scalar",
    "numpy._core.multiarray": "_reconstruct scalar",
    "numpy.core.numeric": "_frombuffer",
    "numpy._core.numeric": "_frombuffer",
    "numpy.random._pickle": "__randomstate_ctor __bit_generator_ctor __generator_ctor",
    "numpy.ma.core": "_mareconstruct",
    "joblib.numpy_pickle": "NumpyArrayWrapper",
    "sklearn.externals.joblib.numpy_pickle": "NumpyArrayWrapper",
    # scikit-learn's helpers that estimators keep: k-means steps (BisectingKMeans), Cython's
    # `newObj(cls)`, which only calls `cls.__new__` of a class the pickle must import by itself
    "sklearn.cluster._kmeans": "_kmeans_single_lloyd _kmeans_single_elkan",
    "sklearn.metrics._dist_metrics": "newObj",
    "sklearn.neighbors._kd_tree": "newObj",
    "sklearn.neighbors._ball_tree": "newObj",
    # the array-API namespace function a SciPy BSpline keeps (SplineTransformer)
    "scipy._lib.array_api_compat.numpy._aliases": "asarray",
    "sklearn.externals.array_api_compat.numpy._aliases": "asarray",
    "array_api_compat.numpy._aliases": "asarray",
    # SciPy's sparse matrices and frozen distributions are lower-case classes
    "scipy.sparse._csr": "csr_matrix csr_array",
    "scipy.sparse._csc": "csc_matrix csc_array",
    "scipy.sparse._coo": "coo_matrix coo_array",
    "scipy.sparse._bsr": "bsr_matrix bsr_array",
    "scipy.sparse._dia": "dia_matrix dia_array",
    "scipy.sparse._dok": "dok_matrix dok_array",
    "scipy.sparse._lil": "lil_matrix lil_array",
    # pandas' own rebuild helpers
    "pandas._libs.internals": "_unpickle_block",
    "pandas._libs.tslibs.timestamps": "_unpickle_timestamp",
    "pandas._libs.tslibs.timedeltas": "_timedelta_unpickle",
    "pandas._libs.tslibs.nattype": "_nat_unpickle __nat_unpickle",
    "pandas._libs.tslibs.offsets": "_unpickle_offset",
    "pandas._libs.arrays": "__pyx_unpickle_NDArrayBacked",
    "pandas.core.indexes.base": "_new_Index",
    "pandas.core.indexes.datetimes": "_new_DatetimeIndex",
    "pandas.core.indexes.period": "_new_PeriodIndex",
    "pandas.core.internals.blocks": "new_block",
    "pandas.core.internals.managers": "BlockManager SingleBlockManager",
    # PyTorch: tensors, storages, dtypes, devices (torch's weights-only set)
    "torch": "Size device dtype layout memory_format Tensor Generator bfloat16 float16 half float32 float float64 double "
    "int8 int16 short int32 int int64 long uint8 uint16 uint32 uint64 bool complex32 complex64 cfloat complex128 "
    "cdouble float8_e4m3fn float8_e5m2 qint8 quint8 qint32 strided sparse_coo sparse_csr contiguous_format "
    "channels_last preserve_format FloatStorage DoubleStorage HalfStorage BFloat16Storage LongStorage IntStorage "
    "ShortStorage CharStorage ByteStorage BoolStorage ComplexFloatStorage ComplexDoubleStorage QInt8Storage "
    "QUInt8Storage QInt32Storage QUInt4x2Storage QUInt2x4Storage UntypedStorage TypedStorage",
    "torch._utils": "_rebuild_tensor _rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter "
    "_rebuild_parameter_with_state _rebuild_qtensor _rebuild_sparse_tensor _rebuild_device_tensor_from_numpy "
    "_rebuild_meta_tensor_no_storage _rebuild_wrapper_subclass _rebuild_nested_tensor",
    "torch._tensor": "_rebuild_from_type_v2",
    "torch.serialization": "_get_layout",
}

# Modules whose functions only compute on their arguments (metrics, feature scores): estimators
# keep them as parameters (SelectKBest(score_func=f_classif), TunedThresholdClassifierCV's
# scoring), so every plain function of these modules passes.
COMPUTE_MODULES = (
    "sklearn.metrics._classification",
    "sklearn.metrics._regression",
    "sklearn.metrics._ranking",
    "sklearn.metrics.pairwise",
    "sklearn.metrics.cluster._supervised",
    "sklearn.metrics.cluster._unsupervised",
    "sklearn.feature_selection._univariate_selection",
    "sklearn.feature_selection._mutual_info",
)
