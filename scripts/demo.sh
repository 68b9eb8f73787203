#!/usr/bin/env bash
# make demo: the whole pipeline on the example model against a local sandbox, then the report.
#
#   1. start the sandbox (Artifactory + Xray + Access on 127.0.0.1, a free port, a fresh data dir);
#   2. train examples/fraud-model (writes model/ and metrics.json);
#   3. ml-artifactory run --stages gate,upload,build-publish,scan,promote,resolve;
#   4. print the job summary the run wrote, the outputs, and score with the resolved model;
#   5. stop the sandbox. Exits non-zero when any step fails.
# Everything is left in demo-out/ (workspace, summary.md, outputs.txt, sandbox data and log).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
OUT=${DEMO_OUT:-$ROOT/demo-out}  # DEMO_OUT: elsewhere (the tests use a temporary folder)
WORKSPACE=$OUT/workspace
EXAMPLE=$ROOT/examples/fraud-model

# shellcheck source=scripts/demo_steps.sh
source "$ROOT/scripts/demo_steps.sh"
demo_start
demo_train

echo "== ml-artifactory run --stages gate,upload,build-publish,scan,promote,resolve"
status=0
demo_pipeline "$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo "")" "make demo" || status=$?

echo
echo "== the report (GITHUB_STEP_SUMMARY)"
cat "$OUT/summary.md"
echo
echo "== outputs (GITHUB_OUTPUT)"
"$BIN/python" - "$OUT/outputs.txt" <<'PY'
import sys

lines = iter(open(sys.argv[1], encoding="utf-8").read().splitlines())
for line in lines:
    name, _, delimiter = line.partition("<<")
    value = "\n".join(iter(lambda: next(lines), delimiter))
    print(f"{name:20} {value if len(value) <= 100 else value[:97] + '...'}")
PY
if [ "$status" -ne 0 ]; then
  echo "demo: the pipeline failed (exit $status); see the report above" >&2
  exit "$status"
fi

echo
echo "== scoring with the model resolved from production"
"$BIN/python" "$EXAMPLE/predict.py" "$WORKSPACE/resolved"
echo
echo "demo: done. Everything is in ${OUT#"$ROOT"/}/."
