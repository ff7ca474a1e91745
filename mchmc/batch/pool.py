"""A Ray actor pool with backpressure, bounded waits and restartable workers.

Why an own pool rather than ``ray.util.ActorPool``: it keeps ``per_actor``
calls queued on each actor (so an actor never idles while the driver handles a
result), pulls items lazily from any iterable (memory stays flat however many
pages there are), bounds every wait with a timeout (Ray would otherwise wait
forever for an actor it cannot place, e.g. a GPU actor on a GPU-less node),
and maps a worker process that died mid-call to a restart of that process and a
``CallFailed(died=True)`` for the call, which the caller may retry (alone on an
idle worker, so a page that kills workers is known) or record; each item yields once.

Local Ray is started on loopback only and with a fresh auth token per run
(Ray runs whatever code it is sent: the ShadowRay lesson), so nothing listens
on a routable address and no other local process can join, unless the user
points ``--ray-address`` at a cluster they run themselves.
"""
from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mchmc.errors import MchmcError

# Read by Ray at import time: on Linux it makes a local Ray bind every service to 127.0.0.1.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
CLUSTER_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# Ray's token authentication (Ray >= 2.5x; ray/_private/authentication): the mode, the token, and a
# token file Ray would read instead. Ray's processes (GCS, raylet, workers) inherit them from the driver.
AUTH_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
ADDRESS_ENV = "RAY_ADDRESS"  # ray.init's default address; mchmc's own is --ray-address / MCHMC_RAY_ADDRESS


class PoolError(MchmcError):
    """The pool cannot start or stalled (not enough GPUs, no reply within the timeout)."""


@dataclass(frozen=True)
class PoolSpec:
    cpus: int = 1  # CPU actors, one core each
    gpus: int = 0  # GPU actors, one GPU each
    per_actor: int = 2  # calls queued on each actor (backpressure)
    start_timeout: float = 120.0  # s to get every actor placed and its model loaded
    call_timeout: float = 3600.0  # s without any call finishing before the run is declared stalled
    max_restarts: int = -1  # a worker process that dies is restarted (-1: always; see MAX_DEATHS)


def connect(address: str | None = None, num_cpus: int | None = None, num_gpus: int | None = None,
            temp_dir: str | None = None) -> dict[str, float]:
    """Join the cluster at ``address`` or start a local, loopback-only Ray; returns its resources.

    The driver's node address follows the cluster's: loopback for a local Ray or
    a head on 127.0.0.1 (Ray would otherwise swap 127.0.0.1 for the machine's
    routable IP and miss that head), this machine's routable IP for a cluster
    elsewhere (its workers must reach the driver back). Joining a cluster that
    is not on loopback prints a one-line warning about Ray's missing
    authentication (mchmc.service_exposure).

    A local Ray is private to this run: it requires a fresh random token
    (:func:`private_ray_auth`), so no other local process can join it and run
    code as the user, and it is always a new cluster (``address="local"``): a
    stray ``RAY_ADDRESS`` or a stale or planted ``ray_current_cluster`` file
    is never followed. Joining ``address`` uses the user's own auth settings."""
    from mchmc.service_exposure import is_loopback, ray_exposure_warning

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
        if address:
            restore_user_ray_auth()  # the user's cluster, the user's auth config
        else:
            private_ray_auth()
        warning = ray_exposure_warning(address)
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "warning"}
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, _temp_dir=temp_dir, **kwargs)
    return ray.cluster_resources()


_user_auth: dict[str, str | None] | None = None  # the user's AUTH_ENV while a private cluster's is set


def private_ray_auth() -> str:
    """Token authentication for a private local Ray: a fresh random token (256 bits) for this
    cluster only, set in the environment that its processes inherit (nothing written to disk, not
    on any command line); a stray RAY_ADDRESS is dropped. Returns the token."""
    import secrets

    global _user_auth
    if _user_auth is None:
        _user_auth = {key: os.environ.get(key) for key in AUTH_ENV}
    token = secrets.token_hex(32)
    os.environ.pop("RAY_AUTH_TOKEN_PATH", None)  # RAY_AUTH_TOKEN wins anyway; no file for anyone to plant
    os.environ.pop(ADDRESS_ENV, None)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    _reload_ray_auth()
    return token


def restore_user_ray_auth() -> None:
    """Put back the user's own auth variables after a private cluster of this process set its own."""
    global _user_auth
    if _user_auth is None:
        return
    for key, value in _user_auth.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    _user_auth = None
    _reload_ray_auth()


