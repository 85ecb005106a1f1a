#!/usr/bin/env bash
# Everything the tests need (venv, pip packages, npm packages in contracts/), then the whole suite,
# slow end-to-end tests included (run them alone with: .venv/bin/python -m pytest -m e2e).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test
# Lint and types first (seconds): ruff with the rule set in pyproject.toml, mypy strict on detectors/ and rules/,
# default on watchdog/ and dashboards/. Then the whole suite, doctests of every package included.
.venv/bin/python -m ruff check .
.venv/bin/python -m mypy
# -n auto: one worker per CPU (pytest-xdist); every test starts its servers on free ports and keeps to its own tmp
# folder, so they run side by side. `bash scripts/test.sh -n 0` runs them one after the other.
exec .venv/bin/python -m pytest -n auto "$@"
