"""The codec worker's side of the split pipeline: an engine whose network runs elsewhere.

:func:`mchmc.pages.upscale.upscale_band` uses only ``engine.run(Y, region, gap=, out=)`` and
``engine.config``; :class:`NetworkProxy` has that interface, so a CPU worker keeps reading,
decoding, colour, chroma, alpha, quantising and encoding every page exactly as before while
each Y strip goes to a :class:`~mchmc.batch.network.service.NetworkService` (packed 8/16-bit where
exact, :mod:`mchmc.batch.network.wire`). The category head (a few hundred multiply-adds on the summed
GAP statistics) stays local.

A link carries the requests: :class:`LocalLink` to a service in this process (benchmarks),
:class:`RayLink` to service actors. A service that dies is restarted by Ray; the requests it
had in flight come back as actor errors and are sent again (for up to ``RESTART_WAIT`` seconds,
with a growing pause while the fresh process loads its model), so a dead service costs time,
never a page. A hung one (alive, never answering) is killed after its reply timeout and a
liveness check, and then restarted in the same way.
"""
from __future__ import annotations

import itertools
import re
import time

import numpy as np

from mchmc.batch.network.wire import TileRequest, pack
from mchmc.engine import EngineResult, GapStats, Region
from mchmc.errors import MchmcError

RESTART_WAIT = 180.0  # s a request is resent to a dead or restarting service before its page fails


class NetworkError(MchmcError):
    """The network service could not be reached (it kept dying, or never answered)."""


class NetworkProxy:
    """:class:`~mchmc.engine.Engine`'s interface; ``local`` (a CPU engine of the same model) supplies
    the config and the category head, ``link`` the network."""

    def __init__(self, local, link, model: str | None):
        self.local, self.link = local, link
        self.key = None if model is None else str(model)  # the service's key for the model (a name or path)
        self.config, self.model, self.tile, self.tta = local.config, local.model, local.tile, local.tta

    def run(self, plane: np.ndarray, region: Region | None = None, sr: bool = True, gap: bool = False,
            out: np.ndarray | None = None) -> EngineResult:
        plane = np.asarray(plane)
        if plane.ndim != 2 or min(plane.shape) < 1:
            raise ValueError(f"expected a 2-D plane with H, W >= 1, got shape {plane.shape}")
        if gap and not self.config.has_classifier:
            raise ValueError(f"architecture {self.config.arch!r} has no classifier to pool for")
        region = region or Region(0, plane.shape[0], 0, plane.shape[1])
        reply = self.link.call(TileRequest(self.key, pack(plane), (region.y0, region.y1, region.x0, region.x1),
                                           sr=sr, gap=gap))
        if sr:
            if out is None:
                out = np.array(reply.sr)  # a reply through Ray is read-only
            else:
                out[...] = reply.sr
        return EngineResult(out if sr else None, reply.gap)

    def upscale(self, plane: np.ndarray, gap: bool = False) -> EngineResult:
        return self.run(plane, sr=True, gap=gap)

    def gap_stats(self, plane: np.ndarray, region: Region | None = None) -> GapStats:
        return self.run(plane, region, sr=False, gap=True).gap

    def category_probs(self, stats: GapStats):
        return self.local.category_probs(stats)

    def probabilities(self, stats: GapStats) -> np.ndarray:
        return self.local.probabilities(stats)


class _Served:
    """Which services answered since the worker last asked (for its page's record)."""

    def __init__(self):
        self.servers: list[str] = []

    def note(self, server: str) -> None:
        if server not in self.servers:
            self.servers.append(server)

    def take(self) -> list[str]:
        servers, self.servers = self.servers, []
        return servers


class LocalLink(_Served):
    """To a :class:`~mchmc.batch.network.service.NetworkService` object in this process (from any thread)."""

    def __init__(self, service):
        super().__init__()
        self.service = service

    def bind(self, name: str) -> "LocalLink":
        return LocalLink(self.service)

    def call(self, request: TileRequest):
        reply = self.service.infer(request)
        self.note(reply.server)
        return reply


class RayLink(_Served):
    """To service actors, found by their Ray names (``names``); a codec worker ``cpuN`` sends to
    service ``N mod count`` (workers spread evenly over the devices, and each service sees a fixed
    set of workers). Names, not handles: handles in a restartable actor's constructor arguments
    are kept in the object store, which Ray warns (on the user's terminal) a restart cannot rely on.

    A request with no reply in ``timeout`` s asks the service whether it is alive; no answer in
    ``timeout`` s either means it hangs (a stopped or frozen process): it is killed, Ray
    restarts it as it restarts a dead one, and the request is sent again. A slow service answers
    and is waited for, up to ``limit`` s a request."""

    def __init__(self, names: list[str], index: int = 0, timeout: float = 60.0, limit: float = 3600.0):
        super().__init__()
        self.names, self.index, self.timeout, self.limit = list(names), index, timeout, limit
        self._handle = None

    def bind(self, name: str) -> "RayLink":
        digits = re.findall(r"\d+", name)
        return RayLink(self.names, int(digits[-1]) if digits else 0, self.timeout, self.limit)

    def __getstate__(self):  # sent to each worker actor: the names only
        return {"names": self.names, "index": self.index, "timeout": self.timeout, "limit": self.limit}

    def __setstate__(self, state):
        self.__init__(state["names"], state["index"], state["timeout"], state.get("limit", 3600.0))

    def service(self):
        """This worker's service actor (looked up once; a restarted actor keeps its name and handle)."""
        import ray

        if self._handle is None:
            self._handle = ray.get_actor(self.names[self.index % len(self.names)])
        return self._handle

    def call(self, request: TileRequest):
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        service, ref, began, first_failure = self.service(), None, time.monotonic(), None
        for attempt in itertools.count():
            if ref is None:
                ref = service.infer.remote(request)
            try:
                reply = ray.get(ref, timeout=self.timeout)
            except RayActorError:  # died mid-call, or restarting: the request never finished
                ref, first_failure = None, first_failure or time.monotonic()
                if time.monotonic() - first_failure > RESTART_WAIT:
                    raise NetworkError(f"the network service stayed dead for {RESTART_WAIT:.0f} s; giving up "
                                       "on this page") from None
                time.sleep(min(5.0, 0.5 * 2**attempt))
                continue
            except GetTimeoutError:
                if time.monotonic() - began > self.limit:
                    raise NetworkError(f"the network service gave no reply in {self.limit:.0f} s") from None
                if not self._answers(service):  # hung: restarted as a dead one is, and `ref` fails
                    ray.kill(service, no_restart=False)
                continue
            self.note(reply.server)
            return reply

    def _answers(self, service) -> bool:
        """Whether the service is alive (its ``ready``, answered by another of its threads while a
        batch runs): a slow service answers, a stopped or wedged process does not. A service that
        died meanwhile counts as answering: its requests fail at once and are sent again."""
        import ray
        from ray.exceptions import GetTimeoutError

        try:
            ray.get(service.ready.remote(), timeout=self.timeout)
        except GetTimeoutError:
            return False
        except Exception:  # noqa: BLE001  (dead or restarting, or its start failed: not hung)
            pass
        return True
