#!/usr/bin/env bash
# Run the whole test suite: installs Mosquitto, PostgreSQL and Chromium (Debian packages; the
# plan maps are checked in headless Chromium) if missing,
# installs citytrack with its test extra in .venv, then runs pytest against real servers
# (the tests start private instances on loopback ports; nothing system-wide is started).
# Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || need+=(postgresql)
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing: ${need[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi
bash scripts/bootstrap.sh test
exec .venv/bin/python -m pytest "$@"
