"""The HTML report's data: the JSONL records (:mod:`mchmc.batch.records`) as
the compact table the page's script reads (:mod:`mchmc.batch.report.htmlreport`).

Every page is one row (a list, in :data:`COLUMNS` order; its folder and volume
as indices into lists of their own, so 20,000 rows stay a few MB). Names are
shown relative to the folder every input lies in; links are relative to the
report's folder, every path segment percent-encoded (a file name is data, never
markup or a scheme: ``javascript:x.png`` is the relative link
``javascript%3Ax.png``). The "review first" lists are made here, once:
categories by their mean confidence, the least confident pages, the pages
whose category is not their volume's (or loose pages: their folder's) majority,
and every failure with its one-line reason.
"""
from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

from mchmc.batch.records import CONTAINER, UNCATEGORISED, PageRecord, Tally
from mchmc.batch.report import thumbs
from mchmc.containers.entry import SEPARATOR

COLUMNS = ("name", "folder", "volume", "status", "category", "conf", "probs", "noise", "noise_reason", "width",
           "height", "seconds", "error", "notes", "before", "after", "thumb", "odd")
LOWEST = 25  # pages in the "least confident" list
MIN_GROUP = 3  # a volume or folder needs this many categorised pages to have a majority worth comparing with
LISTED = 200  # entries a review list shows (the table's filters show them all)


class _Links:
    """Links relative to ``base``, worked out once per folder: 20,000 pages lie in a few hundred folders."""

    def __init__(self, base: Path):
        self.base = str(base)
        self._links: dict[str, str] = {}

    def href(self, path: str) -> str:
        """A relative link from ``base`` to ``path``, each segment percent-encoded (its bytes, so a name
        that is not UTF-8 still names the file)."""
        folder, name = os.path.split(path)
        prefix = self._links.get(folder)
        if prefix is None:
            rel = os.path.relpath(folder or ".", self.base)
            prefix = self._links[folder] = "" if rel == "." else \
                "/".join(quote(os.fsencode(seg), safe="") for seg in rel.split(os.sep)) + "/"
        return prefix + quote(os.fsencode(name), safe="")


def href(path: str, base: Path) -> str:
    """A relative link from ``base`` to ``path``, each segment percent-encoded."""
    return _Links(base).href(path)


def _shortener(folders: Iterable[str]):
    """(root, shorten): the folder every page lies in, and a path shown relative to it."""
    try:
        root = os.path.commonpath(list(folders))
    except ValueError:  # none, or relative and absolute paths mixed
        return "", lambda p: p
    prefix = root.rstrip(os.sep) + os.sep
    return root, lambda p: "." if p == root else p[len(prefix):] if p.startswith(prefix) else p


def _confidence(r: PageRecord) -> float | None:
    return round(max(r.probs.values()), 4) if r.probs else None


def _page_row(r: PageRecord, paths: _Links, thumbs_made: set[str], thumbs_href: str, intern) -> list:
    """The page's row, its name and folder still whole paths (``payload`` shortens them)."""
    name = r.input
    volume, sep, _ = name.partition(SEPARATOR)
    done = r.status in ("ok", "skipped")
    loose = not sep
    thumb = None
    if done and r.output and thumbs_made:
        made = thumbs.key(r.output) + ".jpg"
        thumb = thumbs_href + made if made in thumbs_made else None
    return [name, intern("folders", os.path.dirname(volume if sep else name)),
            intern("volumes", volume if sep else ""), r.status, (r.category or UNCATEGORISED) if done else "",
            _confidence(r), r.probs, r.noise, r.noise_reason, r.width, r.height, round(r.seconds, 3), r.error,
            r.notes, paths.href(r.input) if loose else None,
            paths.href(r.output) if loose and done and r.output else None, thumb, 0]


def _thumbs_made(dst: Path | None) -> set[str]:
    """The thumbnails under DST (one listing, not a look-up per page)."""
    try:
        return {e.name for e in os.scandir(dst / thumbs.FOLDER)} if dst else set()
    except OSError:
        return set()


def _volume(r: PageRecord, paths: _Links) -> dict:
    done = r.status in ("ok", "skipped") and r.output and os.path.exists(r.output)
    return {"name": r.input, "status": r.status, "pages": r.pages, "by_category": r.by_category,
            "error": r.error, "notes": r.notes, "seconds": round(r.seconds, 3),
            "before": paths.href(r.input), "after": paths.href(r.output) if done else None}


