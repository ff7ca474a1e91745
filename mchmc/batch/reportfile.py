"""The report files of a batch run: the JSONL streamed as pages finish, and the
CSV written from it at the end (records: :mod:`mchmc.batch.records`)."""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path

from mchmc.batch.records import PageRecord, read_jsonl
from mchmc.fsutil import atomic_write
from mchmc.modelconfig import CATEGORIES


class ReportWriter:
    """Append-only JSONL report; ``close()`` also writes the CSV."""

    def __init__(self, jsonl: str | os.PathLike, append: bool = False):
        self.path = Path(jsonl)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a" if append else "w", encoding="utf-8")

    def write(self, record: PageRecord) -> None:
        self._file.write(json.dumps(record.to_dict()) + "\n")  # ensure_ascii: surrogates escaped, never raised
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self, csv_path: str | os.PathLike | None = None) -> Path:
        if not self._file.closed:
            self._file.close()
        csv_path = Path(csv_path) if csv_path else report_paths(self.path)[1]
        write_csv(read_jsonl(self.path), csv_path)
        return csv_path

    def __enter__(self) -> "ReportWriter":
        return self

    def __exit__(self, *exc) -> None:
        if not self._file.closed:
            self.close()


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



CSV_COLUMNS = ["input", "output", "status", "error", "category", *[f"p_{c}" for c in CATEGORIES],
               "noise", "noise_reason", "input_width", "input_height", "seconds", "worker", "notes"]


def write_csv(records: Iterable[PageRecord], path: str | os.PathLike) -> None:
    """Stream ``records`` into a CSV at ``path`` (atomic; valid UTF-8 whatever the file names)."""
    with atomic_write(path) as tmp, open(tmp, "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in records:
            probs = [f"{p:.6f}" for p in r.probs] or [""] * len(CATEGORIES)
            w.writerow([r.input, r.output, r.status, r.error, r.category, *probs, r.noise, r.noise_reason,
                        r.width, r.height,
                        f"{r.seconds:.3f}", r.worker, "; ".join(r.notes)])