def _reload_ray_auth() -> None:
    """Make this process's Ray see the auth variables as they are now (it caches its config and
    token; ray.init only refreshes them itself when it turns auth on by default)."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray without token authentication ignores the variables
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


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
        # Ray restarts a dead worker process; the call it was running is not retried by Ray
        # (map() reports it, and the caller decides: see mchmc.batch.driver, MAX_ATTEMPTS).
        opts = {"max_restarts": spec.max_restarts, "max_task_retries": 0}
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

    def map(self, method: str | Callable[[Any], str], items: Iterable[Any],
            args_of: Callable[[Any], tuple] = lambda x: (x,), *, solo: Callable[[Any], bool] | None = None,
            abandon: Callable[[], bool] | None = None) -> Iterator[tuple[Any, Any]]:
        """Yield ``(item, result)`` as calls finish, at most ``per_actor`` queued per actor.

        ``method`` names the worker method, or gives it per item. ``items`` may run
        dry and fill again (it is asked after every result). An item for which
        ``solo(item)`` is true runs alone on an idle actor, so that if its worker
        dies the cause is known (a retry after a crash). Once ``abandon()`` is true
        the calls still in flight are given up and the iteration ends.

        A worker process that dies mid-call is restarted by Ray (a fresh process);
        its calls come back as ``CallFailed(died=True)`` for the caller to retry or
        record, never retried behind its back (a page that kills every worker it
        touches must not take the run down with it). An actor that keeps dying
        without finishing anything (``MAX_DEATHS`` in a row) is retired."""
        import ray

        self.wait_ready()
        items = iter(items)
        method_of = method if callable(method) else (lambda _: method)
        inflight: dict[Any, tuple[Any, int]] = {}  # ref -> (item, actor index)
        load = [0] * len(self.actors)
        deaths = [0] * len(self.actors)
        held: list[Any] = []  # a solo item waiting for an idle actor

        again: deque = deque()  # calls an actor refused while it was restarting: resubmitted first
        dry = [False]  # the feed ran dry (it may fill again after a result is handled)
        paused = [0.0] * len(self.actors)  # monotonic time until which an actor is left alone

        def submit() -> bool:
            now = time.monotonic()
            free = [i for i in range(len(self.actors)) if paused[i] <= now]
            if not free:
                return False
            i = min(free, key=load.__getitem__)
            if load[i] >= self.spec.per_actor:
                return False
            item = again.popleft() if again else held.pop() if held else next(items, _END)
            if item is _END:
                dry[0] = True
                return False
            alone = bool(solo and solo(item))
            if alone and load[i] > 0:
                held.append(item)
                return False
            inflight[getattr(self.actors[i], method_of(item)).remote(*args_of(item))] = (item, i)
            load[i] += self.spec.per_actor if alone else 1
            return True

        while submit():
            pass
        last = time.monotonic()
        while inflight or again or held or not dry[0]:
            if abandon and abandon():
                return
            if not inflight:  # work waits for an actor being restarted
                if all(p > time.monotonic() for p in paused):
                    time.sleep(0.1)
                while submit():
                    pass
                continue
            done, _ = ray.wait(list(inflight), num_returns=1, timeout=0.25 if abandon else min(60.0, self.spec.call_timeout))
            if not done:
                if time.monotonic() - last > self.spec.call_timeout:
                    raise PoolError(f"no call finished in {self.spec.call_timeout:.0f} s; {len(inflight)} in flight")
                continue
            last = time.monotonic()
            ref = done[0]
            item, i = inflight.pop(ref)
            alone = bool(solo and solo(item))
            load[i] -= self.spec.per_actor if alone else 1
            try:
                result = ray.get(ref)
                deaths[i] = 0
            except ray.exceptions.RayActorError as err:  # the worker process died, or is being restarted
                paused[i] = time.monotonic() + 1.0  # give Ray time to bring a fresh process up
                if isinstance(err, ray.exceptions.ActorUnavailableError) and "is restarting" in str(err):
                    again.append(item)  # refused by an actor being restarted: the call never ran
                    while submit():
                        pass
                    continue
                deaths[i] += 1  # Ray 2.60 reports a death mid-call as "unavailable: socket closed"
                name = self.names[i] if i < len(self.names) else str(i)
                result = CallFailed(f"worker {name} died", died=True)
                if deaths[i] >= MAX_DEATHS:
                    load[i] = _DEAD
                    if all(n >= _DEAD for n in load):
                        raise PoolError(f"every worker died; last: {result.reason}") from None
            except ray.exceptions.RayError as err:  # the call itself raised
                result = CallFailed(_first_line(err))
            yield item, result
            dry[0] = False  # handling the result may have fed more (retries, stitches)
            while submit():
                pass

    def shutdown(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []


class InlinePool:
    """:class:`Pool`'s interface in this process: one worker object, calls run one
    after another. For benchmarks and profiling of the driver (and machines where
    Ray cannot run); a worker that crashes takes this process with it."""

    def __init__(self, worker_cls: type, args: tuple, name: str = "inline0"):
        self.worker = worker_cls(*args, device="cpu", name=name)
        self.names, self.actors = [name], [self.worker]

    def map(self, method: str | Callable[[Any], str], items: Iterable[Any],
            args_of: Callable[[Any], tuple] = lambda x: (x,), *, solo: Callable[[Any], bool] | None = None,
            abandon: Callable[[], bool] | None = None) -> Iterator[tuple[Any, Any]]:
        method_of = method if callable(method) else (lambda _: method)
        items = iter(items)
        while not (abandon and abandon()):
            item = next(items, _END)  # asked again after every result: the feed may have refilled
            if item is _END:
                return
            try:
                result = getattr(self.worker, method_of(item))(*args_of(item))
            except Exception as err:
                result = CallFailed(_first_line(err))
            yield item, result

    def shutdown(self) -> None:
        self.actors = []


@dataclass(frozen=True)
class CallFailed:
    """What ``Pool.map`` yields for an item whose call could not complete."""

    reason: str
    died: bool = False  # the worker process died mid-call (crash, OOM kill); it was restarted


MAX_DEATHS = 8  # an actor whose process dies this many times in a row without a result is retired


def _first_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return lines[-1] if lines else type(err).__name__


_END = object()
_DEAD = 1 << 30
