"""A Ray actor pool with backpressure, bounded waits and restartable workers.

Why an own pool rather than ``ray.util.ActorPool``: it keeps ``per_actor``
calls queued on each actor (so an actor never idles while the driver handles a
result), pulls items lazily from any iterable (memory stays flat however many
pages there are), bounds every wait with a timeout (Ray would otherwise wait
forever for an actor it cannot place, e.g. a GPU actor on a GPU-less node),
and maps a worker process that died mid-call to a restart of that process and a
``CallFailed(died=True)`` for the call, which the caller may retry (alone on an
idle worker, so a page that kills workers is known) or record; each item yields once.

Ray itself is started (private, loopback, a token per run) or joined by
:mod:`mchmc.batch.pool.ray_local`.
"""
from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mchmc.errors import MchmcError


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
        # (map() reports it, and the caller decides: see mchmc.batch.driver.loop, MAX_ATTEMPTS).
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

        if self.names:
            return self.names
        self.names = started(self._ready_refs, self.spec.start_timeout, self.shutdown, "worker",
                             "not enough free CPUs/GPUs on the cluster?")
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
        self.wait_ready()
        d = _Dispatch(self, method, items, args_of, solo)
        d.fill()
        while d.busy:
            if abandon and abandon():
                return
            got = d.next_result(poll=abandon is not None)
            if got is not None:
                yield got
                d.dry = False  # handling the result may have fed more (retries, stitches)
            d.fill()

    def shutdown(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []


def started(refs: list, timeout: float, on_failure: Callable[[], None], what: str, hint: str) -> list:
    """The results of actors' ready calls ``refs``, waited for at most ``timeout`` s. Actors that did not
    start in time, or failed to, stop the pool (``on_failure``) with one line: an actor's own
    :class:`MchmcError` as it is (e.g. a bad model file), else the first line of Ray's error."""
    import ray

    ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout)
    if pending:
        on_failure()
        raise PoolError(f"{len(pending)} of {len(refs)} {what}(s) did not start within {timeout:.0f} s ({hint})")
    try:
        return ray.get(refs)
    except ray.exceptions.RayError as err:
        on_failure()
        cause = getattr(err, "cause", None)
        if isinstance(cause, MchmcError):
            raise PoolError(str(cause)) from None
        raise PoolError(f"a {what} failed to start: {_first_line(err)}") from None


class _Dispatch:
    """The state of one :meth:`Pool.map`: calls in flight per actor, calls waiting for
    an actor (restarting, or idle for a solo call), and the actors' deaths."""

    def __init__(self, pool: Pool, method, items: Iterable[Any], args_of, solo):
        n = len(pool.actors)
        self.pool, self.spec, self.items, self.args_of = pool, pool.spec, iter(items), args_of
        self.method_of = method if callable(method) else (lambda _: method)
        self.solo = solo or (lambda _: False)
        self.inflight: dict[Any, tuple[Any, int]] = {}  # ref -> (item, actor index)
        self.load, self.deaths, self.paused = [0] * n, [0] * n, [0.0] * n  # paused: left alone until (monotonic)
        self.again: deque = deque()  # calls an actor refused while it was restarting: resubmitted first
        self.held: list[Any] = []  # a solo call waiting for an idle actor
        self.dry = False  # the feed ran dry (it may fill again after a result is handled)
        self.last = time.monotonic()

    @property
    def busy(self) -> bool:
        return bool(self.inflight or self.again or self.held or not self.dry)

    def fill(self) -> None:
        while self._submit():
            pass

    def _submit(self) -> bool:
        now = time.monotonic()
        free = [i for i in range(len(self.load)) if self.paused[i] <= now]
        if not free:
            return False
        i = min(free, key=self.load.__getitem__)
        if self.load[i] >= self.spec.per_actor:
            return False
        item = self.again.popleft() if self.again else self.held.pop() if self.held else next(self.items, _END)
        if item is _END:
            self.dry = True
            return False
        alone = bool(self.solo(item))
        if alone and self.load[i] > 0:
            self.held.append(item)
            return False
        ref = getattr(self.pool.actors[i], self.method_of(item)).remote(*self.args_of(item))
        self.inflight[ref] = (item, i)
        self.load[i] += self.spec.per_actor if alone else 1
        return True

    def next_result(self, poll: bool) -> tuple[Any, Any] | None:
        """The next finished call as (item, result), or None when nothing finished yet."""
        import ray

        if not self.inflight:  # work waits for an actor being restarted
            if all(p > time.monotonic() for p in self.paused):
                time.sleep(0.1)
            return None
        done, _ = ray.wait(list(self.inflight), num_returns=1,
                           timeout=0.25 if poll else min(60.0, self.spec.call_timeout))
        if not done:
            if time.monotonic() - self.last > self.spec.call_timeout:
                raise PoolError(f"no call finished in {self.spec.call_timeout:.0f} s; {len(self.inflight)} in flight")
            return None
        self.last = time.monotonic()
        item, i = self.inflight.pop(done[0])
        self.load[i] -= self.spec.per_actor if self.solo(item) else 1
        try:
            result = ray.get(done[0])
            self.deaths[i] = 0
        except ray.exceptions.RayActorError as err:  # the worker process died, or is being restarted
            self.paused[i] = time.monotonic() + 1.0  # give Ray time to bring a fresh process up
            if isinstance(err, ray.exceptions.ActorUnavailableError) and "is restarting" in str(err):
                self.again.append(item)  # refused by an actor being restarted: the call never ran
                return None
            result = self._died(i)
        except ray.exceptions.RayError as err:  # the call itself raised
            result = CallFailed(_first_line(err))
        return item, result

    def _died(self, i: int) -> "CallFailed":
        """Ray 2.60 reports a death mid-call as "unavailable: socket closed"; Ray restarts the process."""
        self.deaths[i] += 1
        names = self.pool.names
        result = CallFailed(f"worker {names[i] if i < len(names) else i} died", died=True)
        if self.deaths[i] >= MAX_DEATHS:
            self.load[i] = _DEAD
            if all(n >= _DEAD for n in self.load):
                raise PoolError(f"every worker died; last: {result.reason}") from None
        return result


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
