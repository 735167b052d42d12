#!/usr/bin/env bash
# Make (or reuse) the project's virtual environment in .venv and install citytrack into it.
# usage: scripts/bootstrap.sh EXTRA    (demo | test)
set -euo pipefail
cd "$(dirname "$0")/.."
extra=${1:?usage: scripts/bootstrap.sh demo|test}
py=${PYTHON:-python3}
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "citytrack needs Python 3.11 or newer (found: $("$py" --version 2>&1))" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  if ! "$py" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    echo "python3 -m venv failed: install your distribution's venv package (Debian: python3-venv)" >&2
    exit 2
  fi
fi
stamp=".venv/.citytrack-$extra"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extra]"
  touch "$stamp"
fi
