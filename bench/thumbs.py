"""What the report's thumbnails cost the workers (issue 31: under 2% of page time).

Each page goes through a real worker (the shipped model, the CPU, as ``mchmc
upscale`` runs it, thumbnail included); then the thumbnail alone
(:func:`mchmc.batch.report.thumbs.make`: strided view, 160 px JPEG, atomic write
under DST/.mchmc/thumbs) is timed on the same upscaled pixels (median of 5).
Printed per page and for the whole set: page seconds, thumbnail ms, ratio.
The pages: the samples, and the manga sample enlarged 3x (a 1080 x 1440 scan).

    .venv/bin/python bench/thumbs.py
"""
from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mchmc.batch.options import BatchOptions
from mchmc.batch.plan import Job
from mchmc.batch.report import thumbs
from mchmc.batch.worker.pageworker import PageWorker

ROOT = Path(__file__).resolve().parents[1]


def pages(folder: Path) -> list[Path]:
    out = sorted((ROOT / "samples").glob("*.*"))
    big = Image.open(ROOT / "samples" / "manga-page.png")
    big = big.resize((big.width * 3, big.height * 3), Image.Resampling.BICUBIC)
    big.save(folder / "manga-page-3x.png")
    return out + [folder / "manga-page-3x.png"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dst = tmp / "dst"
        worker = PageWorker(BatchOptions(root=str(dst)), name="bench")
        rows, page_total, thumb_total = [], 0.0, 0.0
        for src in pages(tmp):
            out = dst / src.name
            record = worker.process(Job(src, out))
            assert record.status == "ok", record.error
            assert (dst / thumbs.relative_path(str(out))).is_file(), "the worker made the thumbnail"
            pixels = np.asarray(Image.open(out))
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                thumbs.make(dst, str(out), pixels)
                times.append(time.perf_counter() - t0)
            thumb = statistics.median(times)
            page_total, thumb_total = page_total + record.seconds, thumb_total + thumb
            rows.append((src.name, f"{pixels.shape[1]}x{pixels.shape[0]}", record.seconds, thumb))
        print(f"{'page':24} {'output':>10} {'page s':>8} {'thumb ms':>9} {'ratio':>7}")
        for name, size, page, thumb in rows:
            print(f"{name:24} {size:>10} {page:8.2f} {thumb * 1000:9.2f} {thumb / page:7.2%}")
        print(f"{'all':24} {'':>10} {page_total:8.2f} {thumb_total * 1000:9.2f} {thumb_total / page_total:7.2%}")


if __name__ == "__main__":
    main()
