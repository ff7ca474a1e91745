"""What the driver's pool is fed next, and how each call is named.

Calls are made lazily, one per ask: a run over a million pages, or a volume of
hundreds, never holds its calls, and the pool's backpressure decides the pace.
Order: calls that are ready (a retry after a worker died, the stitch of a big
page, the writing of a volume) before new work, so what was started finishes
first; then the next page of the volume being fed; then the next planned job.
Once a stop is requested no new page is fed (calls already ready still are).
"""
from __future__ import annotations

from collections.abc import Iterator

from mchmc.batch.bands import BandCall, FinishCall, band_plan
from mchmc.batch.ledger import Stamp
from mchmc.batch.plan import Job
from mchmc.batch.volumecalls import AssembleCall, MemberCall
from mchmc.containers.formats import is_container


class Feed:
    """The pool's feed over ``loop`` (the driver's run state): retries and stitch
    calls first, then the pages of the volume being fed, then the next planned
    job (a big page expands into its band calls, a volume is opened). Running
    dry is not the end: the feed fills again as results come back (``Pool.map``
    asks after every result)."""

    def __init__(self, loop, todo: Iterator[Job]):
        self.loop, self.todo, self.exhausted = loop, todo, False

    def __iter__(self):
        return self

    def __next__(self):
        loop = self.loop
        while not loop.ready:
            if loop.stop.requested:
                raise StopIteration
            page = loop.volumes.next_call()  # the pages of the volume being fed come first
            if page is not None:
                return page
            if loop.ready:  # that volume's last page was done already: the call that writes it
                break
            job = None if self.exhausted else next(self.todo, None)
            if job is None:
                self.exhausted = True
                raise StopIteration
            stamp = Stamp.of(job.src)
            loop.fed(job, stamp)
            if is_container(job.src):
                loop.volumes.open(job, stamp)
                continue
            bands = band_plan(job, loop.opts, loop.actors)
            if bands:
                loop.pending[job.src] = []
            loop.ready.extend(bands or [job])
        return loop.ready.popleft()


_METHODS = {BandCall: "band", FinishCall: "finish", MemberCall: "member", AssembleCall: "assemble"}


def method(call) -> str:
    """The worker method that takes ``call``."""
    return _METHODS.get(type(call), "process")


def key(call) -> tuple:
    """What identifies ``call`` across its retries."""
    job = call if isinstance(call, Job) else call.job
    return (type(call).__name__, job.src, getattr(call, "r0", 0))
