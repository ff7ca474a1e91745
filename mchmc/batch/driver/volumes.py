"""A container in a batch run (a CBZ / ZIP volume or a scanned PDF): its pages
spread over the whole pool, resumable page by page, then written back as one
container.

The driver (:mod:`mchmc.batch.driver.loop`) hands every planned volume that needs
work to :class:`Volumes`, which knows the run only through what it is given:
the options, DST's root, the ledger, and the driver's functions that make,
emit and commit a record, note a call in flight and queue a call. What
differs between formats is behind :func:`mchmc.containers.formats.handler`:

- :meth:`~Volumes.open` reads and checks the volume (a ZIP's central
  directory, :mod:`mchmc.containers.zipvolume`: encrypted, ZIP bomb, zip-slip
  names; a PDF's pages, :mod:`mchmc.containers.pdf`: encrypted, which pages are
  plain images); a refused volume is one error record and nothing is
  written. A PDF without a single plain image page is skipped, with a note.
- :meth:`~Volumes.next_call` feeds its pages one call at a time (lazily:
  the pool's backpressure applies, a stop stops them), so a volume of
  hundreds of pages keeps every worker busy, not one. A page an earlier run
  finished is reported ``skipped``, not redone.
- :meth:`~Volumes.back` commits each page exactly as a loose page is
  committed: entered in the ledger (key ``SRC/vol01.cbz!/003.jpg``; its
  evidence is the volume's size and mtime), then renamed to its place under
  ``DST/.mchmc/containers/<volume>/``, named by entry index. A killed run
  resumes from those. When the last page is back, one more call writes the
  volume (:class:`~mchmc.batch.volumecalls.AssembleCall`); once the volume is
  committed its pages and their ledger rows go.
- A page that fails (cannot be decoded, kills its worker three times) is its
  own error record; the volume is still written, that entry (a PDF: that
  page) left as it was, and the volume's record says so. Its finished pages
  then stay waiting (and in the ledger), so ``--retry-failed`` redoes only the
  pages that failed and writes the volume again.

The volume's own record (kind ``container``) sums its pages: how many, how
many per category (a manga volume with text pages says so), the mean
probabilities; ``mchmc classify`` gives the same, writing nothing. Memory: a
volume in flight costs its entries' names and a few counters; pixels live only
in the workers, one page per call.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from mchmc.batch.ledger import Ledger, Stamp
from mchmc.batch.options import BatchOptions
from mchmc.batch.plan import Job
from mchmc.batch.records import UNCATEGORISED, PageRecord
from mchmc.batch.volumecalls import AssembleCall, MemberCall
from mchmc.containers.entry import IMAGE, Entry, listed
from mchmc.containers.formats import handler
from mchmc.containers.members import member_names
from mchmc.errors import FileError, MchmcError
from mchmc.fsutil import STATE_DIR, real_folder, remove_own_temporaries
from mchmc.modelconfig import CATEGORIES

PAGES_DIR = "containers"  # under DST/.mchmc/: finished pages waiting for their volume


@dataclass
class _Volume:
    """One volume in flight: what is left to feed, what came back."""

    job: Job
    fmt: ModuleType  # the module reading and writing its format (mchmc.containers.formats.handler)
    stamp: Stamp | None  # the volume's size and mtime when it was fed: its pages' evidence
    folder: Path | None  # where its pages wait (None: classify)
    todo: Iterator[Entry]  # image entries not fed yet
    pages: int  # image entries
    notes: list[str]
    seen: set[str] = field(default_factory=set)  # entry names met (a repeated name gets its index)
    waiting: int = 0  # pages fed, not back
    fed: bool = False  # every page fed, or found finished
    done: list[tuple[int, str, str]] = field(default_factory=list)  # (index, output name, page file)
    keys: list[Path] = field(default_factory=list)  # ledger keys of its finished pages
    copied: list[str] = field(default_factory=list)  # pages that failed: copied unchanged
    status: Counter = field(default_factory=Counter)
    categories: Counter = field(default_factory=Counter)
    probs: Counter = field(default_factory=Counter)  # sums per category, of the pages that have them
    probs_n: int = 0


class Volumes:
    """The volumes of one run (see the module doc). ``ledger``: None when the run writes nothing
    (classify); ``record(job, status, error="", earlier=None)`` makes a record, ``emit(record)``
    reports one, ``finish(job, record, dst=None)`` commits one, ``fed(job, stamp)`` notes a page
    call in flight with its input's stamp, ``submit(call)`` queues a call for the pool."""

    def __init__(self, options: BatchOptions, root: Path, ledger: Ledger | None, *,
                 record: Callable[..., PageRecord], emit: Callable[[PageRecord], None],
                 finish: Callable[..., None], fed: Callable[[Job, Stamp | None], None],
                 submit: Callable[[AssembleCall], None]):
        self.opts, self.root, self.ledger = options, root, ledger
        self.record, self.emit, self.finish, self.fed, self.submit = record, emit, finish, fed, submit
        self.in_flight: dict[Path, _Volume] = {}
        self.current: _Volume | None = None  # the volume whose pages are being fed

    def open(self, job: Job, stamp: Stamp | None) -> None:
        """Check ``job``'s volume (``stamp``: its size and mtime now) and make it the one fed next
        (or record why not)."""
        fmt = handler(job.src)
        try:
            found = fmt.entries(job.src, self.opts.max_pixels)
        except (MchmcError, OSError) as err:
            self._refused(job, err, job.src, "read")
            return
        digest = hashlib.sha256(os.fsencode(os.path.abspath(job.dst))).hexdigest()[:16]  # one folder per output
        folder = None if self.opts.classify_only else self.root / STATE_DIR / PAGES_DIR / digest
        images = [e for e in found if e.kind == IMAGE]
        notes = fmt.entry_notes(found, self.opts.classify_only)
        if not images and fmt.EMPTY_SKIPPED:
            record = self.record(job, "skipped")
            nothing = "nothing to classify" if self.opts.classify_only else "nothing to upscale, not written"
            record.output, record.notes = "", [f"no page is a plain image: {nothing}", *notes]
            self.finish(job, record)
            return
        try:  # made here, real: a planted DST/.mchmc/containers/<digest> link would receive (and replace) its pages
            if folder is not None:
                real_folder(folder, self.root)
        except (MchmcError, OSError) as err:
            self._refused(job, err, folder, "write")
            return
        vol = _Volume(job, fmt, stamp, folder, iter(images), len(images), notes)
        self.in_flight[job.src] = self.current = vol

    def _refused(self, job: Job, err: Exception, path, doing: str) -> None:
        """The volume's one error record (``path``: what could not be read or written): nothing of it is written."""
        reason = str(err) if isinstance(err, MchmcError) else str(FileError(path, f"cannot {doing}: {err.strerror or err}"))
        self.finish(job, self.record(job, "error", reason))

    def next_call(self) -> MemberCall | None:
        """The next page of the volume being fed; None once it has none left."""
        vol = self.current
        while vol is not None:
            entry = next(vol.todo, None)
            if entry is None:
                vol.fed, self.current = True, None
                self._maybe_complete(vol)
                return None
            call = self._call(vol, entry)
            earlier = None if self.opts.overwrite or self.ledger is None else \
                self.ledger.finished(call.job.src, call.page_file, vol.stamp)
            if earlier is None:
                vol.waiting += 1
                self.fed(call.job, vol.stamp)
                return call
            record = self.record(call.job, "skipped", earlier=earlier)
            self.emit(record)
            self._count(vol, call, record)
        return None

    def back(self, call: MemberCall | AssembleCall, record: PageRecord) -> None:
        """A page (committed and reported here) or the written volume came back."""
        if isinstance(call, AssembleCall):
            self._written(call, record)
            return
        vol = self.in_flight[call.volume]
        self.finish(call.job, record, call.page_file)
        vol.waiting -= 1
        self._count(vol, call, record)
        self._maybe_complete(vol)

    def _call(self, vol: _Volume, entry: Entry) -> MemberCall:
        src, dst, out_name, page_file = member_names(vol.fmt, entry, vol.job.src, vol.job.dst, self.opts.output_name,
                                                     vol.seen, vol.folder)
        return MemberCall(Job(src, dst), vol.job.src, entry, out_name, page_file, vol.fmt.KEEPS_FORMAT)

    def _count(self, vol: _Volume, call: MemberCall, record: PageRecord) -> None:
        vol.status[record.status] += 1
        if record.status not in ("ok", "skipped"):
            vol.copied.append(call.entry.name)
            return
        if call.page_file:
            vol.done.append((call.entry.index, call.out_name, str(call.page_file)))
            vol.keys.append(call.job.src)
        vol.categories[record.category or UNCATEGORISED] += 1
        if record.probs:
            vol.probs.update(record.probs)
            vol.probs_n += 1

    def _maybe_complete(self, vol: _Volume) -> None:
        """Every page back: write the volume (classify: report it)."""
        if not vol.fed or vol.waiting:
            return
        if self.opts.classify_only:
            del self.in_flight[vol.job.src]
            self.finish(vol.job, self._summarised(vol, self.record(vol.job, "ok")))
        else:
            self.submit(AssembleCall(vol.job, tuple(vol.done)))

    def _written(self, call: AssembleCall, record: PageRecord) -> None:
        """Commit the volume; once it is in place with every page upscaled, its waiting pages and their rows
        go (a page failed: they stay, so --retry-failed redoes only the pages that failed)."""
        vol = self.in_flight.pop(call.job.src)
        self.finish(call.job, self._summarised(vol, record))
        if record.status == "ok" and not vol.copied:
            self.ledger.forget(*vol.keys)
            shutil.rmtree(vol.folder, ignore_errors=True)
        elif vol.folder is not None and vol.folder.is_dir():  # a worker that died mid-page left its temporary
            remove_own_temporaries(vol.folder)

    def _summarised(self, vol: _Volume, record: PageRecord) -> PageRecord:
        """The volume's record, with its pages summed up (counts, categories, mean probabilities)."""
        record.pages = vol.pages
        order = dict.fromkeys((*vol.probs, *CATEGORIES, *vol.categories, UNCATEGORISED))  # the model's order first
        record.by_category = {c: vol.categories[c] for c in order if vol.categories[c]}
        if record.by_category:
            record.category = max(record.by_category, key=record.by_category.get)
        if vol.probs_n:
            record.probs = {c: round(p / vol.probs_n, 6) for c, p in vol.probs.items()}
        record.notes = [_pages_note(vol, self.opts.classify_only), *vol.notes, *record.notes]
        if record.by_category:
            record.notes.append("pages by category: " + ", ".join(f"{c} {n}" for c, n in record.by_category.items()))
        return record


def _pages_note(vol: _Volume, classify: bool) -> str:
    """``12 page(s): 10 upscaled now, 1 by an earlier run, 1 copied unchanged as it failed (003.jpg)``."""
    done = [(vol.status["ok"], "classified" if classify else "upscaled now"),
            (vol.status["skipped"], "by an earlier run")]
    parts = [f"{n} {what}" for n, what in done if n]
    if vol.copied:
        parts.append(f"{len(vol.copied)} " + ("failed" if classify else f"{vol.fmt.UNCHANGED} as they failed")
                     + f" ({listed(vol.copied)})")
    return f"{vol.pages} page(s)" + (": " + ", ".join(parts) if parts else "")
