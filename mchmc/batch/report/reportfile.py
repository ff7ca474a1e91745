"""The report files of a batch run (records: :mod:`mchmc.batch.records`).

A run adds to the report of the runs before it: the JSONL is opened for
appending (never through a link: :func:`mchmc.fsutil.open_nofollow`) and
locked (``flock``) for the run, so a second run writing the same report is
refused in one line. Each record is appended and fsynced as it comes, so a
crash keeps it and every record before it. At the end the file is folded to
one line per page, its last record (a page is an input and its output: one
page upscaled into two folders is two), through a temporary renamed over it;
the CSV is written from the same lines. So a re-run, or another file run into
the same folder, leaves every page it did not meet as it was.
"""
from __future__ import annotations

import csv
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from mchmc.batch.records import CONTAINER, PageRecord, read_jsonl
from mchmc.errors import MchmcError
from mchmc.fsutil import atomic_write, open_nofollow, refuse_link
from mchmc.modelconfig import CATEGORIES


class ReportBusy(MchmcError):
    """Another live run is writing the same report."""


class ReportWriter:
    """The report of one run, added to the report of the runs before it (see the module doc)."""

    def __init__(self, jsonl: str | os.PathLike, csv_path: str | os.PathLike | None = None):
        self.path = Path(jsonl)
        self.csv = Path(csv_path) if csv_path else report_paths(self.path)[1]
        refuse_link(self.csv)  # replaced by a rename at the end, never written through; still not ours
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = open_nofollow(self.path, append=True)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ReportBusy(f"{self.path}: another mchmc run is writing this report; wait for it to finish "
                             "or give --report another path") from None
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, record: PageRecord) -> None:
        self._file.write(json.dumps(record.to_dict()) + "\n")  # ensure_ascii: surrogates escaped, never raised
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> Path:
        """Fold the JSONL to each page's last record and write the CSV from it; returns the CSV's path."""
        if not self._file.closed:
            try:
                self._file.flush()
                _fold(self.path, self.csv)
            finally:
                self._file.close()  # and with it the lock
        return self.csv

    def __enter__(self) -> "ReportWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _fold(jsonl: Path, csv_path: Path) -> None:
    """One line per page (its input and output), the last one written, in the order pages first came;
    then the CSV from the same lines. Through a temporary SQLite file: memory stays flat."""
    db = sqlite3.connect("")  # a private temporary database on disk, gone when closed
    try:
        db.execute("CREATE TABLE last (page TEXT PRIMARY KEY, line TEXT)")
        names: dict[str, None] = {}  # the model's category names, as the records key their probabilities
        for rec in read_jsonl(jsonl):
            names.update(dict.fromkeys(rec.probs))
            db.execute("INSERT INTO last VALUES (?, ?) ON CONFLICT(page) DO UPDATE SET line = excluded.line",
                       (json.dumps([rec.input, rec.output]), json.dumps(rec.to_dict())))

        def lines() -> Iterator[str]:
            for (line,) in db.execute("SELECT line FROM last ORDER BY rowid"):
                yield line

        with atomic_write(jsonl, fsync=True) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines())
        write_csv((PageRecord.from_dict(json.loads(line)) for line in lines()), csv_path, list(names) or None)
    finally:
        db.close()


def report_paths(report: str | os.PathLike) -> tuple[Path, Path]:
    """The (JSONL, CSV) pair behind ``--report FILE``.

    The JSONL is streamed as pages finish and the CSV written at the end, so
    they must never be the same file: ``pages.csv`` -> ``pages.jsonl`` +
    ``pages.csv``; anything else is the JSONL, with the CSV beside it."""
    path = Path(report)
    if path.suffix.lower() == ".csv":
        return path.with_suffix(".jsonl"), path
    csv_path = path.with_suffix(".csv")
    return path, csv_path if csv_path != path else path.with_name(path.name + ".csv")


def csv_columns(categories: Iterable[str] = CATEGORIES) -> list[str]:
    """The CSV's columns: a ``p_<name>`` per category of the model (issue 29: an archive's own names)."""
    return ["input", "output", "status", "error", "category", *[f"p_{c}" for c in categories],
            "noise", "noise_reason", "input_width", "input_height", "seconds", "worker", "notes",
            "kind", "model"]  # the columns added last, so an older CSV's columns keep their places


CSV_COLUMNS = csv_columns()  # the shipped models'


def write_csv(records: Iterable[PageRecord], path: str | os.PathLike, categories: list[str] | None = None) -> None:
    """Stream ``records`` into a CSV at ``path`` (atomic; valid UTF-8 whatever the file names).
    ``kind``: page, or volume (a CBZ / ZIP volume's or a PDF's own record). ``categories``: the model's
    names, as the records' probabilities are keyed (None: the shipped models' three)."""
    categories = list(categories or CATEGORIES)
    with atomic_write(path) as tmp, open(tmp, "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
        w = csv.writer(f)
        w.writerow(csv_columns(categories))
        for r in records:
            probs = [f"{r.probs[c]:.6f}" if c in r.probs else "" for c in categories]
            w.writerow([r.input, r.output, r.status, r.error, r.category, *probs, r.noise, r.noise_reason,
                        r.width, r.height, f"{r.seconds:.3f}", r.worker, "; ".join(r.notes),
                        "volume" if r.kind == CONTAINER else "page", r.model])
