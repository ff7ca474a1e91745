"""The per-page report of a batch run.

Records are appended to a JSONL file as pages finish (flushed and fsynced, so a
crash keeps every page already reported); at the end the same records are
written as CSV beside it, and :func:`summarise` gives the per-category counts
the terminal table shows.
"""
from __future__ import annotations

import csv
import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .model import CATEGORIES

STATUSES = ("ok", "skipped", "error")


@dataclass
class PageRecord:
    """One input file's outcome (a multi-page TIFF is one record)."""

    input: str
    output: str = ""
    status: str = "ok"  # ok | skipped | error
    error: str = ""
    category: str = ""
    probs: list[float] = field(default_factory=list)  # in CATEGORIES order
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    worker: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


class ReportWriter:
    """Append-only JSONL report; ``close()`` also writes the CSV."""

    def __init__(self, jsonl: str | os.PathLike, append: bool = False):
        self.path = Path(jsonl)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a" if append else "w", encoding="utf-8")
        self.records: list[PageRecord] = []

    def write(self, record: PageRecord) -> None:
        self.records.append(record)
        self._file.write(json.dumps(asdict(record)) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self, csv_path: str | os.PathLike | None = None) -> Path:
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


def read_jsonl(path: str | os.PathLike) -> list[PageRecord]:
    """Records of a (possibly crashed) run; a torn last line is ignored."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            out.append(PageRecord(**json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            continue
    return out


def write_csv(records: list[PageRecord], path: str | os.PathLike) -> None:
    cols = ["input", "output", "status", "error", "category", *[f"p_{c}" for c in CATEGORIES],
            "width", "height", "seconds", "worker"]
    tmp = Path(path).with_suffix(".csv.part")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in records:
            probs = [f"{p:.6f}" for p in r.probs] or [""] * len(CATEGORIES)
            w.writerow([r.input, r.output, r.status, r.error, r.category, *probs, r.width, r.height,
                        f"{r.seconds:.3f}", r.worker])
    os.replace(tmp, path)


@dataclass(frozen=True)
class Summary:
    pages: int
    by_status: dict[str, int]
    by_category: dict[str, int]
    errors: list[tuple[str, str]]  # (input, reason)
    megapixels: float
    seconds: float

    @property
    def exit_code(self) -> int:
        """0 when every page succeeded or was skipped, 1 when any failed."""
        return 1 if self.by_status.get("error", 0) else 0


def summarise(records: list[PageRecord]) -> Summary:
    status = Counter(r.status for r in records)
    cats = Counter(r.category for r in records if r.status == "ok" and r.category)
    return Summary(
        pages=len(records),
        by_status={s: status.get(s, 0) for s in STATUSES},
        by_category={c: cats.get(c, 0) for c in CATEGORIES},
        errors=[(r.input, r.error) for r in records if r.status == "error"],
        megapixels=sum(r.megapixels for r in records if r.status == "ok"),
        seconds=sum(r.seconds for r in records),
    )
