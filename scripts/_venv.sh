# Sourced by scripts/demo and scripts/test: make .venv (once) and install seatsync with the given extras.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SEATSYNC_VENV:-$ROOT/.venv}"
extras="${1:-}"
stamp="$VENV/.seatsync-installed${extras:+-$extras}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || { echo "python3 -m venv failed: install it with 'apt-get install python3-venv'" >&2; exit 1; }
fi
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$ROOT${extras:+[$extras]}"
    touch "$stamp"
fi
