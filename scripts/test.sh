#!/usr/bin/env bash
# The test command (README, .ci/run): make/refresh the venv, then run pytest.
#   bash scripts/test.sh            # whole suite
#   bash scripts/test.sh -k engine  # extra args go to pytest
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/env.sh"
# Quiet, isolated, robust Prefect and Ray (stack-notes.md).
PREFECT_HOME="$(mktemp -d "${TMPDIR:-/tmp}/mchmc-prefect.XXXXXX")"
export PREFECT_HOME
trap 'rm -rf "$PREFECT_HOME"' EXIT
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1 PREFECT_LOGGING_LEVEL=WARNING
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=180
export RAY_USAGE_STATS_ENABLED=0
cd "$ROOT"
python -m pytest "$@"
