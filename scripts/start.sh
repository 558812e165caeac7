#!/usr/bin/env bash
# Set up and start the service: virtualenv, pinned packages, pm2, database, secret, then every port under pm2.
# Idempotent. Honours API_PORTS, API_HOST, PM2_HOME and everything in .env.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
cd "$ROOT"

ensure_venv "$ROOT/requirements.txt"
ensure_pm2
"$PY" scripts/manage.py init

# Start only the apps that are not online: a second run neither duplicates nor restarts anything.
to_start=()
for port in ${API_PORTS//,/ }; do
  pid="$("$PM2" pid "api-$port" 2>/dev/null | tail -n 1)"
  if [ -n "$pid" ] && [ "$pid" != "0" ]; then
    log "api-$port already running (pid $pid); scripts/reload.sh loads new code"
  else
    to_start+=("api-$port")
    rm -rf "$ROOT/data/metrics/api-$port"  # multiprocess metrics of a previous run
  fi
done
if [ "${#to_start[@]}" -gt 0 ]; then
  log "starting ${to_start[*]} under pm2 (PM2_HOME=${PM2_HOME:-$HOME/.pm2})"
  only="$(IFS=,; echo "${to_start[*]}")"
  "$PM2" start ecosystem.config.js --only "$only" --update-env >/dev/null
fi

"$PY" scripts/wait_healthy.py --host "$API_HOST" --ports "$API_PORTS" --timeout "${WAIT_HEALTHY_SECONDS:-30}" || {
  "$PM2" ls
  for port in ${API_PORTS//,/ }; do "$PM2" logs "api-$port" --lines 20 --nostream || true; done
  exit 1
}
"$PM2" ls
cat <<MSG

Service is up. Try:
$(for port in ${API_PORTS//,/ }; do printf '  http://%s:%s/items   http://%s:%s/aaa   http://%s:%s/docs\n' "$API_HOST" "$port" "$API_HOST" "$port" "$API_HOST" "$port"; done)
pm2:    npx pm2 ls | logs | monit | restart api-<port> | stop api-<port>   (or scripts/stop.sh)
client: .venv/bin/python scripts/client.py   (calls ports ${API_PORTS})
MSG
