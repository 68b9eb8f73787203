"""The leak hunt and TLS tests use the end-to-end harness (`action`) over their own sandboxes."""

from __future__ import annotations

from tests.e2e.conftest import action  # noqa: F401  the fixture, re-exported for this folder
