#!/usr/bin/env bash
# The documentation site's venv, .venv-docs (mkdocs + Material from docs/requirements.txt). It is separate from
# .venv because mkdocs depends on the filesystem-events package also named `watchdog`: installed in .venv it
# would overwrite this project's package. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ ! -x .venv-docs/bin/mkdocs ]; then
  "$PY" -m venv .venv-docs
  echo '*' > .venv-docs/.gitignore  # git and ruff leave the venv alone
  .venv-docs/bin/python -m pip install -q --disable-pip-version-check -r docs/requirements.txt \
    2>&1 | grep -v "^WARNING: Location" || true
fi
.venv-docs/bin/mkdocs --version >/dev/null  # fails loudly when the install did not take
