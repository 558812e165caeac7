#!/usr/bin/env bash
# Reload every port with new code, one port at a time. Honours API_PORTS, PM2_HOME.
# When the app's process has workers (uvicorn with API_WORKERS >= 2, or API_RUNNER=gunicorn) it sends SIGHUP:
# uvicorn's supervisor starts each new worker before retiring the old one; gunicorn's master starts a new set of
# workers and stops the old ones gracefully. Either keeps the listening socket, so no request is dropped.
# With a single process per port it falls back to `pm2 reload`, which restarts the process (a short gap on that port).
set -euo pipefail
source "$(dirname "$0")/_common.sh"
cd "$ROOT"

# Worker processes of a uvicorn supervisor (not multiprocessing's resource tracker) or of a gunicorn master (whose
# only other child would be a dirty arbiter, which gunicorn.conf.py does not configure).
# ps exits 1 when there is none: that is an answer (a single process), not an error for set -e.
children() { { ps -o pid=,args= --ppid "$1" || true; } | awk '!/resource_tracker/ {print $1}' | sort; }

for port in ${API_PORTS//,/ }; do
  app="api-$port"
  pid="$("$PM2" pid "$app" | tail -n 1)"
  if [ -z "$pid" ] || [ "$pid" = "0" ]; then
    echo "error: $app is not running" >&2
    exit 1
  fi
  old="$(children "$pid")"
  if [ -z "$old" ]; then
    log "$app: single process, pm2 reload (restarts it)"
    "$PM2" reload "$app" --update-env >/dev/null
  else
    count="$(wc -l <<<"$old")"
    log "$app: SIGHUP to $(ps -o comm= -p "$pid") $pid, replacing $count worker(s)"
    "$PM2" sendSignal SIGHUP "$app" >/dev/null
    deadline=$((SECONDS + 60))
    until now="$(children "$pid")" && [ "$(wc -l <<<"$now")" -eq "$count" ] && [ -z "$(comm -12 <(echo "$old") <(echo "$now"))" ]; do
      [ "$SECONDS" -lt "$deadline" ] || { echo "error: $app workers not replaced within 60 s" >&2; exit 1; }
      sleep 0.2
    done
  fi
  "$PY" scripts/wait_healthy.py --host "$API_HOST" --ports "$port"
done
log "reloaded: $API_PORTS"
