#!/usr/bin/env bash
# Compile the container image's locks, every version pinned and every file's hash recorded:
#   requirements/action.txt  the runtime dependencies, from pyproject.toml's [project].dependencies
#                            (no dev extras);
#   requirements/build.txt   what the image's build stage needs to build the wheel (build.in).
# Universal: one lock for the Python of python:3.12-slim and for 3.11 (the local podman stand-in).
# tests/container/test_lock.py fails when pyproject's dependencies and the lock disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
compile() {
  # The package index only (no local wheel folders), so that every hash is one the index serves.
  env -u PIP_FIND_LINKS -u UV_FIND_LINKS .venv/bin/uv pip compile "$1" \
    --universal --python-version 3.11 --generate-hashes --quiet \
    --custom-compile-command "requirements/lock.sh" --output-file "$2" "${@:3}"
}
compile pyproject.toml requirements/action.txt "$@"
compile requirements/build.in requirements/build.txt "$@"
