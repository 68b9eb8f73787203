# shellcheck shell=bash
# Sourced by demo_steps.sh (the demos) and container_smoke.sh: start and stop a sandbox in the background.
#   start_sandbox DATA_DIR   sets SANDBOX_URL, SANDBOX_TOKEN, SANDBOX_PID; logs beside DATA_DIR
#   stop_sandbox             SIGTERM to the sandbox this shell started, then wait for it
# Needs BIN (the venv's bin folder).
SANDBOX_READY_TIMEOUT_S=30
SANDBOX_PID=""

start_sandbox() {
  local data_dir=$1
  SANDBOX_TOKEN=$("$BIN/python" -c 'import secrets; print(secrets.token_urlsafe(24))')
  # The files exist before the sandbox starts: its redirections are opened in the background child,
  # which may run after the first sed below (under load the demo failed on "can't read ....out").
  : > "$data_dir.out"
  : > "$data_dir.log"
  # "--admin-token=..." below: a random token may start with "-", which argparse would read as an option.
  "$BIN/python" -m artifactory_sandbox --host 127.0.0.1 --port 0 --data-dir "$data_dir" \
    --admin-token="$SANDBOX_TOKEN" --xray-index-delay 1 > "$data_dir.out" 2> "$data_dir.log" &
  SANDBOX_PID=$!
  SANDBOX_URL=""
  for _ in $(seq $((SANDBOX_READY_TIMEOUT_S * 10))); do
    SANDBOX_URL=$(sed -n 's/^Sandbox ready at \(http:[^ ]*\).*/\1/p' "$data_dir.out")
    [ -n "$SANDBOX_URL" ] && return 0
    kill -0 "$SANDBOX_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "the sandbox did not start; its log ($data_dir.log):" >&2
  cat "$data_dir.log" >&2
  return 1
}

stop_sandbox() {
  if [ -n "$SANDBOX_PID" ] && kill -0 "$SANDBOX_PID" 2>/dev/null; then
    kill -TERM "$SANDBOX_PID"
    wait "$SANDBOX_PID" || true
  fi
}
