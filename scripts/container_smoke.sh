#!/usr/bin/env bash
# Container smoke test: build the Dockerfile of this commit and run the whole pipeline in the image
# against a sandbox on the host, with the container set up the way the Actions runner starts a
# Docker action:
#   workspace mounted at /github/workspace and used as the working directory, HOME=/github/home,
#   file commands under /github/file_commands, the event at /github/workflow/event.json, every
#   input of action.yml as INPUT_<NAME> with its hyphens (defaults included), root, host network.
# The workspace is a git checkout owned by another user than the container's root (uid 1001, as on
# GitHub's hosted runners): files the action leaves must be that user's, and git must read it.
# Two traps make it stricter than the runner: PATH inside the container is broken (the entrypoint
# must not need it) and the workspace holds a decoy `ml_artifactory_action` package (the entrypoint
# must not import from the working directory).
#
# Env: CONTAINER_ENGINE  podman (default; set up with ../shared/tools/container-standin, as root
#                        or through sudo) or docker (GitHub's runners)
#      SMOKE_IMAGE       an image already built to test instead of building the Dockerfile
# Skips (exit 0, with the reason) only where podman cannot be set up on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
ENGINE=${CONTAINER_ENGINE:-podman}
STANDIN=${STANDIN:-$ROOT/../shared/tools/container-standin}
IMAGE=${SMOKE_IMAGE:-localhost/ml-artifactory-action:smoke}
STAGES=gate,upload,build-publish,scan,promote,resolve
RUNNER_UID=1001  # the runner's user on GitHub's hosted runners owns the workspace

skip() {
  echo "container smoke test SKIPPED: $*"
  exit 0
}

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

setup_podman() {
  if [ "$(id -u)" != 0 ] && ! sudo -n true 2>/dev/null; then
    skip "rootful podman needs root or password-less sudo, and this user has neither"
  fi
  [ -x "$STANDIN" ] || skip "$STANDIN is missing, so podman and the base image cannot be set up"
  local env_sh
  env_sh=$(as_root "$STANDIN" python:3.12-slim | tail -n 1) || skip "container-standin failed (above)"
  # shellcheck source=/dev/null
  source "$env_sh"
  ENGINE_CMD=(as_root env CONTAINERS_STORAGE_CONF="$CONTAINERS_STORAGE_CONF" CONTAINERS_CONF="$CONTAINERS_CONF"
    TMPDIR="$TMPDIR" podman)
  BUILD_FLAGS=(--pull=never --network host)
}

case "$ENGINE" in
  podman) setup_podman ;;
  docker) ENGINE_CMD=(docker); BUILD_FLAGS=() ;;
  *) echo "CONTAINER_ENGINE must be podman or docker, not $ENGINE" >&2; exit 2 ;;
esac

SMOKE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/container-smoke.XXXXXX")
if [ -z "${SMOKE_IMAGE:-}" ]; then
  echo "== building the Dockerfile ($ENGINE)"
  start=$SECONDS
  "${ENGINE_CMD[@]}" build "${BUILD_FLAGS[@]}" -t "$IMAGE" . > "$SMOKE_DIR/build.log" 2>&1 \
    || { tail -n 40 "$SMOKE_DIR/build.log" >&2; exit 1; }
  echo "built $IMAGE in $((SECONDS - start)) s"
fi

echo "== starting the sandbox on the host"
# shellcheck source=scripts/sandbox.sh
source "$ROOT/scripts/sandbox.sh"
cleanup() {
  stop_sandbox
  as_root rm -rf "$SMOKE_DIR"
}
trap cleanup EXIT
start_sandbox "$SMOKE_DIR/sandbox"
echo "sandbox at $SANDBOX_URL"

