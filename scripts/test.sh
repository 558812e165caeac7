#!/usr/bin/env bash
# The test command: installs what the tests need (virtualenv, pinned packages, pm2), lints, runs the whole suite
# on SQLite, then again on PostgreSQL when a server is reachable (starting a local one that is installed but
# stopped). Extra arguments go to pytest, e.g. scripts/test.sh -k items
set -euo pipefail
source "$(dirname "$0")/_common.sh"
cd "$ROOT"

ensure_venv "$ROOT/requirements-dev.txt"
ensure_pm2

log "ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .

log "pytest on SQLite"
TEST_DATABASE_URL="" "$PY" -m pytest "$@"

if ! pg_url="$("$PY" scripts/pg_test_db.py 2>/dev/null)" && command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
  log "starting the local PostgreSQL server"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  sleep 2
fi
if pg_url="$("$PY" scripts/pg_test_db.py)"; then
  log "pytest on PostgreSQL (${pg_url})"
  TEST_DATABASE_URL="$pg_url" "$PY" -m pytest "$@"
else
  log "PostgreSQL pass SKIPPED: no server reachable"
fi
