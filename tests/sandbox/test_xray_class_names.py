"""The sandbox Xray tells a class from a module by reading the module's source, importing nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from artifactory_sandbox.xray_class_names import names_a_class


@pytest.mark.parametrize(
    ("module", "name", "is_class"),
    [
        ("zoneinfo", "ZoneInfo", True),  # `from ._zoneinfo import ZoneInfo`: a module of no submodules
        ("pathlib", "Path", True),  # a class statement
        ("collections", "OrderedDict", True),  # a from-import of a compiled module and a class statement
        ("zoneinfo", "_tzpath", False),  # a submodule, and lower-case
        ("tempfile", "_os", False),  # `import os as _os`
        ("numpy.matrixlib.defmatrix", "N", False),  # `import numpy._core.numeric as N`
        ("xml", "Dom", False),  # bound nowhere
        ("email", "Message", False),  # no such binding in email/__init__.py
        ("numpy", "dtype", False),  # lower-case: may be a module bound under a short name
        ("no_such_module_here", "Thing", False),  # nothing to read
        ("_zoneinfo", "ZoneInfo", False),  # compiled: no source to read
        ("zoneinfo.ZoneInfo", "Cls", False),  # a submodule asked of what is no package
    ],
)
def test_a_class_is_told_from_a_module(module: str, name: str, is_class: bool) -> None:
    assert names_a_class(module, name) is is_class


def test_telling_imports_nothing() -> None:
    probe = (
        "import sys\n"
        "from artifactory_sandbox.xray_class_names import names_a_class\n"
        "assert not names_a_class('numpy.matrixlib.defmatrix', 'N')\n"
        "assert names_a_class('zoneinfo', 'ZoneInfo')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'zoneinfo')))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr
