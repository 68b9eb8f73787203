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

rm -rf "$OUT" && mkdir -p "$WORKSPACE"
: > "$OUT/summary.md"
: > "$OUT/outputs.txt"
: > "$OUT/env.txt"

echo "== starting the sandbox"
# shellcheck source=scripts/sandbox.sh
source "$ROOT/scripts/sandbox.sh"
trap stop_sandbox EXIT
start_sandbox "$OUT/sandbox"
URL=$SANDBOX_URL
TOKEN=$SANDBOX_TOKEN
echo "sandbox at $URL (data in demo-out/sandbox)"

echo "== training the example model"
cp "$EXAMPLE/requirements.txt" "$WORKSPACE/"
(cd "$WORKSPACE" && "$BIN/python" "$EXAMPLE/train.py" --out model --metrics metrics.json)

echo "== ml-artifactory run --stages gate,upload,build-publish,scan,promote,resolve"
status=0
(
  cd "$WORKSPACE"
  export JF_URL="$URL" JF_ACCESS_TOKEN="$TOKEN"
  export GITHUB_WORKSPACE="$WORKSPACE" GITHUB_STEP_SUMMARY="$OUT/summary.md" GITHUB_OUTPUT="$OUT/outputs.txt"
  export GITHUB_ENV="$OUT/env.txt"
  export GITHUB_REPOSITORY=example/fraud-model GITHUB_RUN_NUMBER=1
  GITHUB_SHA=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo "")
  export GITHUB_SHA GITHUB_REF_NAME=main GITHUB_REF=refs/heads/main
  "$BIN/ml-artifactory" run --stages gate,upload,build-publish,scan,promote,resolve \
    --model-path model/ \
    --metrics-file metrics.json \
    --thresholds $'accuracy >= 0.90\nf1 >= 0.85\nloss <= 0.4' \
    --dependencies-file requirements.txt \
    --license Apache-2.0 --task tabular-classification --datasets synthetic-card-transactions \
    --comment "make demo" \
    --download-dir resolved
) || status=$?

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
