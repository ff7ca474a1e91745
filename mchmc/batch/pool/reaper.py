"""Every helper process dies with the driver, kill -9 included.

A local Ray leaves processes behind when its driver is killed outright (seen
here: Ray's dashboard and runtime-env agents reparented to init and ran on),
and so would any server a run starts (Prefect's temporary API). :func:`start`
marks this process's environment with a fresh token, which every process
started from now on inherits (Ray's GCS, raylet, agents and workers, the
Prefect server), and launches a small watchdog in its own session (a
terminal's Ctrl-C does not reach it).

While the driver runs, the watchdog notes once a second every process that is
the driver's descendant, carries the token (Linux: ``/proc/<pid>/environ``) or
descends from one that does, with its start time. A process's environ alone is
not enough: Ray's agents and workers retitle themselves (``ray::DashboardAgent``)
over the memory ``/proc`` shows as their environ, and once their raylet is gone
they are children of init. The watchdog blocks on a pipe whose other end only
the driver holds; when the driver exits for any reason the pipe closes, and the
watchdog kills every process it noted that still runs (same pid, same start
time) and every one carrying the token, twice, a second apart, for stragglers
forked meanwhile.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys

ENV = "MCHMC_RUN_TOKEN"

_WATCHDOG = r"""
import os, select, signal, sys, time
token, me, driver = (sys.argv[1] + "=" + sys.argv[2]).encode(), os.getpid(), os.getppid()
ours, checked = {}, set()  # pid -> start time of each process of the run seen; (pid, start) whose environ was read
def scan():
    global checked
    parent, start = {}, {}
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != me:
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
                parent[int(name)], start[int(name)] = int(fields[1]), fields[19]
            except (OSError, IndexError, ValueError):
                pass
    checked &= set(start.items())
    for pid, began in start.items():
        if (pid, began) not in checked:
            checked.add((pid, began))
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    if token in f.read().split(b"\0"):
                        ours[pid] = began
            except OSError:
                pass
    children = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    todo = [pid for pid, began in ours.items() if start.get(pid) == began] + [driver]
    while todo:
        for child in children.pop(todo.pop(), ()):
            ours[child] = start[child]
            todo.append(child)
    return start
def sweep(start):
    for pid, began in list(ours.items()):
        if start.get(pid) == began:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
while not select.select([sys.stdin], [], [], 1.0)[0]:
    scan()
sys.stdin.buffer.read()  # EOF: the driver is gone
sweep(scan()); time.sleep(1.0); sweep(scan())
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
