"""Big pages across several workers: a single page above ``split_pixels`` (LR
pixels) is cut into row bands, one call per band on as many actors as there
are. Each actor reads the page and upscales its band with the halo read from
the whole page (:func:`mchmc.pages.upscale.upscale_band`); when every band is
back, one more call stitches them, takes the category from the summed GAP
statistics (the whole-page pooling, exactly) and writes the file. The result
is byte-identical to one actor doing the whole page.

A band's pixels never pass through the driver (2.26 GB of them for an 81 MP
page, held there until the stitch): on Ray the band actor puts them in the
object store (:func:`share`) and returns a reference with the band's small GAP
statistics; the driver hands the references to the stitching actor, which
fetches them (:func:`resolve`). A reference whose owner (the band's actor) died
meanwhile cannot be fetched: the stitch fails with that reason, never silently,
and the driver computes the page's bands again (:func:`redo_lost`), as it reruns
the page of a worker that died.
"""
from __future__ import annotations

from dataclasses import dataclass

from mchmc.batch.plan import Job


@dataclass(frozen=True)
class BandCall:
    """Rows ``[r0, r1)`` of the (single) page of ``job``: one of ``parts`` bands."""

    job: Job
    r0: int
    r1: int
    parts: int


@dataclass
class BandResult:
    """What a band call returns: the band, or the reason it failed."""

    job: Job
    band: object | None  # mchmc.pages.upscale.Band
    meta: object | None  # the page's PageMeta
    error: str = ""
    seconds: float = 0.0
    worker: str = ""


@dataclass(frozen=True)
class FinishCall:
    """Stitch the bands of ``job``'s page, classify from their GAP sums, write the file."""

    job: Job
    meta: object
    bands: tuple
    seconds: float  # spent on the bands
    workers: str


def band_plan(job: Job, options, actors: int) -> list[BandCall]:
    """The band calls of ``job`` when it is one page above ``options.split_pixels``
    and there are actors to share it; [] when it goes whole to one actor. A file
    whose header cannot be read goes whole too (its worker reports why)."""
    from mchmc.pages import page_sizes

    if actors < 2 or not options.split_pixels:
        return []
    try:
        sizes = page_sizes(job.src, options.max_pixels)
    except Exception:
        return []
    if len(sizes) != 1 or sizes[0][0] * sizes[0][1] <= options.split_pixels:
        return []
    from mchmc.pages.upscale import band_rows

    w, h = sizes[0]
    parts = min(actors, max(2, (w * h) // MIN_BAND_PIXELS))
    rows = band_rows(h, parts)
    return [BandCall(job, r0, r1, len(rows)) for r0, r1 in rows] if len(rows) > 1 else []


def share(band):
    """``band`` with its pixels in Ray's object store (a reference in their place) when this
    runs in a Ray actor; as it is elsewhere (the inline pool passes objects, and never imports Ray)."""
    import sys

    if band is None or band.pixels is None or "ray" not in sys.modules:
        return band
    import ray

    if not ray.is_initialized() or ray.get_runtime_context().get_actor_id() is None:
        return band
    from dataclasses import replace

    return replace(band, pixels=ray.put(band.pixels))


def resolve(job: Job, bands) -> list:
    """``bands`` with their pixels fetched where :func:`share` left a reference; a band whose
    pixels were lost (the actor that made it died) is a one-line :class:`FileError`."""
    import sys

    if "ray" not in sys.modules:
        return list(bands)
    import ray
    from dataclasses import replace

    at = [i for i, b in enumerate(bands) if isinstance(b.pixels, ray.ObjectRef)]
    if not at:
        return list(bands)
    try:
        pixels = ray.get([bands[i].pixels for i in at])
    except ray.exceptions.ObjectLostError as err:  # OwnerDiedError among them
        from mchmc.errors import FileError

        raise FileError(job.src, f"{LOST}: the worker that made it died ({type(err).__name__}); "
                                 "run again with --retry-failed") from None
    out = list(bands)
    for i, px in zip(at, pixels):
        out[i] = replace(out[i], pixels=px)
    return out


def redo_lost(loop, call: FinishCall, record, attempts: int) -> bool:
    """True when the stitch ``call`` failed because a band was lost (:func:`resolve`) and the
    page's bands were queued again on ``loop`` (the driver's run): a page is not failed for a
    worker that died after its band was done, up to ``attempts`` stitches, as with a dead worker's page."""
    k = ("lost", call.job.src)
    if record.status != "error" or LOST not in record.error or loop.stop.requested:
        loop.attempts.pop(k, None)
        return False
    loop.attempts[k] = loop.attempts.get(k, 1) + 1
    calls = band_plan(call.job, loop.opts, loop.actors) if loop.attempts[k] <= attempts else []
    if not calls:
        loop.attempts.pop(k, None)
        return False
    loop.pending[call.job.src] = []
    loop.ready.extend(calls)
    return True


LOST = "a band of this page was lost before the stitch"
MIN_BAND_PIXELS = 4_000_000  # a band smaller than this is not worth a second decode of the page
