"""The work of a container (a CBZ / ZIP volume, a scanned PDF) as calls any
worker can take: one per page (an image entry, a PDF page's image), then one
that writes the volume. The driver's side (which makes these calls and commits
what comes back) is :mod:`mchmc.batch.containers`; the format's own reading
and writing is behind :func:`mchmc.pages.archive.handler`.

A page call copies its entry out of the volume, by index, into an owned
temporary (:func:`mchmc.fsutil.atomic_write`, so a killed run's leftover is
removed by the next) beside where its output will wait,
``DST/.mchmc/containers/<volume>/``; then the worker processes that file
exactly as a loose page (:meth:`~mchmc.batch.worker.PageWorker.process`: the
same reader, limits, noise choice, upscaler and writer), so a page comes out
byte-identical to the same page upscaled loose (a PDF page's image keeps its
own format whatever ``--format`` says: it goes back into the PDF as a stream).
Its record and messages name the entry (``vol01.cbz!/003.jpg``,
``doc.pdf!/page-003``), never the temporary. ``mchmc classify`` writes
nothing under any DST: its copies go to a private temporary folder.

The assemble call streams the volume into a temporary beside its output: each
upscaled page from its file, everything else from the source (the format's
``write_container``); the driver renames it once the volume is in the ledger,
as it does a loose page.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from mchmc.batch import thumbs
from mchmc.batch.plan import Job
from mchmc.batch.records import CONTAINER, PageRecord
from mchmc.batch.worker import guarded
from mchmc.fsutil import atomic_write
from mchmc.pages.archive import Entry, handler


@dataclass(frozen=True)
class MemberCall:
    """One page of a volume. ``job`` names it as the report does
    (``SRC/vol.cbz!/003.jpg`` -> ``DST/vol.cbz!/003.png``); it is read from
    ``volume``'s ``entry``, goes back into the volume as ``out_name``, and waits
    in ``page_file`` until then (None when classifying: nothing is written).
    ``keeps_format``: the page is written in its own format whatever ``--format`` says."""

    job: Job
    volume: Path
    entry: Entry
    out_name: str
    page_file: Path | None
    keeps_format: bool = False


@dataclass(frozen=True)
class AssembleCall:
    """Write the volume ``job.src`` to ``job.dst``; ``pages`` holds (entry index,
    name in the output, page file) of every upscaled page, the rest is copied."""

    job: Job
    pages: tuple[tuple[int, str, str], ...]


def run_member(worker, call: MemberCall) -> PageRecord:
    """One page of a volume -> its record (never raises for a bad page)."""
    t0 = time.perf_counter()
    record = PageRecord(input=str(call.job.src), worker=worker.tag)

    def work():
        nonlocal record
        with _entry_file(call, worker.options) as tmp, _own_format(worker, call.keeps_format):
            record = _named(worker.process(Job(tmp, call.page_file or tmp)), str(tmp), str(call.job.src))
        if call.page_file and worker.options.root:  # its thumbnail, made under the waiting file's name
            thumbs.rename(worker.options.root, str(call.page_file), str(call.job.dst))

    err = guarded(call.job, work)
    if err:
        record.status, record.error = "error", err
    record.output = "" if worker.options.classify_only else str(call.job.dst)
    record.seconds = time.perf_counter() - t0
    return record


def run_assemble(call: AssembleCall, options, tag: str) -> PageRecord:
    """The volume written (staged for the driver to rename, in a batch run) -> the volume's record."""
    t0 = time.perf_counter()
    job = call.job
    record = PageRecord(input=str(job.src), output=str(job.dst), kind=CONTAINER, worker=tag)

    def work():
        replaced = {index: (name, Path(page)) for index, name, page in call.pages}
        with atomic_write(job.dst, fsync=True, commit=not options.staged, root=options.root) as tmp:
            with open(tmp, "wb") as out:
                handler(job.src).write_container(job.src, out, replaced, options.max_pixels)
        if options.staged:
            record.staged = str(tmp)

    err = guarded(job, work)
    if err:
        record.status, record.error = "error", err
    record.seconds = time.perf_counter() - t0
    return record


@contextmanager
def _entry_file(call: MemberCall, options) -> Iterator[Path]:
    """The entry's bytes in a file of their own, named by the entry's index (its
    name never reaches the file system), removed when the block ends; never in a
    linked folder below DST (``options.root``)."""
    with ExitStack() as stack:
        folder = call.page_file.parent if call.page_file else \
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mchmc-")))
        root = options.root if call.page_file else None
        with atomic_write(folder / f"{call.entry.index:05d}.in", commit=False, root=root) as tmp, \
                open(tmp, "wb") as out:
            handler(call.volume).extract(call.volume, call.entry, out, options.max_pixels, options.max_bytes)
        stack.callback(tmp.unlink, missing_ok=True)
        yield tmp


@contextmanager
def _own_format(worker, keep: bool) -> Iterator[None]:
    """With ``keep``, the worker writes the page in its own format (the page
    file's extension) for the block, whatever ``--format`` asked for: a PDF's
    page image goes back into the PDF as a JPEG or lossless stream, never as a
    TIFF, WebP or BMP file. The worker takes one call at a time, so the
    options it holds are this call's for the block."""
    if not keep or worker.options.format is None:
        yield
        return
    options, worker.options = worker.options, replace(worker.options, format=None)
    try:
        yield
    finally:
        worker.options = options


def _named(record: PageRecord, tmp: str, shown: str) -> PageRecord:
    """The record of the temporary, told as the entry's."""
    record.input = shown
    record.error = record.error.replace(tmp, shown)
    record.notes = [n.replace(tmp, shown) for n in record.notes]
    return record
