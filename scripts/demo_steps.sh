# shellcheck shell=bash
# Sourced by demo.sh and demo_hf.sh: the steps both demos take on the example model.
#   demo_start                 empties OUT, makes WORKSPACE and the runner's files, starts the
#                              sandbox (stopped when the script exits); sets URL and TOKEN
#   demo_train                 trains examples/fraud-model in WORKSPACE (model/, metrics.json)
#   demo_pipeline SHA COMMENT [FLAG...]
#                              ml-artifactory run of gate, upload, build-publish, scan, promote and
#                              resolve on the trained model, with the environment a GitHub runner
#                              gives (files in OUT); FLAGs are added to the command line
# Needs ROOT, BIN, OUT, WORKSPACE and EXAMPLE.
# shellcheck source=scripts/sandbox.sh
source "$ROOT/scripts/sandbox.sh"

demo_start() {
  rm -rf "$OUT" && mkdir -p "$WORKSPACE"
  : > "$OUT/summary.md"
  : > "$OUT/outputs.txt"
  : > "$OUT/env.txt"
  echo "== starting the sandbox"
  trap stop_sandbox EXIT
  start_sandbox "$OUT/sandbox"
  URL=$SANDBOX_URL
  TOKEN=$SANDBOX_TOKEN
  echo "sandbox at $URL (data in ${OUT#"$ROOT"/}/sandbox)"
}

demo_train() {
  echo "== training the example model"
  cp "$EXAMPLE/requirements.txt" "$WORKSPACE/"
  (cd "$WORKSPACE" && "$BIN/python" "$EXAMPLE/train.py" --out model --metrics metrics.json)
}

demo_pipeline() {
  local sha=$1 comment=$2
  shift 2
  (
    cd "$WORKSPACE" || exit
    export JF_URL="$URL" JF_ACCESS_TOKEN="$TOKEN"
    export GITHUB_WORKSPACE="$WORKSPACE" GITHUB_STEP_SUMMARY="$OUT/summary.md" GITHUB_OUTPUT="$OUT/outputs.txt"
    export GITHUB_ENV="$OUT/env.txt"
    export GITHUB_REPOSITORY=example/fraud-model GITHUB_RUN_NUMBER=1 GITHUB_SHA="$sha"
    export GITHUB_REF_NAME=main GITHUB_REF=refs/heads/main
    "$BIN/ml-artifactory" run --stages gate,upload,build-publish,scan,promote,resolve "$@" \
      --model-path model/ \
      --metrics-file metrics.json \
      --thresholds $'accuracy >= 0.90\nf1 >= 0.85\nloss <= 0.4' \
      --dependencies-file requirements.txt \
      --license Apache-2.0 --task tabular-classification --datasets synthetic-card-transactions \
      --comment "$comment" \
      --download-dir resolved
  )
}
