"""Batch upscaling and classification: the worker each Ray actor runs, and the
driver loop that feeds it.

``PageWorker`` loads the model once (per actor) and then turns one input file
into one report record per call: read every page, upscale (or only classify),
write atomically, report the category. It keeps no per-page state between
calls, so a restarted actor can retry any call. Any failure becomes an
``error`` record whose message names the file and the reason; the run goes on.

``run_batch`` drives a :class:`~mchmc.pool.Pool` over the planned jobs with
backpressure and streams each record to the report as it arrives.

Big pages: a single-page file above ``split_pixels`` (LR pixels) is cut into
row bands, one call per band on as many actors as there are: each actor reads
the page, upscales its band with the halo read from the whole page (the
:func:`~mchmc.pageup.upscale_band` contract), and returns the band's integer
pixels and GAP sums; when every band is back, one more call stitches them,
takes the category from the summed GAP statistics (the whole-page pooling,
exactly) and writes the file. The result is byte-identical to a one-actor run.
"""
from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import colour
from .archive import Job
from .errors import FileError, MchmcError
from .pagemeta import DEFAULT_MAX_PIXELS, output_name
from .pngwrite import DEFAULT_PNG_LEVEL
from .report import PageRecord


@dataclass(frozen=True)
class BatchOptions:
    """Everything a worker needs to know, sent once to every actor."""

    model: str | None = None  # shipped name or path; None = the default (SRforMC)
    tile: int | None = 256  # engine tile core, LR px
    precision: str = "fp32"
    format: str | None = None  # output format; None = same as input
    quality: int = 95  # JPEG / WebP
    png_level: int = DEFAULT_PNG_LEVEL
    max_pixels: int = DEFAULT_MAX_PIXELS
    binarize: bool = False  # 1-bit pages back to 1-bit
    classify_only: bool = False  # conv1, conv2 and the head; nothing written
    overwrite: bool = False
    split_pixels: int = 40_000_000  # single pages above this many LR pixels are split across actors (0: never)

    def __post_init__(self) -> None:
        from .engine import PRECISIONS

        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.tile is not None and self.tile < 1:
            raise ValueError(f"--tile must be >= 1 px, not {self.tile}")
        if self.split_pixels < 0:
            raise ValueError(f"--split-pixels must be >= 0, not {self.split_pixels}")
        if not 1 <= self.quality <= 100:
            raise ValueError(f"--quality must be 1..100, not {self.quality}")
        if not 0 <= self.png_level <= 9:
            raise ValueError(f"--png-level must be 0..9, not {self.png_level}")
        output_name(Path("page.png"), self.format)  # an unknown --format fails here, before any page

    def output_name(self, src: Path) -> str:
        return output_name(src, self.format)


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
    band: object | None  # mchmc.pageup.Band
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


@dataclass
class Progress:
    """What the driver reports after each record (for a progress bar)."""

    done: int = 0
    total: int = 0
    megapixels: float = 0.0
    by_status: dict[str, int] = field(default_factory=lambda: {"ok": 0, "skipped": 0, "error": 0})


