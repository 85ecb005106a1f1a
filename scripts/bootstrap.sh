#!/usr/bin/env bash
# Set up the project's own virtual environment (.venv) and, with --contracts, the npm packages in
# contracts/ (solc, OpenZeppelin, anvil). Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "bootstrap: Python 3.11 or newer is needed; $("$PY" --version 2>&1) found (set PYTHON=...)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      "$PY" -m venv .venv
    else
      echo "bootstrap: '$PY -m venv' failed; install python3-venv (sudo apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras}" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import watchdog.cli" # fails loudly when the install did not take
if [ "${1:-}" = "--test" ]; then
  # Real servers the tests start themselves on loopback: Prometheus, Alertmanager, PostgreSQL, Chromium.
  need=""
  command -v prometheus >/dev/null || need="$need prometheus"
  command -v prometheus-alertmanager >/dev/null || need="$need prometheus-alertmanager"
  command -v chromium >/dev/null || need="$need chromium"
  command -v chromedriver >/dev/null || need="$need chromium-driver"
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
  if [ -n "$need" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "bootstrap: installing$need (Debian packages)" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
    else
      echo "bootstrap: the tests need these Debian packages:$need (sudo apt-get install$need)" >&2
      exit 1
    fi
  fi
  command -v npm >/dev/null || { echo "bootstrap: npm (Node 20) is needed for the contract tests" >&2; exit 1; }
  (cd contracts && npm ci --no-audit --no-fund --loglevel=error)
  # Slither (static analysis of the contract) pins web3 < 8, which the service cannot take: its own venv.
  if [ ! -x contracts/.venv-slither/bin/slither ]; then
    "$PY" -m venv contracts/.venv-slither
    contracts/.venv-slither/bin/python -m pip install -q --disable-pip-version-check 'slither-analyzer==0.11.*' \
      2>&1 | grep -v "^WARNING: Location" || true
  fi
  bash docs/venv.sh  # the docs site's mkdocs in .venv-docs: it pulls the other `watchdog` package
fi
