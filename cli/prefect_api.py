"""Start Prefect's temporary local API for one command, without importing its server code here.

With no ``PREFECT_API_URL``, Prefect 3 runs its API for the life of the process:
``SubprocessASGIServer`` launches ``uvicorn prefect.server.api.server:create_app``
on a loopback port. Importing that class pulls the whole server (FastAPI,
SQLAlchemy models) into the calling process: 3.2 s here, holding the GIL while
the CLI also starts Ray. This module runs the same command with the same
environment flags, but from the standard library only, so the CLI can launch it
first thing and let it come up in its own process while the rest starts.

The server is bound to 127.0.0.1, gets the caller's environment (the user's
Prefect profile and settings apply), and is stopped when the process exits.
A user with ``PREFECT_API_URL`` set (a real server) gets nothing started.
"""
from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

PORT_IN_USE = 3  # uvicorn's exit code when it cannot bind
# Quiet, robust Prefect defaults for a command-line tool; a user's own settings win. The
# start-up timeout is raised from Prefect's 20 s: on a 2-core machine already busy with a
# training, the temporary API has been measured to need longer.
DEFAULTS = {"PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}


def apply_defaults() -> None:
    """Every command's Prefect defaults (``mchmc``'s root callback calls this)."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)


class PrefectAPI:
    """A launched API process: ``wait()`` for health, ``stop()`` (also at exit)."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.process = _launch(self.port)
        atexit.register(self.stop)

    def wait(self, timeout: float) -> None:
        """Block until ``/api/health`` answers 200; RuntimeError naming the cause otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code == PORT_IN_USE:  # lost the port between choosing and binding: take another
                self.port = _free_port()
                self.url = f"http://127.0.0.1:{self.port}/api"
                os.environ["PREFECT_API_URL"] = self.url
                self.process = _launch(self.port)
                continue
            if code is not None:
                raise RuntimeError(f"the local Prefect API exited with code {code} while starting")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the local Prefect API did not answer on {self.url} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_if_needed() -> PrefectAPI | None:
    """Launch the API and point this process at it (``PREFECT_API_URL``), unless one is configured.

    Call before Prefect is imported: its settings are read from the environment."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    api = PrefectAPI()
    os.environ["PREFECT_API_URL"] = api.url
    return api


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(port: int) -> subprocess.Popen:
    # The flags Prefect's own temporary server sets: no UI, ephemeral mode (no background services).
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    env.pop("PREFECT_API_URL", None)
    args = [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
            "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"]
    return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL)
