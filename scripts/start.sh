#!/usr/bin/env bash
# Set up on a fresh machine and start griddispatch on its embedded default: SQLite under
# var/, the Nanning demo city, demo accounts (their password is printed on first start,
# or taken from GRIDDISPATCH_DEMO_PASSWORD). Extra arguments go to `griddispatch serve`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ensure_venv
ensure_web
cd "$ROOT"
# a person's start: readable text logs, and the demo accounts' generated password printed,
# also when the output goes to a file (JSON logs, the production default off a terminal,
# never carry a password: there the demo accounts wait for GRIDDISPATCH_DEMO_PASSWORD)
export GRIDDISPATCH_LOG_FORMAT="${GRIDDISPATCH_LOG_FORMAT:-text}"
exec "$VENV/bin/griddispatch" serve "$@"
