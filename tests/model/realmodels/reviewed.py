"""Objects that the ML libraries' modules import from elsewhere and the class rule passes, each reviewed.

tests/model/realmodels/ lists every class-like name the libraries' modules hold and checks that
the policy refuses those defined outside the ML libraries, unless their origin is reviewed here:
a new re-export in a new library version fails the test until someone looks at it.
"""

from __future__ import annotations

# Constructing one, or calling it, only computes, or reads the time-zone database.
REVIEWED = {
    "abc": "abstract base classes",
    "numbers": "abstract number types",
    "typing": "type hints",
    "typing_extensions": "type hints (ParamSpec)",
    "collections": "OrderedDict, Counter, UserDict",
    "collections.abc": "abstract container types",
    "builtins": "built-in types (int, dict, ...) and type-hint aliases",
    "enum": "Enum, IntEnum",
    "decimal": "Decimal",
    "math": "log, sqrt (math only)",
    "_contextvars": "ContextVar (a value holder)",
    "_io": "BytesIO, StringIO (memory only)",
    "_strptime": "LocaleTime, _TimeRE (date parsing tables)",
    "_thread": "Lock",
    "threading": "RLock",
    "queue": "Queue (in memory)",
    "argparse": "ArgumentParser, RawTextHelpFormatter (constructing parses nothing)",
    "contextlib": "nullcontext",
    "dateutil._common": "weekday constants MO..SU",
    "importlib._bootstrap": "named tuples the module happens to define (Components, UError)",
    "importlib.metadata": "PackageNotFoundError (an exception)",
    "inspect": "Parameter (a value type)",
    "joblib.parallel": "effective_n_jobs (counts CPUs)",
    "json.encoder": "JSONEncoder",
    "os": "PathLike (abstract)",
    "pathlib": "Path (constructing touches no file)",
    "re": "Pattern (not constructible)",
    "types": "GenericAlias (type hints)",
    "unittest.case": "SkipTest (an exception)",
    "zoneinfo": "_ZoneInfo (reads the time-zone database)",
    "": "ufuncs without a module (scipy.special's digamma)",
    # what transformers' modules import from torch, logging and contextlib
    "torch.utils.data.dataset": "Dataset, IterableDataset (base classes)",
    "torch.utils.data.sampler": "Sampler, RandomSampler (store their data source)",
    "torch.utils.data.distributed": "DistributedSampler (asks an initialised process group for its size)",
    "torch.optim.lr_scheduler": "LRScheduler (the base class)",
    "pandas.io.formats.info": "DataFrameInfo, SeriesInfo (describe a frame)",
    "pandas.io.formats.format": "DataFrameFormatter, DataFrameRenderer (format text)",
    "pandas.io.formats.printing": "PrettyDict (a dict)",
    "transformers.utils.hub": "PushToHubMixin (a base class: pushing is a method, never called by loading)",
    "transformers.integrations.heterogeneity.configuration_utils": "HeterogeneousConfigMixin (a config base class)",
    "logging": "StreamHandler (writes to the stream it is given, when a record is logged)",
}
