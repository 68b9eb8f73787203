#!/usr/bin/env bash
# Every linter of the project, offline, zero findings expected.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
echo "== ruff";   $BIN/ruff check src tests benchmarks scripts
echo "== format"; $BIN/ruff format --check src tests benchmarks scripts
echo "== mypy";   $BIN/mypy
