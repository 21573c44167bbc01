#!/usr/bin/env bash
# Set up on a fresh machine and start griddispatch on its embedded default (the Nanning demo
# city). Until the service lands this runs the command-line demo.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ensure_venv
cd "$ROOT"
GD="$VENV/bin/griddispatch"
"$GD" check-data
echo
echo "Locating 南宁 朝阳广场 given in GCJ-02 (as AMap reports it), and routing a muck-truck spill:"
"$GD" locate 108.3208 22.8165 --crs gcj02 --event 06014
