#!/usr/bin/env bash
# The test command: installs what the tests need (virtualenv, pinned packages, pm2), lints, runs the whole suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k items
set -euo pipefail
source "$(dirname "$0")/_common.sh"
cd "$ROOT"

ensure_venv "$ROOT/requirements-dev.txt"
ensure_pm2

log "ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .

log "pytest"
exec "$PY" -m pytest "$@"
