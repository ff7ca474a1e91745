"""Several models scored on the same validation images, PSNR-Y and SSIM-Y per group: how a config or a
training change is chosen without looking at the test fold.

    .venv/bin/python bench/validate_models.py --config best-text runs/SRforMC-fold1-best/model.pt \\
        runs/SRforMC-fold1-best-text-control/model.pt runs/SRforMC-fold1-best-text/model.pt
    .venv/bin/python bench/validate_models.py --config noise1-text --crop 0 srformc-noise1 runs/x/model.pt

The images are ``--config``'s validation images for ``--fold`` (carved out of the training folds and
held out of training; with ``data.rendered_pages`` also rendered text pages, reported as
``text_rendered``), made as training validates: centre crop (``--crop`` HR px, default the config's
``train.val_crop``; 0 = whole), MATLAB bicubic 1/2 of the uint8 crop, JPEG-degraded as the config's noise
level says, then each model's Y output through the inference engine (fp32) against the HR Y, 2 px border.
Every model sees the same images, so the columns compare; the mean is over the three categories.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from rich.console import Console
from rich.table import Table

from mchmc.metrics import psnr, ssim
from mchmc.modelfile import load_model, resolve_model
from mchmc.train.config import load_config
from mchmc.train.data import parse_fold, split_images
from mchmc.train.validate import Validator


def score(path: str, validator: Validator) -> dict[str, dict[str, float]]:
    """group -> {psnr, ssim, acc} for one model, and the same over the categories as 'mean'."""
    per: dict[str, dict[str, list[float]]] = {}
    for v, sr, right in validator.outputs(load_model(resolve_model(path)).model):
        row = per.setdefault(v.group, {"psnr": [], "ssim": [], "acc": []})
        row["psnr"].append(psnr(sr, v.hr * 255.0, 2))
        row["ssim"].append(ssim(sr, v.hr * 255.0, 2))
        if right is not None:
            row["acc"].append(float(right))
    out = {g: {k: float(np.mean(x)) if x else float("nan") for k, x in r.items()} for g, r in per.items()}
    out["mean"] = {k: float(np.mean([out[g][k] for g in validator.mean_over])) for k in ("psnr", "ssim")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="model files or shipped names")
    ap.add_argument("--config", required=True, help="config whose validation images (and noise level) to use")
    ap.add_argument("--fold", default="1")
    ap.add_argument("--crop", type=int, default=None, help="HR px of the centre crop (default train.val_crop; 0 whole)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    cfg = load_config(args.config)
    split = split_images(cfg, tuple(cfg.data.folders), parse_fold(args.fold, cfg.folds.k))
    crop = cfg.train.val_crop if args.crop is None else args.crop
    validator = Validator(split.val, cfg.train.val_images, crop, 2, cfg.data.noise)
    results = {m: score(m, validator) for m in args.models}
    groups = validator.categories + ["mean"]
    counts = {g: sum(v.group == g for v in validator.images) for g in validator.categories}
    level = "clean" if cfg.data.noise is None else f"JPEG level {cfg.data.noise_level}"
    table = Table(title=f"{args.config} fold {args.fold} validation ({level}, crop {crop or 'whole'}): "
                        "PSNR-Y dB / SSIM-Y, 2 px border; top-1 of the category head")
    table.add_column("model")
    for g in groups:
        table.add_column(f"{g} ({counts[g]})" if g in counts else "mean (categories)", justify="right")
    for m, r in results.items():
        cells = []
        for g in groups:
            acc = r[g].get("acc", float("nan"))
            cells.append(f"{r[g]['psnr']:.3f} / {r[g]['ssim']:.4f}" + ("" if np.isnan(acc) else f" / {acc:.0%}"))
        table.add_row(m, *cells)
    Console(highlight=False, width=200).print(table)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"config": args.config, "fold": args.fold, "crop": crop, "images": counts, "models": results},
                      f, indent=1)


if __name__ == "__main__":
    main()
