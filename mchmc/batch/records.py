"""The per-page report of a batch run: its records, how they are read back, and
the tally that sums them up (the files themselves: :mod:`mchmc.batch.report.reportfile`).

A record read back is checked field by field (:meth:`PageRecord.from_dict`):
a report or ledger row of the wrong shape is no record at all, never a crash
later. Older reports' ``probs`` (a list in category order) read as today's
(by category name). :class:`Tally` counts as records go by, so the
summary (pages per status and category, first failures) costs the same memory
for ten pages or a million.

File names that are not UTF-8 (``os.fsdecode`` gives them surrogate escapes)
are kept exact in the JSONL (JSON escapes them) and shown with backslash
escapes in the CSV, which must be valid UTF-8 for a spreadsheet to open it.
"""
from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields

from mchmc.containers.formats import is_document
from mchmc.modelconfig import CATEGORIES

# ok: upscaled now; skipped: the ledger shows this input's output finished earlier;
# conflict: a file this run did not make sits at the output name (left alone);
# error: the page failed in this run (the reason names the file);
# failed-earlier: it failed in an earlier run and its input is unchanged: not retried without --retry-failed
FAILED_EARLIER = "failed-earlier"
STATUSES = ("ok", "skipped", "conflict", "error", FAILED_EARLIER)
CONTAINER = "container"  # PageRecord.kind of a volume's own record
CONTAINER_FIELDS = ("kind", "pages", "by_category")
UNCATEGORISED = "uncategorised"
MAX_LISTED_ERRORS = 50
FAILED_OLD = 3  # exit code: nothing failed now, but pages that failed in an earlier run were not retried


@dataclass
class PageRecord:
    """One input file's outcome (a multi-page TIFF is one record), or one page of
    a CBZ / ZIP volume (``vol01.cbz!/003.jpg``) or of a PDF (``doc.pdf!/page-003``),
    or (``kind`` container) the volume's or document's own."""

    input: str
    output: str = ""
    status: str = "ok"
    error: str = ""
    category: str = ""
    probs: dict[str, float] = field(default_factory=dict)  # by category name
    width: int = 0  # of the input (a multi-page file: widest page)
    height: int = 0  # of the input (a multi-page file: pages stacked)
    seconds: float = 0.0
    worker: str = ""
    notes: list[str] = field(default_factory=list)  # lossy conversions made on the way
    noise: str = ""  # the JPEG noise level each page was upscaled at (none, 0..3; a multi-page file: "none,1")
    noise_reason: str = ""  # why (``jpeg q=72 -> 1``, ``none: lossless source``); pages' distinct reasons
    model: str = ""  # the model file each page was upscaled with (its noise variant); a multi-page file: each once
    kind: str = ""  # "container": a CBZ / ZIP volume's own record (its pages have records of their own)
    pages: int = 0  # a container: its image entries
    by_category: dict[str, int] = field(default_factory=dict)  # a container: its pages per category
    staged: str = field(default="", repr=False)  # the finished temporary, until the driver renames it

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, not {self.status!r}")

    def add_noise(self, label: str, reason: str, model: str = "") -> None:
        """One more page's level and model (the record keeps each distinct one once, in page order)."""
        self.noise = ",".join(dict.fromkeys([*filter(None, self.noise.split(",")), label]))
        self.noise_reason = "; ".join(dict.fromkeys([*filter(None, self.noise_reason.split("; ")), reason]))
        if model:
            self.model = ",".join(dict.fromkeys([*filter(None, self.model.split(",")), model]))

    @property
    def failed_pages(self) -> int:
        """A volume's (or PDF's) pages that failed, and were written back unchanged (0 for a page)."""
        return max(self.pages - sum(self.by_category.values()), 0) if self.kind == CONTAINER else 0

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6

    def to_dict(self) -> dict:
        """What the report holds (not the driver's staging name; the container
        fields only on a container's record, so a page's line is as it was)."""
        d = asdict(self)
        d.pop("staged")
        if not self.kind:
            for key in CONTAINER_FIELDS:
                d.pop(key)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PageRecord":
        """A record from a report line or a ledger row; raises ValueError for anything that is not one,
        down to each field's type (unknown keys are passed over: a newer mchmc's)."""
        if not isinstance(d, dict) or not isinstance(d.get("input"), str):
            raise ValueError("not a page record")
        d = {k: v for k, v in d.items() if k in _CHECKS}
        if isinstance(d.get("probs"), list) and len(d["probs"]) in (0, len(CATEGORIES)):  # an older mchmc's
            d["probs"] = dict(zip(CATEGORIES, d["probs"]))
        for name, value in d.items():
            if not _CHECKS[name](value):
                raise ValueError(f"{name}: not a valid value ({type(value).__name__})")
        return cls(**d)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _strings(v) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _mapping(value_ok) -> Callable[[object], bool]:
    return lambda v: isinstance(v, dict) and all(isinstance(k, str) and value_ok(x) for k, x in v.items())