class PageWorker:
    """One per Ray actor (or used directly in-process)."""

    def __init__(self, options: BatchOptions, *, device: str = "cpu", name: str = "w0"):
        from .engine import Engine
        from .modelfile import load_model

        self.options, self.name = options, name
        model = load_model(options.model).model
        self.engine = Engine(model, tile=options.tile, device=device, precision=options.precision)
        self.categories = model.config.categories
        # warm up here, not on the first page: the page I/O modules, and the
        # backend's kernels (oneDNN / cuDNN pick them on the first call)
        from . import pageio, pagewrite  # noqa: F401

        self.engine.run(np.zeros((24, 24), np.float32), gap=model.config.has_classifier)

    def ready(self) -> str:
        return self.name

    @property
    def tag(self) -> str:
        return f"{self.name}@{os.getpid()}"

    def run(self, call: Job | BandCall | FinishCall) -> PageRecord | BandResult:
        """The one entry point the pool calls: a whole file, a band of a big page, or the stitch."""
        if isinstance(call, BandCall):
            return self.band(call)
        if isinstance(call, FinishCall):
            return self.finish(call)
        return self.process(call)

    def process(self, job: Job) -> PageRecord:
        """One input file -> its record. Never raises for a bad page."""
        t0 = time.perf_counter()
        record = PageRecord(input=str(job.src), output="" if self.options.classify_only else str(job.dst),
                            worker=self.tag)
        err = _guarded(job, self._classify if self.options.classify_only else self._upscale, job, record)
        if err:
            record.status, record.error = "error", err
        record.seconds = time.perf_counter() - t0
        return record

    def band(self, call: BandCall) -> BandResult:
        """Rows [r0, r1) of a big page: its band of output pixels (or only GAP sums when classifying)."""
        t0 = time.perf_counter()
        result = BandResult(call.job, None, None, worker=self.tag)

        def work():
            from .engine import Region
            from .pageio import read_page
            from .pageup import Band, upscale_band

            page = read_page(call.job.src, 0, self.options.max_pixels)
            result.meta = page.meta
            if self.options.classify_only:
                gap = self.engine.gap_stats(luminance(page), Region(call.r0, call.r1, 0, page.meta.width))
                result.band = Band(call.r0, call.r1, None, gap)
            else:
                result.band = upscale_band(page, self.engine, call.r0, call.r1, binarize=self.options.binarize)

        result.error = _guarded(call.job, work)
        result.seconds = time.perf_counter() - t0
        return result

    def finish(self, call: FinishCall) -> PageRecord:
        """Stitch a big page's bands, classify from their summed GAP statistics, write it."""
        t0 = time.perf_counter()
        job, meta = call.job, call.meta
        record = PageRecord(input=str(job.src), output="" if self.options.classify_only else str(job.dst),
                            worker=call.workers)

        def work():
            from .pageup import finish_page
            from .pagewrite import write_pages

            if self.options.classify_only:
                stats = call.bands[0].gap
                for b in call.bands[1:]:
                    stats = stats + b.gap
                probs = dict(zip(self.categories, map(float, self.engine.probabilities(stats))))
            else:
                up = finish_page(meta, list(call.bands), self.engine, binarize=self.options.binarize)
                write_pages([up], job.dst, self.options.format, quality=self.options.quality,
                            png_level=self.options.png_level)
                probs = up.probs
            self._fill(record, [(meta.width, meta.height, probs)])

        err = _guarded(job, work)
        if err:
            record.status, record.error = "error", err
        record.seconds = call.seconds + time.perf_counter() - t0
        return record

    def _set_category(self, record: PageRecord, probs: dict[str, float] | None) -> None:
        if probs:
            record.probs = [round(float(probs[c]), 6) for c in self.categories]
            record.category = max(probs, key=probs.get)

    def _upscale(self, job: Job, record: PageRecord) -> None:
        from .pageio import read_pages, upscale_page, write_pages

        stats = []  # per page: (width, height, probs)

        def upscaled():
            for page in read_pages(job.src, self.options.max_pixels):
                up = upscale_page(page, self.engine, binarize=self.options.binarize)
                stats.append((page.meta.width, page.meta.height, up.probs))
                yield up

        write_pages(upscaled(), job.dst, self.options.format, quality=self.options.quality,
                    png_level=self.options.png_level)
        self._fill(record, stats)

    def _classify(self, job: Job, record: PageRecord) -> None:
        from .pageio import read_pages

        stats = []
        for page in read_pages(job.src, self.options.max_pixels):
            gap = self.engine.gap_stats(luminance(page))
            probs = dict(zip(self.categories, map(float, self.engine.probabilities(gap))))
            stats.append((page.meta.width, page.meta.height, probs))
        self._fill(record, stats)

    def _fill(self, record: PageRecord, stats: list[tuple[int, int, dict | None]]) -> None:
        """Size of the file (a multi-page file: pages stacked) and its category: a
        single page's own, or for a multi-page file the mean of its pages' probabilities."""
        record.width = max(s[0] for s in stats)
        record.height = sum(s[1] for s in stats)
        self._set_category(record, _mean_probs([s[2] for s in stats]))


def _guarded(job: Job, fn, *args) -> str:
    """Run ``fn``; any failure becomes the one-line reason that names the file ("" = success)."""
    try:
        fn(*args)
    except MchmcError as err:
        return str(err)
    except MemoryError:
        return f"{job.src}: out of memory"
    except Exception as err:  # a bug or an unforeseen codec failure: still one line, the run goes on
        return str(FileError(job.src, f"{type(err).__name__}: {err}"))
    return ""


def luminance(page, rows: int = 1024) -> np.ndarray:
    """The page's Y plane (float32, network scale), computed as the upscaler does, in row strips."""
    px = page.pixels
    y = np.empty(px.shape[:2], np.float32)
    for r0 in range(0, px.shape[0], rows):
        lr = colour.to_unit(px[r0 : r0 + rows])
        if page.meta.gray:
            y[r0 : r0 + rows] = colour.gray_to_y(lr if lr.ndim == 2 else lr[..., 0])
        else:
            y[r0 : r0 + rows] = colour.rgb_to_ycbcr(lr[..., :3])[..., 0]
    return y


