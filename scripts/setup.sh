#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: system packages (when root), services, a virtualenv
# with the project and its test tools. Sourced by scripts/start.sh and scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GRIDDISPATCH_VENV:-$ROOT/.venv}"
PG_MAJOR="${PG_MAJOR:-15}"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

apt_install() {
  # install Debian packages that are missing; needs root (CI and these machines run as root)
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing Debian packages (install them as root): ${missing[*]}"; return 1
  fi
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_services() {
  # PostgreSQL (with PostGIS) and Redis, started with this machine kind's own commands
  if command -v pg_ctlcluster >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  if command -v redis-server >/dev/null 2>&1 && ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
}

ensure_venv() {
  local py="${PYTHON:-python3}"
  [ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$py" -m venv "$VENV"; }
  local stamp="$VENV/.griddispatch-installed"
  if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ] \
     || [ "$ROOT/constraints.txt" -nt "$stamp" ]; then
    log "installing griddispatch and its dependencies (pinned by constraints.txt)"
    "$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
    "$VENV/bin/python" -m pip install -q -c "$ROOT/constraints.txt" -e "$ROOT[dev]"
    touch "$stamp"
  fi
}

ensure_web() {
  # the front ends' npm dependencies (Leaflet, idb, icons), copied into web/static/vendor/;
  # npm ci runs only when package-lock.json changed since the last install
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  local web="$ROOT/web" stamp="$ROOT/web/node_modules/.griddispatch-installed"
  if [ ! -f "$stamp" ] || [ "$web/package-lock.json" -nt "$stamp" ]; then
    log "npm ci (web/)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$stamp"
  fi
  if [ ! -f "$web/static/vendor/leaflet/leaflet-src.esm.js" ] || [ "$stamp" -nt "$web/static/vendor" ]; then
    (cd "$web" && node scripts/vendor.mjs)
  fi
}
