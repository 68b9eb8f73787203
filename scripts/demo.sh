#!/usr/bin/env bash
# make demo: the whole pipeline on the example model against a local sandbox, then the report.
#
#   1. start the sandbox (Artifactory + Xray + Access on 127.0.0.1, a free port, a fresh data dir);
#   2. train examples/fraud-model (writes model/ and metrics.json);
#   3. ml-artifactory run --stages gate,upload,build-publish,scan,promote,resolve, signing the
#      model with a key made for the demo (OpenSSF model signing) and checking it on resolve;
#   4. print the job summary the run wrote, the outputs, and score with the resolved model;
#   5. show the AI-BOM that came with it, and verify the resolved folder with OpenSSF's own
#      `model_signing` command, run separately;
#   6. stop the sandbox. Exits non-zero when any step fails.
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

echo "== a signing key for the demo (in a workflow: a secret, or sign: sigstore)"
"$BIN/python" - "$OUT/signing-key.pem" "$OUT/signing-key.pub" <<'PY'
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

key = ec.generate_private_key(ec.SECP256R1())
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
Path(sys.argv[1]).write_bytes(pem)
public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
Path(sys.argv[2]).write_bytes(public)
PY
echo "EC P-256 key pair in ${OUT#"$ROOT"/}/signing-key.pem and signing-key.pub"

echo "== ml-artifactory run --stages gate,upload,build-publish,scan,promote,resolve"
status=0
INPUT_SIGNING_KEY=$(cat "$OUT/signing-key.pem") demo_pipeline \
  "$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo "")" "make demo" \
  --sign key --verify-signature true --verify-public-key "$(cat "$OUT/signing-key.pub")" || status=$?

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
echo "== the AI-BOM that came with it (resolved/fraud-model.cdx.json, CycloneDX 1.6)"
"$BIN/python" - "$WORKSPACE/resolved/fraud-model.cdx.json" <<'PY'
import json
import sys

bom = json.load(open(sys.argv[1], encoding="utf-8"))
model = bom["metadata"]["component"]
print(f"{model['type']}: {model['name']} {model['version']}")
for part in model["components"]:
    sha256 = next(h["content"] for h in part["hashes"] if h["alg"] == "SHA-256")
    print(f"  file {part['name']:24} sha256 {sha256}")
card = model["modelCard"]
print(f"  task {card['modelParameters']['task']}, data sets {[d['name'] for d in card['modelParameters']['datasets']]}")
print("  metrics " + ", ".join(f"{m['type']}={m['value']}" for m in card["quantitativeAnalysis"]["performanceMetrics"]))
print("  licenses " + ", ".join(lic["license"].get("id", "") for lic in model.get("licenses", [])))
for reference in model["externalReferences"]:
    print(f"  {reference['type']:12} {reference['url']}")
print("  dependencies " + ", ".join(c["purl"] for c in bom["components"]))
PY

echo
echo "== model_signing verify (OpenSSF's command, run on the resolved folder)"
"$BIN/model_signing" verify key "$WORKSPACE/resolved" \
  --signature "$WORKSPACE/resolved/model.sig" \
  --ignore-paths "$WORKSPACE/resolved/fraud-model.cdx.json" \
  --public_key "$OUT/signing-key.pub"
echo
echo "demo: done. Everything is in ${OUT#"$ROOT"/}/."
