#!/usr/bin/env bash
# make demo-hf: the example model through every stage into Hugging Face (huggingfaceml) repositories,
# then the real huggingface_hub pulls it back with snapshot_download through Artifactory.
#
#   1. start the sandbox and create hf-dev-local and hf-prod-local (package type huggingfaceml);
#   2. train examples/fraud-model;
#   3. ml-artifactory run --stages gate,upload,build-publish,scan,promote,resolve with
#      --repo hf-dev-local --target-repo hf-prod-local --model-name example/fraud-model: upload
#      commits one revision (the git commit) through the Hugging Face protocol;
#   4. HF_ENDPOINT=<sandbox>/artifactory/api/huggingfaceml/hf-prod-local snapshot_download of that
#      revision, and scoring with the files it returned. Exits non-zero when any step fails.
# Everything is left in demo-out-hf/ (DEMO_OUT: elsewhere). HF_PYTHON: a python with
# huggingface-hub (default: the clients venv `make demo-hf` builds).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
HF_PYTHON=${HF_PYTHON:-$ROOT/.venv-clients/bin/python}
OUT=${DEMO_OUT:-$ROOT/demo-out-hf}
WORKSPACE=$OUT/workspace
EXAMPLE=$ROOT/examples/fraud-model
MODEL_ID=example/fraud-model

rm -rf "$OUT" && mkdir -p "$WORKSPACE"
: > "$OUT/summary.md"
: > "$OUT/outputs.txt"

echo "== starting the sandbox"
# shellcheck source=scripts/sandbox.sh
source "$ROOT/scripts/sandbox.sh"
trap stop_sandbox EXIT
start_sandbox "$OUT/sandbox"
URL=$SANDBOX_URL
TOKEN=$SANDBOX_TOKEN
echo "sandbox at $URL"

echo "== creating the Hugging Face repositories hf-dev-local and hf-prod-local"
"$BIN/python" - "$URL" "$TOKEN" <<'PY'
import sys

import httpx

url, token = sys.argv[1:3]
with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as admin:
    for key in ("hf-dev-local", "hf-prod-local"):
        body = {"rclass": "local", "packageType": "huggingfaceml", "xrayIndex": True}
        admin.put(f"/artifactory/api/repositories/{key}", json=body).raise_for_status()
PY

echo "== training the example model"
cp "$EXAMPLE/requirements.txt" "$WORKSPACE/"
(cd "$WORKSPACE" && "$BIN/python" "$EXAMPLE/train.py" --out model --metrics metrics.json)

REVISION=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo 1)
echo "== ml-artifactory run: $MODEL_ID revision $REVISION, hf-dev-local -> hf-prod-local"
(
  cd "$WORKSPACE"
  export JF_URL="$URL" JF_ACCESS_TOKEN="$TOKEN"
  export GITHUB_WORKSPACE="$WORKSPACE" GITHUB_STEP_SUMMARY="$OUT/summary.md" GITHUB_OUTPUT="$OUT/outputs.txt"
  export GITHUB_REPOSITORY=example/fraud-model GITHUB_RUN_NUMBER=1 GITHUB_SHA="$REVISION"
  export GITHUB_REF_NAME=main GITHUB_REF=refs/heads/main
  "$BIN/ml-artifactory" run --stages gate,upload,build-publish,scan,promote,resolve \
    --repo hf-dev-local --target-repo hf-prod-local --model-name "$MODEL_ID" \
    --model-path model/ \
    --metrics-file metrics.json \
    --thresholds $'accuracy >= 0.90\nf1 >= 0.85\nloss <= 0.4' \
    --dependencies-file requirements.txt \
    --license Apache-2.0 --task tabular-classification --datasets synthetic-card-transactions \
    --comment "make demo-hf" \
    --download-dir resolved
) || { status=$?; cat "$OUT/summary.md"; echo "demo-hf: the pipeline failed (exit $status)" >&2; exit "$status"; }
cat "$OUT/summary.md"

ENDPOINT=$URL/artifactory/api/huggingfaceml/hf-prod-local
echo "== snapshot_download('$MODEL_ID', revision='$REVISION') with HF_ENDPOINT=$ENDPOINT"
SNAPSHOT=$(HF_ENDPOINT="$ENDPOINT" HF_TOKEN="$TOKEN" HF_HUB_DISABLE_XET=1 HF_HUB_DISABLE_TELEMETRY=1 \
  HF_HUB_ETAG_TIMEOUT=86400 HF_HUB_DOWNLOAD_TIMEOUT=86400 HF_HOME="$OUT/hf-home" \
  "$HF_PYTHON" -c 'import sys; from huggingface_hub import snapshot_download; print(snapshot_download(sys.argv[1], revision=sys.argv[2]))' \
  "$MODEL_ID" "$REVISION")
echo "snapshot at $SNAPSHOT:"
(cd "$SNAPSHOT" && find . -type f -o -type l | sort | sed 's/^/  /')

echo
echo "== scoring with the model snapshot_download returned"
"$BIN/python" "$EXAMPLE/predict.py" "$SNAPSHOT"
echo
echo "demo-hf: done. Everything is in ${OUT#"$ROOT"/}/."
