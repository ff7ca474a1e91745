"""A 20,000-page HTML report in the browser (issue 31: opens and filters in under 2 s).

Writes the JSONL of a made-up run of 20,000 pages (loose pages in 40 folders,
50 CBZ volumes of 200 pages, 1% failures, every category, confidence and noise
level), a thumbnail for every page (copies of the samples' thumbnails, as the
workers would leave them), builds ``mchmc-report.html`` from it, and opens it
from disk in headless Chromium (Debian's, through Playwright). Printed: the
build time, the page's and the thumbnails' size on disk, the time from
navigation until the table is drawn, and the time of a filter by category, a
sort by confidence and a confidence range (each: the event to the table laid
out again).

    .venv/bin/python bench/html_report.py [--pages 20000] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mchmc.batch.records import CONTAINER, PageRecord
from mchmc.batch.report import thumbs
from mchmc.batch.report.htmlreport import build
from mchmc.modelconfig import CATEGORIES

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def made_up_run(dst: Path, n: int) -> Path:
    """The JSONL of an ``n``-page run under ``dst`` (half loose, half in volumes) and its thumbnails."""
    rng, src = random.Random(0), Path("/archive/scans")
    samples = [thumbs.thumbnail(np.asarray(Image.open(p).convert("RGB"))) for p in sorted((ROOT / "samples").glob("*.*"))]
    jsonl = dst / "mchmc-upscale-report.jsonl"
    folder_thumbs = dst / thumbs.FOLDER
    folder_thumbs.mkdir(parents=True)
    with open(jsonl, "w") as w:  # no fsync per record (ReportWriter's), or writing takes minutes
        volumes = {}
        for i in range(n):
            in_volume = i >= n // 2
            name = f"vol{i % 50:02d}.cbz!/{i // 50:04d}.jpg" if in_volume else f"box{i % 40:02d}/page{i:05d}.tif"
            category = CATEGORIES[rng.choices(range(3), (5, 3, 2))[0]]
            p = [rng.random() * 0.3 for _ in CATEGORIES]
            p[CATEGORIES.index(category)] += 0.4 + rng.random() * 0.6
            probs = {c: round(x / sum(p), 6) for c, x in zip(CATEGORIES, p)}
            out = str(dst / name)
            r = PageRecord(input=str(src / name), output=out, category=category, probs=probs, width=2480, height=3508,
                           seconds=rng.uniform(2, 9), worker=f"cpu{i % 16}@{1000 + i % 16}", noise=rng.choice(
                               ["none", "0", "1", "2"]), noise_reason="jpeg q=85 -> 1")
            if rng.random() < 0.01:
                r = PageRecord(input=r.input, output=out, status="error", error=f"{r.input}: truncated file")
            else:
                (folder_thumbs / f"{thumbs.key(out)}.jpg").write_bytes(samples[i % len(samples)])
            if in_volume:
                volumes.setdefault(name.split("!/")[0], []).append(r.category)
            w.write(json.dumps(r.to_dict()) + "\n")
        for v, cats in volumes.items():
            w.write(json.dumps(PageRecord(input=str(src / v), output=str(dst / v), kind=CONTAINER, pages=len(cats),
                               by_category={c: cats.count(c) for c in CATEGORIES if c in cats}).to_dict()) + "\n")
    return jsonl


def in_browser(page_path: Path) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(profile, headless=True, executable_path=CHROMIUM, args=ARGS,
                                                   viewport={"width": 1400, "height": 900})
        page = ctx.new_page()
        t0 = time.perf_counter()
        page.goto(page_path.as_uri())
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        wall = time.perf_counter() - t0
        drawn = int(page.evaluate("document.body.dataset.readyMs"))

        def timed(action: str) -> float:
            return page.evaluate(f"""() => {{ const t = performance.now(); {action};
                document.body.offsetHeight; return performance.now() - t; }}""")

        cat = timed("const s = document.getElementById('f-category'); s.value = 'text';"
                    "s.dispatchEvent(new Event('input'))")
        rows = page.inner_text("#count")
        sort = timed("document.querySelector('#head button[data-sort=conf]').click()")
        conf = timed("const s = document.getElementById('f-conf-max'); s.value = '0.6';"
                     "s.dispatchEvent(new Event('input'))")
        ctx.close()
    return {"open_wall": wall, "open_drawn_ms": drawn, "filter_ms": cat, "sort_ms": sort, "range_ms": conf,
            "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=20_000)
    ap.add_argument("--keep", help="build in this folder and keep it (default: a temporary one)")
    a = ap.parse_args()
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="mchmc-html-"))
    try:
        jsonl = made_up_run(tmp / "dst", a.pages)
        t0 = time.perf_counter()
        page = build(jsonl, dst=tmp / "dst", run={"kind": "upscale", "model": "srformc", "precision": "fp32",
                                                   "scale": 2, "noise": "auto"})
        built = time.perf_counter() - t0
        thumbs_mb = sum(f.stat().st_size for f in (tmp / "dst" / ".mchmc" / "thumbs").iterdir()) / 1e6
        print(f"{a.pages} pages: page built in {built:.2f} s; {page.stat().st_size / 1e6:.1f} MB "
              f"(JSONL {jsonl.stat().st_size / 1e6:.1f} MB); thumbnails {thumbs_mb:.1f} MB")
        b = in_browser(page)
        print(f"chromium: opened and drawn {b['open_drawn_ms']} ms after navigation ({b['open_wall']:.2f} s wall "
              f"from goto); filter by category {b['filter_ms']:.0f} ms ({b['rows']}); sort by confidence "
              f"{b['sort_ms']:.0f} ms; confidence range {b['range_ms']:.0f} ms; open + filter "
              f"{b['open_drawn_ms'] + b['filter_ms']:.0f} ms")
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
