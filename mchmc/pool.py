"""A Ray actor pool with backpressure, bounded waits and restartable workers.

Why an own pool rather than ``ray.util.ActorPool``: it keeps ``per_actor``
calls queued on each actor (so an actor never idles while the driver handles a
result), pulls items lazily from any iterable (memory stays flat however many
pages there are), bounds every wait with a timeout (Ray would otherwise wait
forever for an actor it cannot place, e.g. a GPU actor on a GPU-less node),
and maps a worker process that died mid-call to a restart plus a retry of the
same call (``max_restarts`` / ``max_task_retries``), so each item yields once.

Local Ray is started on loopback only: Ray's API has no authentication
(the ShadowRay lesson), so nothing listens on a routable address unless the
user points ``--ray-address`` at a cluster they run themselves.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import MchmcError

# Read by Ray at import time: on Linux it makes a local Ray bind every service to 127.0.0.1.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


class PoolError(MchmcError):
    """The pool cannot start or stalled (not enough GPUs, no reply within the timeout)."""


@dataclass(frozen=True)
class PoolSpec:
    cpus: int = 1  # CPU actors, one core each
    gpus: int = 0  # GPU actors, one GPU each
    per_actor: int = 2  # calls queued on each actor (backpressure)
    start_timeout: float = 120.0  # s to get every actor placed and its model loaded
    call_timeout: float = 3600.0  # s without any call finishing before the run is declared stalled
    max_restarts: int = 3  # a worker process that dies is restarted, and its call retried


def connect(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None,
            temp_dir: str | None = None) -> dict[str, float]:
    """Join the cluster at ``address`` or start a local, loopback-only Ray; returns its resources.

    The driver's node address follows the cluster's: loopback for a local Ray or
    a head on 127.0.0.1 (Ray would otherwise swap 127.0.0.1 for the machine's
    routable IP and miss that head), this machine's routable IP for a cluster
    elsewhere (its workers must reach the driver back). Joining a cluster that
    is not on loopback prints a one-line warning about Ray's missing
    authentication (mchmc.exposure)."""
    from .exposure import is_loopback, ray_exposure_warning

    loopback = not address or is_loopback(address)
    for key, value in LOOPBACK_ENV.items():
        if key != CLUSTER_ENV or loopback:
            os.environ.setdefault(key, value)
    import ray
    from ray._private import ray_constants

    if not ray.is_initialized():
        if address and address != "auto":
            ray_constants.ENABLE_RAY_CLUSTER = not loopback  # also when ray was imported before
        elif not address:
            ray_constants.ENABLE_RAY_CLUSTER = os.environ[CLUSTER_ENV] != "0"
        warning = ray_exposure_warning(address)
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=num_cpus, num_gpus=num_gpus, _temp_dir=temp_dir, **kwargs)
    return ray.cluster_resources()


def check_resources(spec: PoolSpec, resources: dict[str, float]) -> None:
    """Fail fast, before any work, when the cluster cannot place the requested actors."""
    have_gpu, have_cpu = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
    if spec.gpus > have_gpu:
        raise PoolError(f"--gpus {spec.gpus} requested but Ray sees {have_gpu:g} GPU(s); "
                        "use fewer GPUs or a cluster with more")
    if spec.cpus + spec.gpus > have_cpu:
        raise PoolError(f"{spec.cpus} CPU worker(s) + {spec.gpus} GPU worker(s) need {spec.cpus + spec.gpus} "
                        f"CPU(s) but Ray sees {have_cpu:g}; lower --cpus")
    if spec.cpus + spec.gpus < 1:
        raise PoolError("no workers: give --cpus >= 1 or --gpus >= 1")


class Pool:
    """``spec.cpus`` CPU actors and ``spec.gpus`` GPU actors of ``worker_cls(*args, device=...)``."""

    def __init__(self, worker_cls: type, args: tuple, spec: PoolSpec, wait: bool = True):
        """Create the actors; with ``wait`` (default) also wait until every one is
        ready. ``wait=False`` returns at once so the caller can overlap the actors'
        start-up (process, imports, model load) with other work, then call
        :meth:`wait_ready` before :meth:`map`."""
        import ray

        check_resources(spec, ray.cluster_resources())
        self.spec, self.names = spec, []
        opts = {"max_restarts": spec.max_restarts, "max_task_retries": spec.max_restarts}
        remote_cls = ray.remote(worker_cls)
        self.actors = [remote_cls.options(num_cpus=1, **opts).remote(*args, device="cpu", name=f"cpu{i}")
                       for i in range(spec.cpus)]
        self.actors += [remote_cls.options(num_cpus=1, num_gpus=1, **opts).remote(*args, device="cuda", name=f"gpu{i}")
                        for i in range(spec.gpus)]
        self._ready_refs = [a.ready.remote() for a in self.actors]
        if wait:
            self.wait_ready()

    def wait_ready(self) -> list[str]:
        """Block (at most ``spec.start_timeout``) until every actor has loaded its model."""
        import ray

        if self.names:
            return self.names
        ready, pending = ray.wait(self._ready_refs, num_returns=len(self._ready_refs), timeout=self.spec.start_timeout)
        if pending:
            self.shutdown()
            raise PoolError(f"{len(pending)} of {len(self._ready_refs)} worker(s) did not start within "
                            f"{self.spec.start_timeout:.0f} s (not enough free CPUs/GPUs on the cluster?)")
        try:
            self.names = ray.get(self._ready_refs)
        except ray.exceptions.RayError as err:
            self.shutdown()
            raise PoolError(f"a worker failed to start: {_first_line(err)}") from None
        return self.names

    def map(self, method: str, items: Iterable[Any], args_of: Callable[[Any], tuple] = lambda x: (x,)) -> Iterator[tuple[Any, Any]]:
        """Yield ``(item, result)`` as calls finish, at most ``per_actor`` queued per actor."""
        import ray

        self.wait_ready()
        items = iter(items)
        inflight: dict[Any, tuple[Any, int]] = {}  # ref -> (item, actor index)
        load = [0] * len(self.actors)

        def submit() -> bool:
            i = min(range(len(self.actors)), key=load.__getitem__)
            if load[i] >= self.spec.per_actor:
                return False
            item = next(items, _END)
            if item is _END:
                return False
            inflight[getattr(self.actors[i], method).remote(*args_of(item))] = (item, i)
            load[i] += 1
            return True

        while submit():
            pass
        last = time.monotonic()
        while inflight:
            done, _ = ray.wait(list(inflight), num_returns=1, timeout=min(60.0, self.spec.call_timeout))
            if not done:
                if time.monotonic() - last > self.spec.call_timeout:
                    raise PoolError(f"no call finished in {self.spec.call_timeout:.0f} s; {len(inflight)} in flight")
                continue
            last = time.monotonic()
            ref = done[0]
            item, i = inflight.pop(ref)
            load[i] -= 1
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as err:  # died more often than max_restarts
                load[i] = _DEAD
                result = CallFailed(f"worker {self.names[i] if i < len(self.names) else i} died: {_first_line(err)}")
                if all(n >= _DEAD for n in load):
                    raise PoolError(f"every worker died; last: {result.reason}") from None
            except ray.exceptions.RayError as err:  # the call itself raised
                result = CallFailed(_first_line(err))
            yield item, result
            while submit():
                pass

    def shutdown(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []


@dataclass(frozen=True)
class CallFailed:
    """What ``Pool.map`` yields for an item whose call could not complete."""

    reason: str


def _first_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[-1] if lines else type(err).__name__


_END = object()
_DEAD = 1 << 30
