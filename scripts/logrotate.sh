#!/usr/bin/env bash
# Install and configure pm2-logrotate for the service's pm2 (the pinned node_modules/.bin/pm2; honours PM2_HOME).
# Idempotent: installs only when the pinned version is not already installed and online, and sets only the values
# that differ (each `pm2 set` restarts the module). Every value can be overridden from the environment:
#   LOGROTATE_VERSION=2.7.0  LOGROTATE_MAX_SIZE=10M  LOGROTATE_RETAIN=14  LOGROTATE_COMPRESS=true
#   LOGROTATE_DATE_FORMAT=YYYY-MM-DD_HH-mm-ss  LOGROTATE_ROTATE_INTERVAL='0 0 * * *' (cron: daily at midnight)
#   LOGROTATE_WORKER_INTERVAL=30 (seconds between size checks)
#   LOGROTATE_ROTATE_MODULE=true (also rotate pm2.log and the modules' logs)
set -euo pipefail
source "$(dirname "$0")/_common.sh"
cd "$ROOT"

MODULE=pm2-logrotate
VERSION="${LOGROTATE_VERSION:-2.7.0}"  # 3.0.0 never compresses (keymetrics/pm2-logrotate#201)
HOME_DIR="${PM2_HOME:-$HOME/.pm2}"
SETTINGS=(
  "max_size=${LOGROTATE_MAX_SIZE:-10M}"
  "retain=${LOGROTATE_RETAIN:-14}"
  "compress=${LOGROTATE_COMPRESS:-true}"
  "dateFormat=${LOGROTATE_DATE_FORMAT:-YYYY-MM-DD_HH-mm-ss}"
  "rotateInterval=${LOGROTATE_ROTATE_INTERVAL:-0 0 * * *}"
  "workerInterval=${LOGROTATE_WORKER_INTERVAL:-30}"
  "rotateModule=${LOGROTATE_ROTATE_MODULE:-true}"
)

die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Refuse values pm2-logrotate would misread, before anything is installed or changed.
validate() {
  local key="$1" value="$2"
  case "$key" in
    max_size) [[ "$value" =~ ^[1-9][0-9]*[KMG]?$ ]] || die "LOGROTATE_MAX_SIZE=$value: expected e.g. 10M, 500K, 1G" ;;
    retain) [[ "$value" =~ ^([1-9][0-9]*|all)$ ]] || die "LOGROTATE_RETAIN=$value: expected a count or all" ;;
    workerInterval) [[ "$value" =~ ^[1-9][0-9]*$ ]] || die "LOGROTATE_WORKER_INTERVAL=$value: expected seconds" ;;
    compress | rotateModule) [[ "$value" =~ ^(true|false)$ ]] || die "$key=$value: expected true or false" ;;
    rotateInterval) [[ "$(wc -w <<<"$value")" =~ ^[56]$ ]] || die "LOGROTATE_ROTATE_INTERVAL=$value: not a cron line" ;;
    dateFormat) [[ "$value" =~ ^[A-Za-z0-9_.-]+$ ]] || die "LOGROTATE_DATE_FORMAT=$value: use letters, digits, _ . -" ;;
  esac
}

# "<status> <pid>" of the module in pm2 jlist, or nothing.
module_state() {
  "$PM2" jlist | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const app = JSON.parse(s.slice(s.indexOf("["))).find((a) => a.name === process.argv[1]);
      if (app) console.log(app.pm2_env.status, app.pid);
    });' "$MODULE"
}

# The installed module's version, or nothing.
installed_version() {
  node -e 'try { console.log(require(process.argv[1]).version) } catch (e) {}' \
    "$HOME_DIR/modules/$MODULE/node_modules/$MODULE/package.json"
}

# The value in pm2's module_conf.json for one key, or nothing.
current_value() {
  node -e 'try { const v = (require(process.argv[1])[process.argv[2]] || {})[process.argv[3]];
                 if (v !== undefined) console.log(String(v)) } catch (e) {}' \
    "$HOME_DIR/module_conf.json" "$MODULE" "$1"
}

ensure_module() {
  local state out
  "$PM2" ping >/dev/null # starts the daemon for this PM2_HOME if it is not running
  state="$(module_state)"
  if [ "$(installed_version)" = "$VERSION" ] && [ "${state%% *}" = "online" ]; then
    log "$MODULE@$VERSION already installed and online (PM2_HOME=$HOME_DIR)"
    return
  fi
  npm view "$MODULE" versions --json 2>/dev/null | grep -q "\"$VERSION\"" ||
    die "$MODULE@$VERSION is not on the npm registry (or it is unreachable): npm view $MODULE versions"
  log "installing $MODULE@$VERSION into PM2_HOME=$HOME_DIR"
  if ! out="$("$PM2" install "$MODULE@$VERSION" 2>&1)"; then
    printf '%s\n' "$out" >&2
    die "pm2 install $MODULE@$VERSION failed"
  fi
  [ "$(installed_version)" = "$VERSION" ] || { printf '%s\n' "$out" >&2; die "$MODULE@$VERSION did not install"; }
}

for setting in "${SETTINGS[@]}"; do validate "${setting%%=*}" "${setting#*=}"; done
ensure_pm2
ensure_module
for setting in "${SETTINGS[@]}"; do
  key="${setting%%=*}" value="${setting#*=}"
  if [ "$(current_value "$key")" = "$value" ]; then
    log "$MODULE:$key = $value (unchanged)"
  else
    out="$("$PM2" set "$MODULE:$key" "$value" 2>&1)" || { printf '%s\n' "$out" >&2; die "pm2 set $MODULE:$key failed"; }
    log "$MODULE:$key = $value (set)"
  fi
done
state="$(module_state)"
[ "${state%% *}" = "online" ] || die "$MODULE is not online after configuration (pm2 status: ${state:-missing})"
log "$MODULE@$VERSION online (pid ${state#* }); show with: PM2_HOME=$HOME_DIR $PM2 conf $MODULE"
# 3.0.0's parseBool only accepts the string "true", but pmx hands it a boolean: compress is never enabled.
if [ "$VERSION" = "3.0.0" ] && [ "$(current_value compress)" = "true" ]; then
  echo "warning: $MODULE 3.0.0 ignores compress=true (keymetrics/pm2-logrotate#201): rotated logs stay" \
    "uncompressed; LOGROTATE_VERSION=2.7.0 gzips them" >&2
fi