# What the runner prepares on the host: workspace, home, file commands, workflow (event) folders.
RUNNER=$SMOKE_DIR/runner
mkdir -p "$RUNNER"/{workspace,home,file_commands,workflow}
touch "$RUNNER"/file_commands/{set_output,set_env,step_summary,add_path,save_state}
echo '{"ref": "refs/heads/main", "repository": {"default_branch": "main"}, "inputs": {}}' > "$RUNNER/workflow/event.json"
WORKSPACE=$RUNNER/workspace
cp examples/fraud-model/requirements.txt "$WORKSPACE/"
(cd "$WORKSPACE" && "$BIN/python" "$ROOT/examples/fraud-model/train.py" --out model --metrics metrics.json)
mkdir -p "$WORKSPACE/ml_artifactory_action"
echo 'raise SystemExit("the decoy in the workspace was imported instead of the installed package")' \
  > "$WORKSPACE/ml_artifactory_action/__init__.py"
cp "$WORKSPACE/ml_artifactory_action/__init__.py" "$WORKSPACE/ml_artifactory_action/__main__.py"
# A checkout (build-info reads its commit message: the event below is not a push and has none) that
# belongs, like the workspace, to the runner's user and not to the container's root.
git -C "$WORKSPACE" init -q
git -C "$WORKSPACE" -c user.name=smoke -c user.email=smoke@example.com commit -q --allow-empty \
  -m "Retrain the fraud model on May data"
as_root chown -R "$RUNNER_UID:$RUNNER_UID" "$WORKSPACE"

# Every input of action.yml with its default, then this run's inputs: one NAME=VALUE per NUL.
"$BIN/python" - "$SMOKE_DIR/inputs.env" <<EOF
import sys, yaml
spec = yaml.safe_load(open("action.yml"))
inputs = {name: str(meta.get("default", "")) for name, meta in spec["inputs"].items()}
inputs["github-token"] = ""  # no GitHub API here: no deployment is recorded
inputs.update({
    "stages": "$STAGES",
    "model-path": "model/",
    "metrics-file": "metrics.json",
    "thresholds": "accuracy >= 0.90\nf1 >= 0.85\nloss <= 0.4",
    "dependencies-file": "requirements.txt",
    "download-dir": "resolved",
    "comment": "container smoke test",
})
with open(sys.argv[1], "w") as out:
    out.write("".join(f"INPUT_{k.upper()}={v}\0" for k, v in inputs.items()))
EOF
ENV_ARGS=()
while IFS= read -r -d '' pair; do ENV_ARGS+=(-e "$pair"); done < "$SMOKE_DIR/inputs.env"

echo "== running the pipeline in the container ($STAGES)"
set +e
"${ENGINE_CMD[@]}" run --rm --network host --workdir /github/workspace \
  -v "$RUNNER/workspace:/github/workspace" -v "$RUNNER/home:/github/home" \
  -v "$RUNNER/file_commands:/github/file_commands" -v "$RUNNER/workflow:/github/workflow" \
  -e HOME=/github/home -e PATH=/nonexistent -e CI=true -e GITHUB_ACTIONS=true \
  -e GITHUB_WORKSPACE=/github/workspace -e GITHUB_EVENT_PATH=/github/workflow/event.json \
  -e GITHUB_OUTPUT=/github/file_commands/set_output -e GITHUB_ENV=/github/file_commands/set_env \
  -e GITHUB_STEP_SUMMARY=/github/file_commands/step_summary -e GITHUB_PATH=/github/file_commands/add_path \
  -e GITHUB_STATE=/github/file_commands/save_state \
  -e GITHUB_REPOSITORY=acme/fraud-model -e GITHUB_RUN_ID=4242 -e GITHUB_RUN_NUMBER=42 -e GITHUB_RUN_ATTEMPT=1 \
  -e GITHUB_SHA=3f786850e387550fdab836ed7e6dc881de23001b -e GITHUB_REF=refs/heads/main -e GITHUB_REF_NAME=main \
  -e GITHUB_EVENT_NAME=workflow_dispatch -e GITHUB_WORKFLOW=train -e GITHUB_JOB=publish -e GITHUB_ACTOR=octocat \
  -e GITHUB_SERVER_URL=https://github.com -e GITHUB_API_URL=http://127.0.0.1:9 \
  -e JF_URL="$SANDBOX_URL" -e JF_ACCESS_TOKEN="$SANDBOX_TOKEN" \
  "${ENV_ARGS[@]}" "$IMAGE" 2>&1 | tee "$SMOKE_DIR/run.log"
