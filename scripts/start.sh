#!/usr/bin/env bash
# Set up on a fresh machine and start griddispatch on its embedded default: SQLite under
# var/, the Nanning demo city, demo accounts (their password is printed on first start,
# or taken from GRIDDISPATCH_DEMO_PASSWORD). Extra arguments go to `griddispatch serve`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ensure_venv
ensure_web
cd "$ROOT"
exec "$VENV/bin/griddispatch" serve "$@"
