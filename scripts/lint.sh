#!/usr/bin/env bash
# Every linter of the project, offline, zero findings expected (each suppression explained inline).
#   ruff + ruff format + mypy   the Python code
#   actionlint                  every workflow and template, ShellCheck on their run: scripts
#   zizmor --offline            the same files and action.yml, security audits (pedantic persona)
#   hadolint                    the Dockerfile
#   ShellCheck                  the shell scripts
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
WORKFLOWS=(.github/workflows/*.yml workflows/*.yml)

echo "== ruff";   $BIN/ruff check src tests benchmarks scripts examples
echo "== format"; $BIN/ruff format --check src tests benchmarks scripts examples
echo "== mypy";   $BIN/mypy

echo "== actionlint"
$BIN/actionlint -shellcheck="$BIN/shellcheck" -pyflakes= "${WORKFLOWS[@]}" && echo "actionlint: ${#WORKFLOWS[@]} files, 0 findings"

echo "== zizmor"
$BIN/zizmor --offline --strict-collection --pedantic --quiet --config tools/zizmor.yml "${WORKFLOWS[@]}" action.yml

echo "== hadolint"
$BIN/hadolint Dockerfile && echo "hadolint: Dockerfile, 0 findings"

echo "== shellcheck"
SCRIPTS=(scripts/*.sh .ci/run requirements/lock.sh)
$BIN/shellcheck -x "${SCRIPTS[@]}" && echo "shellcheck: ${#SCRIPTS[@]} scripts, 0 findings"
