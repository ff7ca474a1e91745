"""Does a page's category hold at the size it arrives in? Top-1 per category at 1x, 2x and 4x
the benchmark's page size, on the fold-1 test images (issue 19).

    .venv/bin/python bench/category_scales.py                          # the shipped srformc
    .venv/bin/python bench/category_scales.py --model a.pt --model b.pt --jpeg 75 --json out/cat.json

Pages: each fold-1 test image (``mchmc.train.data.split_images`` with the model's config, else
``best``: the fold the shipped models never trained on) as the benchmarks feed it, HR / 2 by
MATLAB bicubic (1x, e.g. a Manga109 page at 413 x 585), the HR page itself (2x, 827 x 1170) and
the HR page enlarged 2x by MATLAB bicubic (4x, 1654 x 2340: a high-resolution scan), each whole.
``--jpeg Q`` stores every page as a JPEG of quality Q (4:2:0) first, as archives hold them, and
lets ``--noise auto`` pick the model that reads it (a ``<stem>-noise<k>.pt`` beside the model),
as ``mchmc classify`` does. The category is what ``mchmc classify`` reports: the head on the F2
mean of the whole page's Y.
"""
from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from mchmc.engine import Engine, GapStats
from mchmc.modelfile import load_model, noise_variants, resolve_model
from mchmc.pages.noise import level_for_quality
from mchmc.train.config import load_config
from mchmc.train.data import load_rgb, split_images
from mchmc.train.head import pooled, resized

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"1x": 2.0, "2x": 1.0, "4x": 0.5}  # page = HR resized by 1 / f


def as_jpeg(page: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(page).save(buf, "JPEG", quality=quality, subsampling=2)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        return np.asarray(im)


def top1(model: str, jpeg: int | None, datasets: str | None) -> tuple[dict, dict]:
    """(category, size) -> top-1 in %, and the counts per category."""
    path = resolve_model(model)
    loaded = load_model(path)
    level = None if jpeg is None else level_for_quality(jpeg)
    if level is not None:
        loaded = load_model(noise_variants(path)[level])
    cfg = load_config(loaded.provenance.get("config") or "best", {"data.root": datasets} if datasets else None)
    cats = loaded.config.categories
    split = split_images(cfg, tuple(cats), 1)
    engine = Engine(loaded.model, tile=512, precision="fp32")
    hits = {(c, s): [] for c in cats for s in SIZES}
    for ref in split.test:
        hr = load_rgb(ref.path)
        for size, f in SIZES.items():
            page = resized(hr, f, max_pixels=1 << 62)
            if jpeg is not None:
                page = as_jpeg(page, jpeg)
            probs = engine.probabilities(GapStats(pooled(engine, page), 1))
            hits[(ref.category, size)].append(cats[int(np.argmax(probs))] == ref.category)
    counts = {c: len(hits[(c, "1x")]) for c in cats}
    return {k: 100.0 * float(np.mean(v)) for k, v in hits.items()}, counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="Model name or file (repeatable; default srformc).")
    ap.add_argument("--jpeg", type=int, default=None, metavar="Q", help="Pages stored as JPEG of quality Q.")
    ap.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    doc = {}
    for model in args.model or ["srformc"]:
        scores, counts = top1(model, args.jpeg, args.datasets)
        cats = list(counts)
        title = (f"{model}: top-1 % per category at 1x / 2x / 4x the benchmark page size, fold-1 test images "
                 f"({', '.join(f'{c} {n}' for c, n in counts.items())})"
                 + (f", pages stored as JPEG q{args.jpeg} (--noise auto's model)" if args.jpeg else ""))
        table = Table(title=title)
        for col in ["category", *SIZES, "spread"]:
            table.add_column(col, justify="left" if col == "category" else "right")
        for c in cats:
            row = [scores[(c, s)] for s in SIZES]
            table.add_row(c, *(f"{v:.1f}" for v in row), f"{max(row) - min(row):.1f}")
        Console(highlight=False, width=200).print(table)
        doc[model] = {"jpeg": args.jpeg, "counts": counts,
                      "top1": {c: {s: scores[(c, s)] for s in SIZES} for c in cats}}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
