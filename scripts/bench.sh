#!/usr/bin/env bash
# make bench: run every benchmarks/bench_*.py (or those named as arguments) one after another and
# print what each measured; a benchmark prints its own ratios against its goals. Not a timed test:
# compare only figures taken in one run (the machines are shared and noisy).
#   bash scripts/bench.sh                          # all of them, with their defaults
#   bash scripts/bench.sh benchmarks/bench_upload.py --size-mib 512
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ $# -gt 0 ] && [ -f "$1" ]; then
  benches=("$1"); shift
else
  benches=(benchmarks/bench_*.py)
fi
[ -e "${benches[0]}" ] || { echo "bench: no benchmarks/bench_*.py yet"; exit 0; }

failed=()
for bench in "${benches[@]}"; do
  echo "== $bench $*"
  start=$SECONDS
  if "$PY" "$bench" "$@"; then
    echo "-- $bench: done in $((SECONDS - start)) s"
  else
    echo "-- $bench: FAILED (exit $?) after $((SECONDS - start)) s"
    failed+=("$bench")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: ${#failed[@]} of ${#benches[@]} failed: ${failed[*]}" >&2
  exit 1
fi
echo "bench: ${#benches[@]} benchmarks ran"
