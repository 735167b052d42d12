#!/usr/bin/env bash
# Install citytrack in .venv and run the live demo on embedded services (no system packages).
# Arguments go to `citytrack demo` (e.g. --duration 120, --broker mqtt://..., --db postgresql://...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh demo
exec .venv/bin/citytrack demo "$@"
