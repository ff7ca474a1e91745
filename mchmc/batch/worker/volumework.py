"""The work of a container (a CBZ / ZIP volume, a scanned PDF) as calls any
worker can take (:mod:`mchmc.batch.volumecalls`): one per page (an image
entry, a PDF page's image), then one that writes the volume. The driver's side
(which makes these calls and commits what comes back) is
:mod:`mchmc.batch.driver.volumes`; the format's own reading and writing is
:mod:`mchmc.containers.members`.

A page call copies its entry out of the volume, by index, into a file of its
own beside where its output will wait, ``DST/.mchmc/containers/<volume>/``;
then the worker processes that file exactly as a loose page
(:meth:`~mchmc.batch.worker.pageworker.PageWorker.process`: the same reader,
limits, noise choice, upscaler and writer), so a page comes out
byte-identical to the same page upscaled loose (a PDF page's image keeps its
own format whatever ``--format`` says: it goes back into the PDF as a stream).
Its record and messages name the entry (``vol01.cbz!/003.jpg``,
``doc.pdf!/page-003``), never the temporary. ``mchmc classify`` writes
nothing under any DST: its copies go to a private temporary folder.

The assemble call streams the volume into a temporary beside its output; the
driver renames it once the volume is in the ledger, as it does a loose page.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from mchmc.batch.plan import Job
from mchmc.batch.records import CONTAINER, PageRecord
from mchmc.batch.report import thumbs
from mchmc.batch.volumecalls import AssembleCall, MemberCall
from mchmc.batch.worker.guard import guarded
from mchmc.containers.members import entry_file, write_volume


def run_member(worker, call: MemberCall) -> PageRecord:
    """One page of a volume -> its record (never raises for a bad page)."""
    t0 = time.perf_counter()
    record = PageRecord(input=str(call.job.src), worker=worker.tag)

    def work():
        nonlocal record
        options = worker.options
        with entry_file(call.volume, call.entry, call.page_file, options.max_pixels, options.max_bytes,
                        options.root) as tmp, _own_format(worker, call.keeps_format):
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
        tmp = write_volume(job.src, job.dst, call.pages, options.max_pixels, staged=options.staged, root=options.root)
        if tmp is not None:
            record.staged = str(tmp)

    err = guarded(job, work)
    if err:
        record.status, record.error = "error", err
    record.seconds = time.perf_counter() - t0
    return record


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
