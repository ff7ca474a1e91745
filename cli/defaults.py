"""Environment defaults every command applies before Prefect is imported."""
from __future__ import annotations

import os

# Quiet, robust Prefect defaults for a command-line tool; a user's own settings win. The
# start-up timeout is raised from Prefect's 20 s: on a 2-core machine already busy with a
# training, Prefect's temporary API has been measured to need longer.
PREFECT_DEFAULTS = {"PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}


def apply_prefect_defaults() -> None:
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