_CHECKS: dict[str, Callable[[object], bool]] = {
    **{f.name: (lambda v: isinstance(v, str)) for f in fields(PageRecord) if f.type == "str"},
    "status": lambda v: v in STATUSES, "probs": _mapping(_number), "width": _integer, "height": _integer,
    "seconds": _number, "notes": _strings, "pages": _integer, "by_category": _mapping(_integer)}
_CHECKS.pop("staged")


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def read_jsonl(path: str | os.PathLike, on_bad: Callable[[str], None] | None = warn) -> Iterator[PageRecord]:
    """Records of a (possibly crashed) run, streamed. A torn or foreign line
    (a crash mid-write, another tool's JSON) is passed over; ``on_bad`` hears
    once how many were."""
    bad = 0
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                yield PageRecord.from_dict(json.loads(line))
            except ValueError:  # JSONDecodeError is one
                bad += 1
    if bad and on_bad:
        on_bad(f"{path}: {bad} line(s) that are not page records ignored (torn by a crash, or not mchmc's)")


@dataclass(frozen=True)
class Summary:
    pages: int
    by_status: dict[str, int]
    by_category: dict[str, int]  # pages done now or earlier (skipped), by category; UNCATEGORISED without a head
    errors: list[tuple[str, str]]  # (input, reason), the first MAX_LISTED_ERRORS
    megapixels: float
    seconds: float
    by_noise: dict[str, int] = field(default_factory=dict)  # files upscaled now, by noise level(s) used
    containers: dict[str, int] = field(default_factory=dict)  # CBZ / ZIP volumes by status (their pages are in pages)
    documents: dict[str, int] = field(default_factory=dict)  # PDFs by status, likewise

    @property
    def exit_code(self) -> int:
        """0: every page (and container) upscaled now or earlier; 1: one failed or met a conflict in this
        run; 3 (:data:`FAILED_OLD`): none did, but pages that failed in an earlier run were not retried."""
        def count(*statuses):
            return sum(c.get(s, 0) for c in (self.by_status, self.containers, self.documents) for s in statuses)

        return 1 if count("error", "conflict") else FAILED_OLD if count(FAILED_EARLIER) else 0


class Tally:
    """Running counts over records (constant memory); :meth:`summary` freezes them."""

    def __init__(self) -> None:
        self.pages, self.megapixels, self.seconds = 0, 0.0, 0.0
        self.status: Counter = Counter()
        self.category: Counter = Counter()
        self.errors: list[tuple[str, str]] = []
        self.noise: Counter = Counter()
        self.containers: Counter = Counter()
        self.documents: Counter = Counter()
        self.names: dict[str, None] = {}  # category names in the order the records' probs give them

    @property
    def categories(self) -> list[str]:
        """The model's category names, as its records key their probabilities (issue 29: an archive's own);
        the paper's three for records without any (an older report, a model without a head)."""
        return list(self.names) or list(CATEGORIES)

    def add(self, r: PageRecord) -> None:
        self.names.update(dict.fromkeys(r.probs))
        if r.kind == CONTAINER:
            self._add_container(r)
            return
        self.pages += 1
        self.status[r.status] += 1
        self.seconds += r.seconds
        if r.status == "ok":
            self.megapixels += r.megapixels
            if r.noise:
                self.noise[r.noise] += 1
        if r.status in ("ok", "skipped"):
            self.category[r.category or UNCATEGORISED] += 1
        if r.status in ("error", "conflict", FAILED_EARLIER) and len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append((r.input, r.error))

    def _add_container(self, r: PageRecord) -> None:
        """A volume's (or PDF's) own record: its pages were counted from their records,
        except in a volume skipped whole (finished earlier), whose pages count as skipped, or, those
        that failed then (it was written with them unchanged), as failed earlier."""
        (self.documents if is_document(r.input) else self.containers)[r.status] += 1
        self.seconds += r.seconds
        if r.status == "skipped":
            self.pages += r.pages
            self.status["skipped"] += r.pages - r.failed_pages
            self.status[FAILED_EARLIER] += r.failed_pages
            self.category.update(r.by_category)
        if r.status in ("error", "conflict", FAILED_EARLIER) and len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append((r.input, r.error))

    def summary(self) -> Summary:
        cats = {c: self.category.get(c, 0) for c in self.categories}
        if self.category.get(UNCATEGORISED):
            cats[UNCATEGORISED] = self.category[UNCATEGORISED]
        return Summary(self.pages, {s: self.status.get(s, 0) for s in STATUSES}, cats, list(self.errors),
                       self.megapixels, self.seconds, dict(sorted(self.noise.items())),
                       {s: n for s, n in self.containers.items() if n}, {s: n for s, n in self.documents.items() if n})


def summarise(records: Iterable[PageRecord]) -> Summary:
    tally = Tally()
    for r in records:
        tally.add(r)
    return tally.summary()
