"""What ``--tta`` (test-time augmentation, the mean over the 8 flips/rotations) buys and costs.

    OMP_NUM_THREADS=1 .venv/bin/python bench/tta.py            # first 5 fold-1 test images of each category
    OMP_NUM_THREADS=1 .venv/bin/python bench/tta.py -n 3 --model srforall
    OMP_NUM_THREADS=1 .venv/bin/python bench/tta.py --split val --model runs/SRforMC-fold1-best/model.pt

Which images: not the models' training images. Per category, the first N (sorted by name) of fold ``--fold``'s
test images under ``--config`` (default: fold 1 of ``best``, the folds of ../shared/datasets' nature_bsds100,
manga_manga109 and text_hradis_bmvc_ocr_test_orig): no shipped model trained on them (they train on
folds 2-5), though ``best`` was chosen on them. ``--split val`` takes the config's validation carve
instead (``mchmc.train.data.split_images``, as bench/validate_models.py does): right for a model trained
under the carve rule, not for the shipped ones, whose ``best`` start trained on all of folds 2-5
(validation then read the test fold). Each image is made the way the peer benchmark makes its
inputs: HR as uint8 RGB, cropped to even size -> MATLAB bicubic 1/2 (mchmc.resize.imresize on
uint8, rounded) -> saved as a PNG page and read back -> ``upscale_page`` (what ``mchmc upscale``
runs per page: Y through the network, Cb/Cr bicubic, rounded to uint8) with ``tta`` off and on
-> Y (BT.601, mchmc.colour.y_8bit: the upscaler's Y x 255) -> PSNR with a 2 px border crop.
Both engines run the same pages interleaved (plain, TTA, plain, ...) in one process, so machine
load hits both alike; the table gives the mean PSNR-Y of each, the gain, seconds per image of
each and their ratio. The category of every page is checked to be the same with and without TTA.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

from mchmc.colour import y_8bit
from mchmc.engine import Engine
from mchmc.metrics import psnr
from mchmc.modelfile import load_model
from mchmc.pages import read_page, upscale_page
from mchmc.resize import imresize
from mchmc.train.config import load_config
from mchmc.train.data import even_crop, parse_fold, split_images

ROOT = Path(__file__).resolve().parents[1]
y255 = y_8bit  # Y on 0..255: mchmc.colour's one luminance path (the upscaler's Y)


def main() -> None:
    # Over 60 lines on purpose: a bench's protocol reads top to bottom, as its docstring lists it.
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--images", type=int, default=5, help="Images per category (the first N by name).")
    ap.add_argument("--split", choices=("test", "val"), default="test",
                    help="The fold's test images (default) or the config's validation carve.")
    ap.add_argument("--config", default="best", help="Config whose folds (and validation carve) to use.")
    ap.add_argument("--fold", default="1")
    ap.add_argument("--model", default="srformc", help="Shipped model name or model file.")
    ap.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args()

    cfg = load_config(args.config, {"data.root": args.datasets})
    split = split_images(cfg, tuple(cfg.data.folders), parse_fold(args.fold, cfg.folds.k))
    refs = split.test if args.split == "test" else split.val
    images = {c: sorted((r.path for r in refs if r.group == c), key=lambda p: p.name)[:args.images]
              for c in cfg.data.folders}  # category -> first N by name
    model = load_model(args.model).model
    engines = {tta: Engine(model, tile=args.tile, precision=args.precision, tta=tta) for tta in (False, True)}
    load = os.getloadavg()[0]
    scores = {(tta, c): [] for tta in engines for c in images}
    seconds = {(tta, c): [] for tta in engines for c in images}
    warm = True
    with tempfile.TemporaryDirectory(prefix="mchmc-tta-bench-") as tmp:
        for cat, paths in images.items():
            for path in paths:
                with Image.open(path) as im:
                    hr = even_crop(np.asarray(im.convert("RGB")), 2)
                lr = imresize(hr, 0.5)  # uint8 in, uint8 out (rounded, clipped)
                Image.fromarray(lr).save(Path(tmp) / "lr.png")
                page = read_page(Path(tmp) / "lr.png")
                hr_y = y255(hr)
                if warm:  # the backend picks its kernels on the first call: not timed
                    for e in engines.values():
                        upscale_page(page, e)
                    warm = False
                probs = {}
                for tta, e in engines.items():
                    t = time.perf_counter()
                    up = upscale_page(page, e)
                    seconds[(tta, cat)].append(time.perf_counter() - t)
                    scores[(tta, cat)].append(psnr(y255(up.pixels), hr_y, 2))
                    probs[tta] = up.probs
                if probs[False] != probs[True]:
                    raise SystemExit(f"{path}: the category changed with TTA: {probs}")

    table = Table(title=f"--tta on {args.model}: PSNR-Y \\[dB] (crop 2), first {args.images} {args.split} images of "
                        f"{args.config} fold {args.fold} per category; seconds per image (upscale_page, interleaved, "
                        f"same run); torch threads {torch.get_num_threads()}, tile {args.tile}, {args.precision}, "
                        f"load average before {load:.2f}")
    for col in ["category", "images", "PSNR plain", "PSNR tta", "gain", "s/img plain", "s/img tta", "tta / plain"]:
        table.add_column(col, justify="left" if col == "category" else "right")

    def row(name: str, cats: list[str]) -> None:
        def pick(d: dict, tta: bool) -> list[float]:
            return [v for c in cats for v in d[(tta, c)]]

        p0, p1 = np.mean(pick(scores, False)), np.mean(pick(scores, True))
        s0, s1 = np.mean(pick(seconds, False)), np.mean(pick(seconds, True))
        table.add_row(name, str(len(pick(scores, False))), f"{p0:.2f}", f"{p1:.2f}", f"{p1 - p0:+.2f}",
                      f"{s0:.3f}", f"{s1:.3f}", f"{s1 / s0:.2f}")

    for cat in images:
        row(cat, [cat])
    row("all", list(images))
    Console(highlight=False, width=200).print(table)


if __name__ == "__main__":
    main()
