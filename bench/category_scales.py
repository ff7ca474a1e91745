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
as ``mchmc classify`` does. The category is what ``mchmc classify`` reports
(:func:`mchmc.pages.category.page_category_stats`): the head on the F2 mean of the page's Y, or of
its view when the page is above ``--view`` LR pixels (default: the shipped
:data:`~mchmc.pages.category.VIEW_PIXELS`; ``--view 0`` pools every page whole, as before issue 19).

``--router``: where the level has a router (``router/<stem>.pt``, :mod:`mchmc.router`), its category is
scored too, as a row of its own: what picks the page's specialist in the quality tier. Its statistics read
the page's Y up to :data:`mchmc.router.STATS_PIXELS`, reduced above it, so a 4x scan is read at the size
of a smaller page, e.g.

    .venv/bin/python bench/category_scales.py --model quality --split val --router --jpeg 50

``--split val`` scores the validation images carved from fold 1's training folds instead (5 per
category): that is where the view size was chosen, e.g.

    .venv/bin/python bench/category_scales.py --split val --view 0 --view 100000 --view 150000 --view 250000
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

from mchmc.engine import Engine
from mchmc.modelconfig import top_category
from mchmc.modelfile import load_model, noise_variants, resolve_model
from mchmc.pages.category import VIEW_PIXELS, page_category_stats
from mchmc.pages.noise import level_for_quality
from mchmc.router import load_router, route_inputs, router_file
from mchmc.train.config import load_config
from mchmc.train.data import load_rgb, split_images
from mchmc.train.head import as_page, resized

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"1x": 2.0, "2x": 1.0, "4x": 0.5}  # page = HR resized by 1 / f


def as_jpeg(page: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(page).save(buf, "JPEG", quality=quality, subsampling=2)
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        return np.asarray(im)


def top1(model: str, jpeg: int | None, datasets: str | None, split_name: str = "test",
         views: tuple[int, ...] = (VIEW_PIXELS,), router: bool = False) -> tuple[dict, dict, dict]:
    """(view, category, size) -> top-1 in %, and -> the mean probability of the right category; the
    counts per category (view 0: every page pooled whole; view ``"router"``: the level's router)."""
    path = resolve_model(model)
    level = None if jpeg is None else level_for_quality(jpeg)
    if level is not None:
        path = noise_variants(path)[level]
    loaded = load_model(path)
    routing = load_router(router_file(path), path) if router and router_file(path).is_file() else None
    views = (*views, "router") if routing is not None else views
    cfg = load_config(loaded.provenance.get("config") or "best", {"data.root": datasets} if datasets else None)
    cats = loaded.config.categories
    split = split_images(cfg, tuple(cats), 1)
    engine = Engine(loaded.model, tile=512, precision="fp32")
    hits = {(v, c, s): [] for v in views for c in cats for s in SIZES}
    truth = {k: [] for k in hits}  # the probability of the right category: what breaks top-1's ties
    for ref in getattr(split, split_name):
        hr = load_rgb(ref.path)
        for size, f in SIZES.items():
            page = resized(hr, f, max_pixels=1 << 62)
            if jpeg is not None:
                page = as_jpeg(page, jpeg)
            for v in views:
                if v == "router":
                    probs = routing.probabilities(route_inputs(engine, as_page(page))[0])
                    probs = probs[[routing.categories.index(c) for c in cats]]
                else:
                    stats = page_category_stats(engine, as_page(page), view_pixels=v or 1 << 62)
                    probs = engine.probabilities(stats)
                hits[(v, ref.category, size)].append(top_category(probs, cats) == ref.category)
                truth[(v, ref.category, size)].append(float(probs[cats.index(ref.category)]))
    counts = {c: len(hits[(views[0], c, "1x")]) for c in cats}
    scores = {k: 100.0 * float(np.mean(v)) for k, v in hits.items()}
    return scores, {k: float(np.mean(v)) for k, v in truth.items()}, counts


def _view_label(view: int | str) -> str:
    return view if isinstance(view, str) else f"{view:,}" if view else "whole page"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", help="Model name or file (repeatable; default srformc).")
    ap.add_argument("--jpeg", type=int, default=None, metavar="Q", help="Pages stored as JPEG of quality Q.")
    ap.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--split", choices=("test", "val"), default="test",
                    help="Fold 1's test images (default) or the validation images carved from its training folds.")
    ap.add_argument("--view", type=int, action="append", metavar="PIXELS",
                    help=f"Category view size in LR pixels (repeatable; 0: whole pages; default {VIEW_PIXELS}).")
    ap.add_argument("--router", action="store_true", help="Score the level's router too, where it has one.")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    doc = {}
    for model in args.model or ["srformc"]:
        views = tuple(args.view or [VIEW_PIXELS])
        scores, truth, counts = top1(model, args.jpeg, args.datasets, args.split, views, args.router)
        views = tuple(dict.fromkeys(v for v, _, _ in scores))
        cats = list(counts)
        images = "fold-1 test images" if args.split == "test" else "fold-1 validation images (training folds)"
        title = (f"{model}: top-1 % per category at 1x / 2x / 4x the benchmark page size, {images} "
                 f"({', '.join(f'{c} {n}' for c, n in counts.items())})"
                 + (f", pages stored as JPEG q{args.jpeg} (--noise auto's model)" if args.jpeg else ""))
        table = Table(title=title)
        for col in ["view (LR px)", "category", *SIZES, "spread", "mean p(right) 1x/2x/4x"]:
            table.add_column(col, justify="left" if col in ("category", "view (LR px)") else "right")
        for v in views:
            for c in cats:
                row = [scores[(v, c, s)] for s in SIZES]
                table.add_row(_view_label(v), c, *(f"{x:.1f}" for x in row),
                              f"{max(row) - min(row):.1f}", " / ".join(f"{truth[(v, c, s)]:.3f}" for s in SIZES))
        Console(highlight=False, width=200).print(table)
        doc[model] = {"jpeg": args.jpeg, "split": args.split, "counts": counts,
                      "top1": {str(v): {c: {s: scores[(v, c, s)] for s in SIZES} for c in cats} for v in views},
                      "p_right": {str(v): {c: {s: truth[(v, c, s)] for s in SIZES} for c in cats} for v in views}}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
