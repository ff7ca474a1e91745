"""The batch driver: a checked plan in, every page's record out, nothing lost.

    prepare(...)  -> Prepared    # plan checked (mchmc.batch.plan), DST writable, report path free: or a RunError
                                 # (mchmc.batch.driver.prepare)
    run(prep, start_pool, ...)   # DST locked, stale temporaries removed, pages decided, fed, committed

For every planned page the driver decides, before any work:

- *todo*: no output yet, or ``--overwrite``;
- *skipped*: the ledger (:mod:`mchmc.batch.ledger`) shows this input became this
  output; its earlier record (category, probabilities) is carried over;
- *conflict*: some other file sits at the output name; left alone, reported;
- *failed-earlier*: the ledger shows this input, unchanged, failed in an earlier run:
  reported with that run's reason, not retried unless ``--retry-failed`` (or
  ``--overwrite``). A volume written with pages that failed is skipped, its
  failed pages counted as failed earlier; retried, only those pages are redone.

These decisions (and the dry run's list of them) are :mod:`mchmc.batch.driver.decide`.

The pool (Ray actors, :mod:`mchmc.batch.pool.pool`) is started only when the first todo
page is met, so a re-run with nothing to do starts no workers. Workers write
each output under a temporary name; the driver enters it in the ledger and
then renames it into place, so an output under its final name is always one a
run recorded, and a crash at any instant leaves either a recorded output or
none. Every record is streamed to the report as it arrives; counts are kept in
a :class:`~mchmc.batch.records.Tally`, so memory is flat in the number of pages.

A page whose worker process dies (segfault, OOM kill) is retried on a fresh
worker up to ``MAX_ATTEMPTS`` times, then recorded as an error; the run goes on.
What the pool is fed next is :mod:`mchmc.batch.driver.feed`; a container (a CBZ /
ZIP volume, a scanned PDF) is spread over the pool page by page and written
back whole (:mod:`mchmc.batch.driver.volumes`).

Stopping (:class:`Stop`, set by the CLI's SIGINT handler): no new page is fed;
pages already in flight have ``grace`` seconds to come back, the rest are
dropped (their temporaries removed); every finished page is recorded.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mchmc.batch.bands import BandCall, BandResult, FinishCall, redo_lost
from mchmc.batch.driver.decide import decision
from mchmc.batch.driver.feed import Feed, key, method
from mchmc.batch.driver.prepare import Prepared
from mchmc.batch.driver.volumes import Volumes
from mchmc.batch.ledger import Ledger, Stamp
from mchmc.batch.options import BatchOptions
from mchmc.batch.plan import Job, Seen
from mchmc.batch.records import CONTAINER, CONTAINER_FIELDS, FAILED_EARLIER, PageRecord, Summary, Tally
from mchmc.batch.report import htmlreport
from mchmc.batch.report.reportfile import ReportWriter
from mchmc.batch.volumecalls import AssembleCall, MemberCall
from mchmc.containers.formats import is_container
from mchmc.errors import FileError
from mchmc.fsutil import STATE_DIR, UnsafePath, real_folder, remove_own_temporaries, remove_stale_temporaries
from mchmc.locks import FolderLock

MAX_ATTEMPTS = 3  # a page whose worker dies this many times is recorded as an error
INTERRUPTED = 130  # exit code after Ctrl-C, as a shell reports SIGINT


class Stop:
    """Set once to stop feeding pages; in-flight pages then have ``grace`` seconds."""

    def __init__(self, grace: float = 5.0):
        self.grace, self._event, self.at = grace, threading.Event(), None

    def set(self) -> None:
        if not self._event.is_set():
            self.at = time.monotonic()
            self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def abandon(self) -> bool:
        """True once the grace period after the stop has run out."""
        return self.at is not None and time.monotonic() - self.at > self.grace


@dataclass
class Outcome:
    summary: Summary
    report: Path
    csv: Path
    seen: Seen
    workers: list[str] = field(default_factory=list)
    interrupted: bool = False
    stale: int = 0

    @property
    def exit_code(self) -> int:
        return INTERRUPTED if self.interrupted else self.summary.exit_code


def run(prep: Prepared, start_pool: Callable[[BatchOptions], object], *, stop: Stop | None = None,
        on_start: Callable[[dict], None] | None = None,
        on_record: Callable[[PageRecord, Tally], None] | None = None) -> Outcome:
    """Run the prepared plan. ``start_pool(options)`` returns a ready
    :class:`~mchmc.batch.pool.pool.Pool` of ``PageWorker``; it is called at most once, only
    if some page needs work, and the pool is shut down before this returns."""
    stop = stop or Stop()
    root = prep.plan.root
    lock = FolderLock(root, prep.kind).acquire() if prep.writes else None
    try:
        with ReportWriter(prep.report, prep.csv) as writer:  # a linked or busy report: refused before any work
            stale = remove_stale_temporaries(root) if prep.writes else 0
            ledger = Ledger(root) if prep.writes else None
            try:
                loop = _Loop(prep, ledger, writer, stop, on_record)
                workers = loop.run(start_pool, lambda info: on_start and on_start({**info, "stale": stale}))
            finally:
                if ledger:
                    ledger.close()
                if prep.writes and stop.requested:
                    remove_own_temporaries(root)
        htmlreport.for_run(prep)  # mchmc-report.html beside the JSONL and CSV, from the folded report
    finally:
        if lock:
            lock.release()
    return Outcome(loop.tally.summary(), prep.report, prep.csv, prep.seen, workers, stop.requested, stale)


class _Loop:
    """One run's state: the tally, the in-flight inputs' stamps, band bookkeeping, retries."""

    def __init__(self, prep: Prepared, ledger: Ledger | None, writer: ReportWriter, stop: Stop, on_record):
        self.prep, self.opts, self.ledger, self.writer, self.stop = prep, prep.options, ledger, writer, stop
        self.on_record = on_record
        self.tally = Tally()
        self.stamps: dict[Path, tuple[Job, Stamp | None]] = {}  # fed, not yet recorded: input as it was when fed
        self.attempts: dict[tuple, int] = {}  # in-flight calls whose worker died
        self.pending: dict[Path, list[BandResult]] = {}  # big page -> bands back so far
        self.failed: set[Path] = set()  # big pages already reported failed (later bands dropped)
        self.ready: deque = deque()  # calls to feed before the next planned page
        self.actors = 0
        self.volumes = Volumes(self.opts, prep.plan.root, ledger, record=self.make_record, emit=self.emit,
                               finish=self.finish, fed=self.fed, submit=self.ready.append)  # CBZ / ZIP volumes, PDFs

    # ------------------------------------------------------------------ records
    def emit(self, record: PageRecord) -> None:
        self.writer.write(record)
        self.tally.add(record)
        if self.on_record:
            self.on_record(record, self.tally)

    def fed(self, job: Job, stamp: Stamp | None) -> None:
        """``job`` goes to the pool: its input's ``stamp`` (size, mtime) is what its ledger entry will say."""
        self.stamps[job.src] = (job, stamp)

    def make_record(self, job: Job, status: str, error: str = "", earlier: dict | None = None) -> PageRecord:
        rec = PageRecord(input=str(job.src), output="" if self.opts.classify_only else str(job.dst), status=status,
                         error=error, kind=CONTAINER if is_container(job.src) else "")
        if earlier:
            for name in ("category", "probs", "width", "height", "notes", "noise", "noise_reason", "model",
                         *CONTAINER_FIELDS):
                if name in earlier:
                    setattr(rec, name, earlier[name])
        return rec

    # ------------------------------------------------------------------ deciding
    def decide(self) -> Iterator[Job]:
        """The planned jobs that need work; skips and conflicts are recorded on the way."""
        for job in self.prep.plan.jobs():
            if self.stop.requested:
                return
            action, earlier = decision(job, self.ledger, self.opts.overwrite, self.opts.retry_failed) \
                if self.prep.writes else ("todo", None)
            if action == "skipped":
                self.emit(self.make_record(job, "skipped", earlier=earlier))
            elif action == FAILED_EARLIER:
                self.emit(self.make_record(job, FAILED_EARLIER, earlier["error"] or str(FileError(
                    job.src, "failed in an earlier run")), earlier))
            elif action == "conflict":
                self.emit(self.make_record(job, "conflict", str(FileError(
                    job.dst, "a file this run did not make is already here (no record of it in "
                             f"{STATE_DIR}/); left alone: move it away, or use --overwrite to replace it"))))
            else:
                yield job

    def run(self, start_pool, on_start) -> list[str]:
        """Decide, and start the pool at the first page that needs work (none: no pool)."""
        todo = self.decide()
        first = next(todo, None)
        if first is None:
            on_start({"workers": [], "pages": self.prep.pages})
            return []
        pool = start_pool(self.opts)
        try:
            self.actors = len(pool.names)
            on_start({"workers": list(pool.names), "pages": self.prep.pages,
                      "network": list(getattr(pool, "service_names", []))})  # the split pipeline's services

            def chained():
                yield first
                yield from todo

            for call, result in pool.map(method, Feed(self, chained()), solo=lambda c: key(c) in self.attempts,
                                         abandon=self.stop.abandon):
                self.handle(call, result)
            if not self.stop.requested:  # a safety net: every page fed gets a record, whatever happened
                for job, _ in list(self.stamps.values()):
                    self.finish(job, self.make_record(job, "error", str(FileError(
                        job.src, "no result came back from the workers; run the command again"))), remember=False)
            return list(pool.names)
        finally:
            pool.shutdown()  # before the run removes its temporaries: no worker writes after that

    # ------------------------------------------------------------------ results
    def handle(self, call, result) -> None:
        from mchmc.batch.pool.pool import CallFailed

        job = call if isinstance(call, Job) else call.job
        if isinstance(result, CallFailed):
            if self.stop.requested:
                return  # interrupted: the page is dropped, not failed
            if result.died and self._retry(call):
                return
            reason = result.reason if not result.died else \
                f"its worker died {MAX_ATTEMPTS} times on this page (crash or out of memory); last: {result.reason}"
            result = BandResult(job, None, None, error=str(FileError(job.src, reason))) \
                if isinstance(call, BandCall) else self.make_record(job, "error", str(FileError(job.src, reason)))
        self.attempts.pop(key(call), None)
        if isinstance(call, (MemberCall, AssembleCall)):
            self.volumes.back(call, result)
        elif isinstance(result, PageRecord):
            if not (isinstance(call, FinishCall) and redo_lost(self, call, result, MAX_ATTEMPTS)):
                self.finish(job, result)
        else:
            self.band_back(call, result)

    def _retry(self, call) -> bool:
        k = key(call)
        self.attempts[k] = self.attempts.get(k, 1) + 1
        if self.attempts[k] > MAX_ATTEMPTS:
            return False
        self.ready.append(call)
        return True

    def band_back(self, call: BandCall, result: BandResult) -> None:
        job = call.job
        if job.src in self.failed:
            return
        if result.error:
            self.failed.add(job.src)
            self.pending.pop(job.src, None)
            self.finish(job, self.make_record(job, "error", result.error))
            return
        got = self.pending[job.src]
        got.append(result)
        if len(got) == call.parts:
            del self.pending[job.src]
            workers = ",".join(sorted({r.worker for r in got}))
            self.ready.append(FinishCall(job, got[0].meta, tuple(r.band for r in got), sum(r.seconds for r in got),
                                         workers))

    def finish(self, job: Job, record: PageRecord, dst: Path | None = None, remember: bool = True) -> None:
        """Commit a page: ledger entry, then the rename into place (``job.dst``, or
        ``dst`` where the page waits for its volume), then the report. A page that failed is
        remembered as failed (not with ``remember=False``: a failure of the run, not of the page)."""
        stamp, dst = self.stamps.pop(job.src, (job, None))[1], dst or job.dst
        if record.status == "error" and remember and stamp and self.ledger is not None:
            self.ledger.record_failure(job.src, stamp, record.to_dict())
        if record.staged:
            staged, record.staged = record.staged, ""
            try:
                if record.status == "ok":
                    real_folder(Path(dst).parent, self.prep.plan.root)  # no folder became a link since it was staged
                    self.ledger.record(job.src, stamp or Stamp(-1, -1), dst, staged, record.to_dict())
                    os.replace(staged, dst)
            except UnsafePath as err:
                record.status, record.error = "error", str(err)
            except OSError as err:
                record.status, record.error = "error", str(FileError(dst, f"cannot write: {err.strerror or err}"))
            finally:
                Path(staged).unlink(missing_ok=True)
        self.emit(record)
