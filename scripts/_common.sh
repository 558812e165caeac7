# Shared by the scripts: project paths, the virtualenv and the pinned pm2.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
PM2="$ROOT/node_modules/.bin/pm2"
export API_PORTS="${API_PORTS:-8001,8002}"
export API_HOST="${API_HOST:-127.0.0.1}"

log() { printf '==> %s\n' "$*"; }

# Install a requirements file into .venv, skipping when nothing changed since the last install.
ensure_venv() {
  local file="$1" stamp="$VENV/.installed-$(basename "$1")" want
  [ -x "$PY" ] || { log "creating virtualenv .venv"; python3 -m venv "$VENV" || return 1; }
  want="$(cat "$file" "$ROOT/requirements.txt" | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python packages from $(basename "$file")"
    "$PY" -m pip install --quiet --disable-pip-version-check -r "$file" || return 1
    echo "$want" >"$stamp"
  fi
}

# Install pm2 from package-lock.json into node_modules.
ensure_pm2() {
  local stamp="$ROOT/node_modules/.installed" want
  want="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
  if [ ! -x "$PM2" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing pm2 from package-lock.json"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error) || return 1
    echo "$want" >"$stamp"
  fi
}
