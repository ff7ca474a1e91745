"""Which noise level suits which JPEG quality, measured on validation images (never the test fold),
and what each level costs. ``--noise auto``'s thresholds (mchmc/pages/noise.py, AUTO_LEVELS) come from here.

    .venv/bin/python bench/noise_levels.py                        # the shipped srformc family
    .venv/bin/python bench/noise_levels.py --model runs/x/model.pt --qualities 95,85,75,50

The images are the ones the model's provenance lists as its validation images (carved out of the
training folds, never trained on; ``train.validation = "train"``). Each is made the way the peer
benchmark makes its inputs: HR cropped to even size -> MATLAB bicubic 1/2 (uint8) -> JPEG at quality Q
(4:2:0, Pillow) -> read back as a page -> upscaled with each level's model -> PSNR on Y (BT.601,
16-235), 2 px border. Prints, per quality, the mean PSNR of every level (best marked) per category and
overall (the mean is over the three categories; a model trained with rendered text pages also lists
those, as a row of their own), the level ``auto`` picks today, and each level's cost (LR MP/s of the
same pages, same run).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from mchmc.colour import y_8bit
from mchmc.engine import Engine
from mchmc.metrics import psnr
from mchmc.modelfile import load_model, noise_variants, resolve_model
from mchmc.pages import read_page, upscale_page
from mchmc.pages.noise import level_for_quality
from mchmc.resize import imresize
from mchmc.train.config import load_config
from mchmc.train.data import even_crop, load_rgb, rendered_images


y255 = y_8bit  # Y on 0..255: mchmc.colour's one luminance path (the upscaler's Y)


def validation_images(model_path: Path, config: str) -> list[tuple[str, Path]]:
    prov = load_model(model_path).provenance
    names = prov.get("validation_images")
    if not names or prov.get("validation_rule") != "train":
        raise SystemExit(f"{model_path}: its provenance lists no validation images carved from the training "
                         "folds; train it with train.validation = 'train'")
    cfg = load_config(config)
    root = cfg.data.root_path()
    rendered = {}  # a group such as text_rendered: the pages the model's own config rendered for it
    if any(g not in cfg.data.folders for g in names):
        rendered = {p.name: p for p in rendered_images(load_config(prov["config"]).data)}
    return [(group, root / cfg.data.folders[group] / n if group in cfg.data.folders else rendered[n])
            for group, ns in names.items() for n in ns]


def jpeg_page(lr: np.ndarray, quality: int | None, tmp: Path, resaved: bool = False):
    """The LR image as the page a user would have: a JPEG of ``quality`` (None: a PNG); ``resaved``: that
    JPEG decoded and saved again as PNG (a compressed page with no tables left to read the quality from)."""
    path = tmp / ("lr.png" if quality is None else "lr.jpg")
    im = Image.fromarray(lr)
    im.save(path, **({} if quality is None else {"quality": quality, "subsampling": 2}))
    if resaved:
        with Image.open(path) as j:
            j.load()
            path = tmp / "resaved.png"
            j.save(path)
    return read_page(path)


def main() -> None:
    # Over 60 lines on purpose: a bench's protocol reads top to bottom, as its docstring lists it.
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="srformc", help="The clean model; its -noise<k> variants sit beside it.")
    ap.add_argument("--config", default="best", help="Config whose data root and folders hold the images.")
    ap.add_argument("--qualities", default="98,95,90,85,80,75,70,65,60,50,40,30,20")
    ap.add_argument("--resaved", default="90,75,50", help="JPEG qualities also fed as lossless re-saves (PNG).")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--json", default=None, help="Also write every figure here.")
    args = ap.parse_args()

    clean = resolve_model(args.model)
    models = {None: clean, **noise_variants(clean)}
    engines = {k: Engine(load_model(p).model, tile=256, precision=args.precision) for k, p in models.items()}
    images = validation_images(clean, args.config)
    qualities = [None] + [int(q) for q in args.qualities.split(",")]
    inputs = [(q, False) for q in qualities] + [(int(q), True) for q in args.resaved.split(",") if q]
    tmp = Path("/tmp") / f"mchmc-noise-bench-{int(time.time())}"
    tmp.mkdir(parents=True)
    scores: dict = {}  # (q, level, category) -> [psnr]
    seconds = {k: 0.0 for k in engines}
    lr_pixels = 0
    for cat, path in images:
        hr = even_crop(load_rgb(path), 2)
        if hr.dtype != np.uint8:
            hr = (hr >> 8).astype(np.uint8)
        lr = np.clip(np.rint(imresize(hr.astype(np.float64), 0.5)), 0, 255).astype(np.uint8)
        hr_y = y255(hr)
        for q, resaved in inputs:
            page = jpeg_page(lr, q, tmp, resaved)
            if q is None:
                lr_pixels += lr.shape[0] * lr.shape[1]
            for level, engine in engines.items():
                t = time.perf_counter()
                sr = upscale_page(page, engine).pixels
                if q is None:
                    seconds[level] += time.perf_counter() - t
                scores.setdefault(((q, resaved), level, cat), []).append(psnr(y255(sr), hr_y, 2))
    cats = list(dict.fromkeys(c for c, _ in images))
    levels = list(engines)
    label = lambda k: "none" if k is None else str(k)
    con = Console(highlight=False)
    table = Table(title=f"PSNR-Y [dB], crop 2, {len(images)} validation images; * = the best level of the row")
    for col in ("input", "images", *[f"level {label(k)}" for k in levels], "auto picks"):
        table.add_column(col, justify="left" if col in ("input", "images") else "right")
    out = {"images": [str(p) for _, p in images], "rows": []}
    for q, resaved in inputs:
        key = (q, resaved)
        per_cat = {k: {c: float(np.mean(scores[(key, k, c)])) for c in cats} for k in levels}
        # the mean is over the categories' own images (rendered text pages are their own row, not in it)
        means = {k: float(np.mean([v for c, v in per_cat[k].items() if not c.endswith("_rendered")])) for k in levels}
        name = "png" if q is None else f"png of jpeg q{q}" if resaved else f"jpeg q{q}"
        picks = "none" if q is None or resaved else label(level_for_quality(q))
        for group, vals in [("mean", means)] + [(c, {k: per_cat[k][c] for k in levels}) for c in cats]:
            best = max(vals, key=vals.get)
            table.add_row(name if group == "mean" else "", group,
                          *[f"{vals[k]:.2f}{'*' if k == best else ' '}" for k in levels], picks if group == "mean" else "",
                          end_section=group == cats[-1])
        out["rows"].append({"input": name, "quality": q, "mean": {label(k): v for k, v in means.items()},
                            "per_category": {label(k): v for k, v in per_cat.items()},
                            "best": label(max(means, key=means.get))})
    con.print(table)
    cost = Table(title="Cost per level (clean inputs, same run): LR MP/s of upscale_page, ratio to level none")
    cost.add_column("level")
    cost.add_column("LR MP/s")
    cost.add_column("x none")
    for k in levels:
        rate = lr_pixels / 1e6 / max(seconds[k], 1e-9)
        cost.add_row(label(k), f"{rate:.3f}", f"{seconds[None] / max(seconds[k], 1e-9):.2f}")
        out.setdefault("mp_per_s", {})[label(k)] = rate
    con.print(cost)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
