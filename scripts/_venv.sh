# Sourced by scripts/demo and scripts/test: make .venv (once) and install seatsync with the given extras.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SEATSYNC_VENV:-$ROOT/.venv}"
extras="${1:-}"
stamp="$VENV/.seatsync-installed${extras:+-$extras}"
if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        # Debian ships venv separately
        echo "installing python3-venv (apt)" >&2
        rm -rf "$VENV"
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$VENV" || { echo "python3 -m venv failed: install python3-venv" >&2; exit 1; }
    fi
fi
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$ROOT${extras:+[$extras]}"
    touch "$stamp"
fi