def _mean_probs(all_probs: list[dict | None]) -> dict[str, float] | None:
    probs = [p for p in all_probs if p]
    return {k: sum(p[k] for p in probs) / len(probs) for k in probs[0]} if probs else None


def skipped(job: Job, before: PageRecord | None = None) -> PageRecord:
    """The record of a page whose output already exists; keeps what an earlier run found."""
    rec = PageRecord(input=str(job.src), output=str(job.dst), status="skipped")
    if before is not None:
        rec.category, rec.probs, rec.width, rec.height = before.category, before.probs, before.width, before.height
    return rec


class _Work:
    """The pool's feed: stitch calls of big pages whose bands are all back first,
    then the next planned job (a big page expands into its band calls). An empty
    feed is not the end: it fills again as bands come back (``Pool.map`` asks again
    after every result)."""

    def __init__(self, jobs: Iterator, expand: Callable[[Job], list]):
        self.jobs, self.expand, self.ready = jobs, expand, deque()

    def __iter__(self):
        return self

    def __next__(self):
        while not self.ready:
            job = next(self.jobs)  # StopIteration: nothing more to plan (for now)
            self.ready.extend(self.expand(job))
        return self.ready.popleft()


def band_plan(job: Job, options: BatchOptions, actors: int) -> list[BandCall]:
    """The band calls of ``job`` when it is one page above ``options.split_pixels``
    and there are actors to share it; [] when it goes whole to one actor. A file
    whose header cannot be read goes whole too (its worker reports why)."""
    from .pageio import page_sizes

    if actors < 2 or not options.split_pixels:
        return []
    try:
        sizes = page_sizes(job.src, options.max_pixels)
    except Exception:
        return []
    if len(sizes) != 1 or sizes[0][0] * sizes[0][1] <= options.split_pixels:
        return []
    from .pageup import band_rows

    w, h = sizes[0]
    parts = min(actors, max(2, (w * h) // MIN_BAND_PIXELS))
    rows = band_rows(h, parts)
    return [BandCall(job, r0, r1, len(rows)) for r0, r1 in rows] if len(rows) > 1 else []


MIN_BAND_PIXELS = 4_000_000  # a band smaller than this is not worth a second decode of the page


def run_batch(jobs: Iterable[Job], pool, report, options: BatchOptions, progress: Progress | None = None,
              on_record: Callable[[PageRecord, Progress], None] | None = None,
              previous: dict[str, PageRecord] | None = None) -> Progress:
    """Feed ``jobs`` to ``pool`` (skipping finished ones unless overwriting), write every
    record to ``report`` as it arrives. ``progress`` accumulates across calls;
    ``previous`` maps inputs to an earlier run's records (their category is kept
    when a page is skipped). Big pages are split into bands (see the module doc)."""
    from .pool import CallFailed

    progress = progress if progress is not None else Progress()
    previous = previous or {}
    actors = len(getattr(pool, "actors", ()))
    pending: dict[str, list[BandResult]] = {}  # big page input -> bands back so far
    failed: set[str] = set()  # big pages already reported as failed (later bands are dropped)

    def emit(record: PageRecord) -> None:
        report.write(record)
        progress.done += 1
        progress.by_status[record.status] += 1
        if record.status == "ok":
            progress.megapixels += record.megapixels
        if on_record:
            on_record(record, progress)

    def error(job: Job, reason: str) -> PageRecord:
        return PageRecord(input=str(job.src), output="" if options.classify_only else str(job.dst), status="error",
                          error=reason)

    def todo() -> Iterator[Job]:
        for job in jobs:
            if not options.classify_only and not options.overwrite and job.done:
                emit(skipped(job, previous.get(str(job.src))))
            else:
                yield job

    def expand(job: Job) -> list:
        bands = band_plan(job, options, actors)
        if bands:
            pending[str(job.src)] = []
        return bands or [job]

    work = _Work(todo(), expand)
    for call, result in pool.map("run", work):
        job = call.job if isinstance(call, (BandCall, FinishCall)) else call
        if isinstance(result, CallFailed):
            result = BandResult(job, None, None, error=str(FileError(job.src, result.reason))) \
                if isinstance(call, BandCall) else error(job, str(FileError(job.src, result.reason)))
        if isinstance(result, PageRecord):
            emit(result)
            continue
        key = str(job.src)  # a band came back
        if key in failed:
            continue
        if result.error:
            failed.add(key)
            pending.pop(key, None)
            emit(error(job, result.error))
            continue
        got = pending[key]
        got.append(result)
        if len(got) == call.parts:
            del pending[key]
            workers = ",".join(sorted({r.worker for r in got}))
            work.ready.append(FinishCall(job, got[0].meta, tuple(r.band for r in got),
                                         sum(r.seconds for r in got), workers))
    return progress
