#!/usr/bin/env bash
# Set up everything on a fresh machine, then run the whole test suite (SQLite, PostGIS, Redis).
#   scripts/test.sh [pytest args...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
apt_install "postgresql-$PG_MAJOR-postgis-3" || log "PostGIS tests will be skipped (not in CI)"
# the browser tests: Debian's Chromium (never a downloaded browser build) and a CJK font
apt_install chromium chromium-driver fonts-wqy-microhei
# the proxy of the multi-process stack: its config is checked with nginx -t, and the stack
# tests run private nginx instances on free ports (never a system one)
apt_install nginx
ensure_services
ensure_venv
ensure_web
cd "$ROOT"
log "ruff and mypy"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check . >/dev/null || { "$VENV/bin/ruff" format --diff . | head -40; exit 1; }
"$VENV/bin/mypy"
log "pytest"
exec "$VENV/bin/python" -m pytest "$@"
