"""What a batch run shows while it works: the start-up line, then a progress bar
on a terminal, or, when stdout is a log file or a pipe, a plain line every few
seconds (done/total, MP/s, failures) so the logs of a long run show life.
Page errors go to stderr, one line each, as they happen."""
from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

LOG_EVERY_S = 5.0  # plain progress lines: at most one per this many seconds...
LOG_EVERY_PAGES = 500  # ...or per this many pages, whichever comes first


class PageProgress:
    def __init__(self, console: Console, err: Console, total: int, t0: float):
        self.console, self.err, self.total, self.t0 = console, err, total, t0
        self.tty = console.is_terminal
        self.bar: Progress | None = None
        self.t_work = self.t_last = None
        self.last_line, self.last_done, self.mp = 0.0, 0, 0.0

    def started(self, info: dict, seen) -> None:
        self.t_work = time.perf_counter()
        workers = info["workers"]
        what = f"workers: {', '.join(workers)}" if workers else "nothing to do, no workers started"
        if info.get("network"):  # the split pipeline: the network runs in these services, not in the workers
            what += f"; network: {', '.join(info['network'])}"
        extra = []
        if seen.ignored:
            extra.append(f"{seen.ignored} non-image file(s) ignored")
        if seen.symlink_count:
            extra.append(f"{seen.symlink_count} symlink(s) inside SRC not followed")
        if info.get("stale"):
            extra.append(f"{info['stale']} temporary file(s) of an interrupted run removed")
        self.console.print(f"start-up {self.t_work - self.t0:.1f} s; {self.total} page file(s); {what}"
                           + "".join(f"; {e}" for e in extra))
        if self.tty:
            self.bar = Progress(TextColumn("[bold]pages"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[mps]:.2f} MP/s"), TextColumn("{task.fields[failed]} failed"),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=self.console, transient=False)
            self.task = self.bar.add_task("pages", total=self.total, mps=0.0, failed=0)
            self.bar.start()
        self.last_line = self.t_work

    def record(self, rec, tally) -> None:
        from mchmc.errors import shown

        if rec.status in ("error", "conflict"):
            self.err.print(f"{rec.status}: {shown(rec.error)}", soft_wrap=True, markup=False)
        now = self.t_last = time.perf_counter()
        self.mp = tally.megapixels
        failed = tally.status["error"] + tally.status["conflict"]
        mps = tally.megapixels / max(now - (self.t_work or now), 1e-6)
        if self.bar is not None:
            self.bar.update(self.task, completed=tally.pages, mps=mps, failed=failed)
        elif self.t_work is not None and now - self.last_line >= LOG_EVERY_S or tally.pages - self.last_done >= LOG_EVERY_PAGES \
                or tally.pages == self.total:
            self.last_line, self.last_done = now, tally.pages
            self.console.print(f"pages {tally.pages}/{self.total}, {mps:.2f} MP/s, {failed} failed, "
                               f"{now - (self.t_work or now):.0f} s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def done(self, outcome) -> None:
        if self.t_work is None or not outcome.summary.by_status["ok"]:
            return
        work = max((self.t_last or self.t_work) - self.t_work, 1e-6)
        self.console.print(f"done: {self.mp:.2f} MP (input) in {work:.1f} s of work = {self.mp / work:.2f} MP/s; "
                           f"start-up {self.t_work - self.t0:.1f} s; total {time.perf_counter() - self.t0:.1f} s")
