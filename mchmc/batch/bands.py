"""Big pages across several workers: a single page above ``split_pixels`` (LR
pixels) is cut into row bands, one call per band on as many actors as there
are. Each actor reads the page and upscales its band with the halo read from
the whole page (:func:`mchmc.pages.upscale.upscale_band`); when every band is
back, one more call stitches them, takes the category from the summed GAP
statistics (the whole-page pooling, exactly) and writes the file. The result
is byte-identical to one actor doing the whole page.
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


MIN_BAND_PIXELS = 4_000_000  # a band smaller than this is not worth a second decode of the page
