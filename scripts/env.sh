#!/usr/bin/env bash
# Create (or reuse) the project venv and install mchmc with dev extras.
# Sourced by scripts/test.sh and scripts/quickstart.sh; idempotent and quick
# when everything is already installed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MCHMC_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.mchmc-installed"
HASH="$(cat "$ROOT/pyproject.toml" "$ROOT/setup.py" "$ROOT/scripts/env.sh" | sha256sum | cut -c1-16)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ]; then
  # Quiet: pip's and setuptools' chatter goes to a log, shown only if the install fails.
  LOG="$VENV/.mchmc-install.log"
  echo "installing mchmc and its dependencies into $VENV (first run: about a minute) ..." >&2
  {
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip &&
    # torch pinned here: 2.13.0 is the CPU wheel on local disk (a looser spec pulls CUDA).
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check torch==2.13.0 &&
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT[dev]"
  } > "$LOG" 2>&1 || { cat "$LOG" >&2; echo "install failed (log: $LOG)" >&2; exit 1; }
  echo "$HASH" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
