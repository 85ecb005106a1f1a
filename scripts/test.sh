#!/usr/bin/env bash
# Everything the tests need (venv, pip packages, npm packages in contracts/), then the whole suite,
# slow end-to-end tests included (run them alone with: .venv/bin/python -m pytest -m e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test
exec .venv/bin/python -m pytest "$@"