status=${PIPESTATUS[0]}
set -e

echo "== checking what the runner would see"
"$BIN/python" - "$RUNNER" "$status" "$SANDBOX_TOKEN" "$SANDBOX_URL" "$RUNNER_UID" <<'EOF'
import hashlib, json, pathlib, stat, sys, urllib.request

runner, status, token, url, runner_uid = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
files = runner / "file_commands"
summary = (files / "step_summary").read_text()
log = (runner.parent / "run.log").read_text()

def parse(text):
    values, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line:
            name, _, delim = line.partition("<<")
            values[name] = "\n".join(iter(lambda: next(lines), delim))
        elif "=" in line:
            name, _, value = line.partition("=")
            values[name] = value
    return values

outputs = parse((files / "set_output").read_text())
problems = []
def expect(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        problems.append(what)

expect(status == 0, f"the container exited 0 (got {status})")
expect("::error" not in log, "no error annotation in the log")
shown = "\n".join(line for line in log.splitlines() if not line.startswith("::add-mask::"))  # the runner hides these
expect(token not in shown and token not in summary, "the access token is in neither the log nor the summary")
expect(outputs.get("gate-passed") == "true", "output gate-passed is true")
expect(outputs.get("build-name") == "fraud-model", "output build-name is the repository name")
expect(outputs.get("build-number") == "42", "output build-number is the run number")
expect(outputs.get("scan-result") == "pass", "output scan-result is pass")
expect(outputs.get("promoted") == "true", "output promoted is true")
trained = (runner / "workspace/model/model.safetensors").read_bytes()
resolved = sorted((runner / "workspace/resolved").rglob("model.safetensors"))
expect(len(resolved) == 1, "resolve downloaded the model into the workspace")
expect(bool(resolved) and resolved[0].read_bytes() == trained, "the resolved model is the trained model, byte for byte")
artifacts = json.loads(outputs.get("artifacts", "[]") or "[]")
expect(hashlib.sha256(trained).hexdigest() in json.dumps(artifacts), "output artifacts lists the model's sha256")
expect("Model pipeline" in summary, "the job summary holds the report")
# What the job's next step (the runner's user, not root) finds: its own files, readable, 0644/0755.
cache = runner / "home/.cache/ml-artifactory-action/hash-cache.json"
for path, mode in ((resolved[0] if resolved else runner / "workspace/resolved", 0o644),
                   (runner / "workspace/resolved", 0o755), (cache, 0o644)):
    st = path.stat() if path.exists() else None
    found = (st.st_uid, st.st_gid, oct(stat.S_IMODE(st.st_mode))) if st else None
    expect(found == (runner_uid, runner_uid, oct(mode)),
           f"{path.relative_to(runner)} is the workspace owner's ({runner_uid}) with mode {oct(mode)} (got {found})")
request = urllib.request.Request(f"{url}/artifactory/api/build/fraud-model/42", headers={"Authorization": f"Bearer {token}"})
vcs = json.load(urllib.request.urlopen(request, timeout=10))["buildInfo"].get("vcs") or [{}]
expect(vcs[0].get("message") == "Retrain the fraud model on May data",
       f"build-info has the checkout's commit message (got {vcs[0].get('message')!r})")
print(f"\n{len(problems)} problems; outputs: {sorted(outputs)}")
sys.exit(1 if problems else 0)
EOF
echo "container smoke test passed"
