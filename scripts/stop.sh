#!/usr/bin/env bash
# Stop the service's apps and remove them from pm2 (other pm2 apps are left alone). Honours API_PORTS, PM2_HOME.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
cd "$ROOT"
[ -x "$PM2" ] || { echo "pm2 is not installed here (run scripts/start.sh first)"; exit 0; }
for port in ${API_PORTS//,/ }; do
  "$PM2" delete "api-$port" >/dev/null 2>&1 && log "stopped and removed api-$port" || log "api-$port was not running"
done
