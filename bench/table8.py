"""The paper's Table 8 measured on its own: inference seconds per image of MCH and MCH-MC.

    .venv/bin/python bench/table8.py                                   # fold 1 of the cpu experiment
    .venv/bin/python bench/table8.py --fold 2 --repeat 5 --out docs/results/table8-bench.json

The experiment times each image while it evaluates, on whatever else the
machine is doing (two trainings side by side, here), so its Table 8 can show
MCH-MC faster than MCH on a category by chance. This bench takes the trained
SRforAll (MCH) and SRforMC (MCH-MC) of one fold and times both on every test
image of that fold, interleaved (MCH, MCH-MC, MCH, ...) so load changes hit
both alike, best of ``--repeat``: the same call the evaluation times (LR Y in,
SR Y out; for MCH-MC also the GAP statistics and the category from the same
pass). With ``--out`` the table is saved as JSON and ``mchmc report`` prints
it beside its own Table 8 when the file is in the report folder.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from mchmc.train.config import load_config
from mchmc.engine import Engine
from mchmc.experiment.evaluate import load_test_image
from mchmc.experiment.cells import test_refs
from mchmc.modelfile import load_model
from mchmc.train.rundir import model_path, run_dir

ARCHS = {"MCH": "SRforAll", "MCH-MC": "SRforMC"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--config", default="cpu")
    ap.add_argument("--fold", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--data-root", default=None, help="overrides data.root of the config")
    ap.add_argument("--out", default=None, help="also write the table as JSON here")
    args = ap.parse_args()

    load = os.getloadavg()[0]  # recorded: this is only meaningful on an otherwise idle machine
    cfg = load_config(args.config, {"data.root": args.data_root} if args.data_root else {})
    engines = {}
    for arch, method in ARCHS.items():
        model = load_model(str(model_path(run_dir(args.runs, method, args.fold, args.config)))).model
        engines[arch] = Engine(model, tile=args.tile)
    images = [load_test_image(r) for r in test_refs(cfg, args.fold)]
    for e in engines.values():  # warm-up: oneDNN builds its primitives on the first call
        e.upscale(images[0].lr, gap=e.config.has_classifier)

    best: dict[str, list[float]] = {arch: [float("inf")] * len(images) for arch in engines}
    for _ in range(args.repeat):
        for i, img in enumerate(images):
            for arch, e in engines.items():
                t = time.perf_counter()
                res = e.upscale(img.lr, gap=e.config.has_classifier)
                if e.config.has_classifier:
                    e.probabilities(res.gap)
                best[arch][i] = min(best[arch][i], time.perf_counter() - t)

    cats = list(dict.fromkeys(img.category for img in images))
    rows = {}
    for arch, secs in best.items():
        row = {c: sum(s for s, img in zip(secs, images) if img.category == c)
               / sum(img.category == c for img in images) for c in cats}
        row["all"] = sum(secs) / len(secs)
        row["ms_per_lr_mp"] = 1e3 * sum(secs) / (sum(img.lr.size for img in images) / 1e6)
        rows[arch] = row
    table = Table(title=f"Table 8, measured alone: seconds per image, fold {args.fold} "
                        f"({len(images)} images), best of {args.repeat}, torch threads {torch.get_num_threads()}, "
                        f"load average before {load:.2f}")
    for col in ["architecture", *cats, "all images", "ms per LR MP"]:
        table.add_column(col, justify="left" if col == "architecture" else "right")
    for arch, row in rows.items():
        table.add_row(arch, *(f"{row[c]:.4f}" for c in cats), f"{row['all']:.4f}", f"{row['ms_per_lr_mp']:.0f}")
    ratio = rows["MCH-MC"]["all"] / rows["MCH"]["all"]
    table.add_row("MCH-MC / MCH", *(f"{rows['MCH-MC'][c] / rows['MCH'][c]:.3f}" for c in cats), f"{ratio:.3f}", "")
    Console().print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"fold": args.fold, "images": len(images), "repeat": args.repeat,
                                              "threads": torch.get_num_threads(), "tile": args.tile,
                                              "load_before": round(load, 2),
                                              "seconds": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
