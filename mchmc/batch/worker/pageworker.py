"""Batch upscaling and classification: the worker each Ray actor runs.

``PageWorker`` loads the model once (per actor) and then turns one input file
into one report record per call: read every page, upscale (or only classify),
write under a temporary name, report the category. It keeps no per-page state
between calls, so a fresh actor can retry any call. Any failure becomes an
``error`` record whose message names the file and the reason; the run goes on.
The driver (:mod:`mchmc.batch.driver.loop`) renames each finished temporary into place
once the page is in the ledger, so every output under its final name is one a
run recorded.

Big pages: a single-page file above ``split_pixels`` (LR pixels) is cut into
row bands, one call per band on as many actors as there are: each actor reads
the page, upscales its band with the halo read from the whole page (the
:func:`~mchmc.pages.upscale.upscale_band` contract), and returns the band's GAP sums
and its integer pixels, on Ray as a reference into the object store, so they
never pass through the driver (:mod:`mchmc.batch.bands`); when every band is back, one more call stitches them,
takes the category from the summed GAP statistics (the whole-page pooling,
exactly) and writes the file. The result is byte-identical to a one-actor run.

Containers (CBZ / ZIP volumes, PDFs): one call per page, then one writing the container
(:mod:`mchmc.batch.worker.volumework`).
"""
from __future__ import annotations

import os
import time

from mchmc.batch.bands import BandCall, BandResult, FinishCall, resolve, share
from mchmc.batch.options import BatchOptions
from mchmc.batch.plan import Job
from mchmc.batch.records import PageRecord
from mchmc.batch.volumecalls import AssembleCall, MemberCall
from mchmc.batch.worker.guard import guarded
from mchmc.batch.worker.volumework import run_assemble, run_member
from mchmc.errors import MchmcError


