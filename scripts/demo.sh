#!/usr/bin/env bash
# Everything the demo needs, then the demo: no chain, no server to start by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/watchdog demo "$@"
