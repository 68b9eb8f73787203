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

# shellcheck source=scripts/demo_steps.sh
source "$ROOT/scripts/demo_steps.sh"
demo_start

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

demo_train

REVISION=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo 1)
echo "== ml-artifactory run: $MODEL_ID revision $REVISION, hf-dev-local -> hf-prod-local"
demo_pipeline "$REVISION" "make demo-hf" --repo hf-dev-local --target-repo hf-prod-local --model-name "$MODEL_ID" \
  || { status=$?; cat "$OUT/summary.md"; echo "demo-hf: the pipeline failed (exit $status)" >&2; exit "$status"; }
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