def _mark_odd(rows: list[list], volumes: list[str]) -> list[int]:
    """Flag (column ``odd``) and return the pages whose category is not their group's clear majority
    (more than half of its categorised pages): their volume's, or for a loose page its folder's."""
    c = {name: i for i, name in enumerate(COLUMNS)}
    groups: dict[tuple, Counter] = defaultdict(Counter)

    def group(row):
        return ("v", row[c["volume"]]) if volumes[row[c["volume"]]] else ("f", row[c["folder"]])

    for row in rows:
        if row[c["category"]] not in ("", UNCATEGORISED):
            groups[group(row)][row[c["category"]]] += 1
    majority = {}
    for g, counts in groups.items():
        total = sum(counts.values())
        top, n = counts.most_common(1)[0]
        if total >= MIN_GROUP and n * 2 > total:
            majority[g] = top
    odd = []
    for i, row in enumerate(rows):
        top = majority.get(group(row))
        if top and row[c["category"]] not in ("", UNCATEGORISED, top):
            row[c["odd"]] = 1
            odd.append(i)
    return odd


def _category_confidence(rows: list[list]) -> list[dict]:
    """Each category's pages and mean / lowest confidence, least confident first."""
    c = {name: i for i, name in enumerate(COLUMNS)}
    confs: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row[c["conf"]] is not None and row[c["category"]]:
            confs[row[c["category"]]].append(row[c["conf"]])
    out = [{"category": cat, "pages": len(v), "mean": round(sum(v) / len(v), 4), "min": min(v)}
           for cat, v in confs.items()]
    return sorted(out, key=lambda d: (d["mean"], d["category"]))


def payload(records: Iterable[PageRecord], base: str | os.PathLike, dst: str | os.PathLike | None,
            run: dict | None = None) -> dict:
    """Everything the page shows, from a run's records; ``base``: the report's folder (links are
    relative to it); ``dst``: the run's DST, where the thumbnails are (None: a classify run). One pass,
    holding rows, not records; names are shown relative to the folder every input lies in."""
    base, dst = Path(base), Path(dst) if dst is not None else None
    tally = Tally()
    names: dict[str, dict[str, int]] = {"folders": {}, "volumes": {"": 0}}

    def intern(kind: str, value: str) -> int:
        return names[kind].setdefault(value, len(names[kind]))

    paths, made = _Links(base), _thumbs_made(dst)
    thumbs_href = paths.href(str(dst / thumbs.FOLDER / "x"))[:-1] if made else ""
    rows, vols = [], []
    for r in records:
        tally.add(r)
        if r.kind == CONTAINER:
            vols.append(_volume(r, paths))
            intern("folders", os.path.dirname(r.input))
        else:
            rows.append(_page_row(r, paths, made, thumbs_href, intern))
    root, short = _shortener(names["folders"])
    c = {name: i for i, name in enumerate(COLUMNS)}
    for row in rows:
        row[c["name"]] = short(row[c["name"]])
    for v in vols:
        v["name"] = short(v["name"])
    folders, volumes = [short(f) for f in names["folders"]], ["", *map(short, list(names["volumes"])[1:])]
    odd = _mark_odd(rows, volumes)
    scored = sorted((i for i, row in enumerate(rows) if row[c["conf"]] is not None),
                    key=lambda i: (rows[i][c["conf"]], rows[i][c["name"]]))
    failed = [i for i, row in enumerate(rows) if row[c["status"]] in ("error", "conflict")]
    s = tally.summary()
    summary = {"pages": s.pages, "by_status": s.by_status, "by_category": s.by_category, "by_noise": s.by_noise,
               "failed": s.by_status["error"] + s.by_status["conflict"], "seconds": round(s.seconds, 1),
               "megapixels": round(s.megapixels, 2), "volumes": s.containers, "documents": s.documents}
    return {"run": run or {}, "root": root, "categories": tally.categories, "summary": summary,
            "columns": list(COLUMNS), "rows": rows, "folders": folders, "volumes": volumes, "volume_records": vols,
            "review": {"categories": _category_confidence(rows), "lowest": scored[:LOWEST], "odd": odd[:LISTED],
                       "odd_total": len(odd), "failed": failed[:LISTED], "failed_total": len(failed),
                       "failed_volumes": [i for i, v in enumerate(vols) if v["status"] in ("error", "conflict")]}}
