"""Suite-wide rule: under `make test` nothing may be skipped.

Tests of real third-party clients and libraries skip when their virtualenv is not named (a quick
run by hand). `make test` builds every such venv and sets `ML_ACTION_NO_SKIPS=1`, so there a skip
means something the suite promises did not run: it is reported as a failure, with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

NO_SKIPS = "ML_ACTION_NO_SKIPS"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get(NO_SKIPS) == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under make test ({NO_SKIPS}=1), which must run everything: {reason}"
    return report
