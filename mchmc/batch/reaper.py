"""Every helper process dies with the driver, kill -9 included.

A local Ray leaves processes behind when its driver is killed outright (seen
here: Ray's dashboard and runtime-env agents reparented to init and ran on),
and so would any server a run starts. :func:`start` marks this process's
environment with a fresh token, which every process started from now on
inherits (Ray's GCS, raylet, agents and workers), and launches a small
watchdog in its own session (a terminal's Ctrl-C does not reach it). The
watchdog blocks on a pipe whose other end only the driver holds; when the
driver exits for any reason the pipe closes, and the watchdog kills every
process still carrying the token (Linux: read from ``/proc/<pid>/environ``),
twice, a second apart, for stragglers forked meanwhile.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys

ENV = "MCHMC_RUN_TOKEN"

_WATCHDOG = r"""
import os, signal, sys, time
token = (sys.argv[1] + "=" + sys.argv[2]).encode()
sys.stdin.buffer.read()  # EOF: the driver is gone
def sweep():
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if token in f.read().split(b"\0"):
                    os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
sweep(); time.sleep(1.0); sweep()
"""

_started: subprocess.Popen | None = None


def start() -> str | None:
    """Mark this process tree and start its watchdog (once per process); returns the token.
    Does nothing where ``/proc`` is absent (not Linux)."""
    global _started
    if _started is not None:
        return os.environ.get(ENV)
    if not os.path.isdir("/proc/self"):
        return None
    token = secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != ENV}  # the watchdog must not match itself
    _started = subprocess.Popen([sys.executable, "-c", _WATCHDOG, ENV, token], stdin=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                start_new_session=True, close_fds=True)
    os.environ[ENV] = token
    return token
