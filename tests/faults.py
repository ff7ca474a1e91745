"""Fault injection for the tests of crash handling, kept out of the product.

The worker and the network service have no test branches. Instead every Python
process the tests start (the ``mchmc`` command, Ray's workers and services) has
``tests/fault_hooks`` on its ``PYTHONPATH`` (:func:`install_path`, called by
``conftest.py``), so it runs ``tests/fault_hooks/sitecustomize.py`` at start-up,
which calls :func:`install`. That does nothing unless one of these variables is
set in the process's environment:

- ``MCHMC_FAULT_KILL_ON=a.png,b.png``: a batch worker dies as a segfault would
  (SIGSEGV) on a page whose file name, or a volume entry whose base name, is listed;
- ``MCHMC_FAULT_KILL_NETWORK=PATH``: a network service dies (SIGKILL) on its second
  request, once: it creates PATH first, and a process that finds PATH serves normally.

With one set, it wraps the methods after their module is first imported (an import
hook: the product's modules are never imported early, so start-up is unchanged).
"""
from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import os
import signal
import sys
from pathlib import Path

KILL_ON = "MCHMC_FAULT_KILL_ON"
KILL_NETWORK = "MCHMC_FAULT_KILL_NETWORK"
HOOKS = Path(__file__).resolve().parent / "fault_hooks"
WORKER, SERVICE = "mchmc.batch.worker.pageworker", "mchmc.batch.network.service"


def install_path(environ=os.environ) -> None:
    """Put the hooks' folder first on ``PYTHONPATH`` (processes started from now on load them)."""
    parts = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(HOOKS)]
    environ["PYTHONPATH"] = os.pathsep.join([str(HOOKS), *parts])


def _dies_on(method, job_of, names: list[str]):
    @functools.wraps(method)
    def wrapped(self, arg):
        if job_of(arg).src.name in names:
            os.kill(os.getpid(), signal.SIGSEGV)
        return method(self, arg)
    return wrapped


def _patch_worker(module) -> None:
    names = os.environ[KILL_ON].split(",")
    cls = module.PageWorker
    cls.process = _dies_on(cls.process, lambda job: job, names)
    cls.member = _dies_on(cls.member, lambda call: call.job, names)


def _patch_service(module) -> None:
    marker = os.environ[KILL_NETWORK]
    infer = module.NetworkService.infer

    @functools.wraps(infer)
    def wrapped(self, request):
        if self.counts["requests"] >= 1 and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return infer(self, request)
    module.NetworkService.infer = wrapped


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for a patched module it asks the other finders, then runs the patch
    right after the module's own code."""

    def __init__(self, patches: dict):
        self.patches = patches

    def find_spec(self, name, path=None, target=None):
        patch = self.patches.get(name)
        if patch is None:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_patch(module):
            exec_module(module)
            patch(module)
        spec.loader.exec_module = exec_then_patch
        return spec


def install() -> None:
    patches = {}
    if os.environ.get(KILL_ON):
        patches[WORKER] = _patch_worker
    if os.environ.get(KILL_NETWORK):
        patches[SERVICE] = _patch_service
    if patches:
        sys.meta_path.insert(0, _AfterImport(patches))