class PageWorker:
    """One per Ray actor (or used directly in-process). ``network``: a link to a network service
    (:mod:`mchmc.batch.network.proxy`): this worker then runs every codec step and the service the network."""

    def __init__(self, options: BatchOptions, network=None, *, device: str = "cpu", name: str = "w0"):
        from mchmc.batch.worker.engines import PageEngines
        from mchmc.fsutil import set_owner

        self.options, self.name, self.device = options, name, device
        self.network = network.bind(name) if network is not None else None
        set_owner(options.owner)
        self.start_error: MchmcError | None = None
        try:
            self.models = PageEngines(options, self.network, device)
        except MchmcError as err:  # reported by ready(): the driver stops the run with this one line
            self.start_error = err
            return
        self.engine, self.categories = self.models.engine, self.models.categories
        import mchmc.pages.write  # noqa: F401  (warm up here, not on the first page)

    def ready(self) -> str:
        """This worker's name once its model is loaded; raises the reason it could not load it."""
        if self.start_error is not None:
            raise self.start_error
        return self.name

    @property
    def tag(self) -> str:
        """name@pid, and with a network service the services that ran this call's network
        (``cpu0@12 via net0@34``; a service restarted mid-page shows both of its pids)."""
        served = self.network.take() if self.network is not None else []
        return f"{self.name}@{os.getpid()}" + (f" via {','.join(served)}" if served else "")

    def process(self, job: Job) -> PageRecord:
        """One input file -> its record. Never raises for a bad page."""
        t0 = time.perf_counter()
        record = PageRecord(input=str(job.src), output="" if self.options.classify_only else str(job.dst),
                            worker=self.tag)
        err = guarded(job, self._classify if self.options.classify_only else self._upscale, job, record)
        if err:
            record.status, record.error = "error", err
        record.worker = self.tag
        record.seconds = time.perf_counter() - t0
        return record

    def member(self, call: MemberCall) -> PageRecord:
        """One page of a CBZ / ZIP volume or a PDF (:mod:`mchmc.batch.worker.volumework`)."""
        return run_member(self, call)

    def assemble(self, call: AssembleCall) -> PageRecord:
        """A CBZ / ZIP volume or a PDF written back with its upscaled pages (:mod:`mchmc.batch.worker.volumework`)."""
        return run_assemble(call, self.options, self.tag)

    def band(self, call: BandCall) -> BandResult:
        """Rows [r0, r1) of a big page: its band of output pixels (or only GAP sums when classifying)."""
        t0 = time.perf_counter()
        result = BandResult(call.job, None, None, worker=self.tag)

        def work():
            from mchmc.pages import read_page
            from mchmc.pages.category import band_category_stats
            from mchmc.pages.upscale import Band, upscale_band

            page = read_page(call.job.src, 0, self.options.max_pixels)
            result.meta = page.meta
            if self.options.classify_only:
                engine, _ = self.models.noise(page.meta)
                gap = band_category_stats(engine, page, call.r0, call.r1)
                result.band = Band(call.r0, call.r1, None, gap)
            else:
                route = self.models.routed(page)
                band = upscale_band(page, route.engine, call.r0, call.r1, head_stats=route.stats,
                                    then=self.models.second_pass(page, route.category),
                                    binarize=self.options.binarize, chroma=self.models.chroma(route.choice))
                band.routed = route.category
                result.band = share(band)  # a reference on Ray

        result.error = guarded(call.job, work)
        result.worker = self.tag
        result.seconds = time.perf_counter() - t0
        return result

    def finish(self, call: FinishCall) -> PageRecord:
        """Stitch a big page's bands, classify from their summed GAP statistics, write it."""
        t0 = time.perf_counter()
        job, meta = call.job, call.meta
        record = PageRecord(input=str(job.src), output="" if self.options.classify_only else str(job.dst),
                            worker=call.workers)

        def work():
            from mchmc.pages.upscale import finish_page

            engine, choice = self.models.noise(meta)
            if self.options.classify_only:
                stats = call.bands[0].gap
                for b in call.bands[1:]:
                    stats = stats + b.gap
                probs = engine.category_probs(stats)
            else:
                up = finish_page(meta, resolve(job, call.bands), engine, binarize=self.options.binarize)
                self._write([up], job, record)
                probs = up.probs
            # every band routed the page alike (the page whole, or its view; the level's router, if any)
            routed = call.bands[0].routed if call.bands and not self.options.classify_only else None
            record.add_noise(choice.label, choice.reason, self.models.made_by(choice.level, routed, meta.jpeg_quality))
            self._fill(record, [(meta.width, meta.height, probs)])

        err = guarded(job, work)
        if err:
            record.status, record.error = "error", err
        record.seconds = call.seconds + time.perf_counter() - t0
        return record

    def _set_category(self, record: PageRecord, probs: dict[str, float] | None) -> None:
        if probs:
            from mchmc.modelconfig import top_category

            record.probs = {c: round(float(probs[c]), 6) for c in self.categories}
            record.category = top_category(probs)

    def _upscale(self, job: Job, record: PageRecord) -> None:
        from mchmc.pages import read_pages, upscale_page

        stats = []  # per page: (width, height, probs)

        def upscaled():
            for page in read_pages(job.src, self.options.max_pixels, max_bytes=self.options.max_bytes):
                route = self.models.routed(page, record)
                up = upscale_page(page, route.engine, then=self.models.second_pass(page, route.category),
                                  binarize=self.options.binarize, chroma=self.models.chroma(route.choice),
                                  head_stats=route.stats)
                stats.append((page.meta.width, page.meta.height, up.probs))
                yield up

        self._write(upscaled(), job, record)
        self._fill(record, stats)

    def _write(self, pages, job: Job, record: PageRecord) -> None:
        """Write ``pages`` to ``job.dst`` (or, staged, to a temporary the driver renames);
        the conversions the reader and the writer made become the record's notes."""
        from mchmc.batch.report import thumbs
        from mchmc.pages.write import write_pages

        notes: list[str] = []

        def noted():
            for i, up in enumerate(pages):
                notes.extend(n for n in up.meta.notes if n not in notes)
                if i == 0:  # the report's thumbnail, while the page is in memory
                    thumbs.make(self.options.root, job.dst, up.pixels)
                yield up

        path = write_pages(noted(), job.dst, self.options.format, quality=self.options.quality,
                           png_level=self.options.png_level, notes=notes, commit=not self.options.staged,
                           root=self.options.root)
        record.notes = list(dict.fromkeys(notes))
        if self.options.staged:
            record.staged = str(path)

    def _classify(self, job: Job, record: PageRecord) -> None:
        from mchmc.pages import read_pages
        from mchmc.pages.category import page_category_stats

        stats = []
        for page in read_pages(job.src, self.options.max_pixels):
            engine, _ = self.models.noise(page.meta, record)
            gap = page_category_stats(engine, page)
            probs = engine.category_probs(gap)
            stats.append((page.meta.width, page.meta.height, probs))
        self._fill(record, stats)

    def _fill(self, record: PageRecord, stats: list[tuple[int, int, dict | None]]) -> None:
        """Size of the file (a multi-page file: pages stacked) and its category: a
        single page's own, or for a multi-page file the mean of its pages' probabilities."""
        record.width = max(s[0] for s in stats)
        record.height = sum(s[1] for s in stats)
        self._set_category(record, _mean_probs([s[2] for s in stats]))


def _mean_probs(all_probs: list[dict | None]) -> dict[str, float] | None:
    probs = [p for p in all_probs if p]
    return {k: sum(p[k] for p in probs) / len(probs) for k in probs[0]} if probs else None


