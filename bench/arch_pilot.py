"""The quality tier's architecture, compared on validation images (issue 27, item 1): each candidate
warm-started from the same shipped model and trained the same number of steps with the same recipe and data,
then scored on the same validation images (carved out of the training folds; the test fold is never read).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/arch_pilot.py --runs runs/arch-pilot --steps 4000

Each candidate is ``--config``'s run (default ``quality``: its data, D4 augmentation, one thread) with
``train.arch`` set, Phase 2 cut to ``--steps`` from ``--lr`` (cosine), and the HR patch set to 40 + 4 x halo
so every candidate is supervised on the same 40 x 40 HR centre per patch (the same pixels per step). The
start is ``train.init_from`` (srformc.pt for ``quality``), which every candidate computes exactly at step 0
(Net2Wider, identity tail layers: ``mchmc.train.widen``), so the columns differ by what the added capacity
learns in the same steps. Runs are ordinary run dirs under ``--runs``: a killed pilot resumes exactly when
run again. Prints the start's validation PSNR-Y and each candidate's (the trainer's own ``metrics.csv`` rows).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mchmc.modelconfig import ARCHITECTURES
from mchmc.train.checkpoint import read_metrics
from mchmc.train.config import load_config, with_overrides
from mchmc.train.data import parse_fold, split_images
from mchmc.train.run import open_run, train_method
from mchmc.train.validate import Validator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_models import (
    score,  # the start, scored on the same validation images as the runs score theirs
)

COLUMNS = ("psnr_nature", "psnr_manga", "psnr_text", "psnr_text_rendered", "psnr_mean")


def pilot_config(base: str, arch: str, steps: int, lr: float):
    halo = ARCHITECTURES[arch].halo
    return with_overrides(load_config(base), {
        "name": f"pilot-{arch}-{steps}", "description": f"architecture pilot (bench/arch_pilot.py): {arch}",
        "train.arch": arch, "data.patch": 40 + 4 * halo,
        "phase2.steps": steps, "mch.steps": steps, "phase2.lr": lr, "phase2.lr_conv3": lr,
        "mch.lr": lr, "mch.lr_conv3": lr, "phase2.schedule": "cosine", "mch.schedule": "cosine"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="quality")
    ap.add_argument("--archs", default="mch-mc,mch-mc-wide,mch-mc-quality")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--runs", type=Path, default=Path("runs/arch-pilot"))
    args = ap.parse_args()

    table = Table(title=f"{args.config}: {args.steps} Phase 2 steps from lr {args.lr:g} (cosine), validation "
                        "PSNR-Y dB (crop 2)")
    for col in ("arch", "MACs / LR px", "patch", "step", *(c.removeprefix("psnr_") for c in COLUMNS), "steps/s"):
        table.add_column(col, justify="left" if col == "arch" else "right")
    base = load_config(args.config)
    split = split_images(base, tuple(base.data.folders), parse_fold("1", base.folds.k))
    start = score(base.train.init_from, Validator(split.val, base.train.val_images, base.train.val_crop, 2,
                                                  base.data.noise))
    table.add_row(f"start ({base.train.init_from})", "", "", "0",
                  *(f"{start[c.removeprefix('psnr_')]['psnr']:.3f}" for c in COLUMNS), "")
    for arch in args.archs.split(","):
        cfg = pilot_config(args.config, arch, args.steps, args.lr)
        run = open_run(cfg, "SRforMC", 1, args.runs)
        print(f"{arch}: {run.dir}", flush=True)
        train_method(cfg, "SRforMC", 1, args.runs)
        for row in read_metrics(run.metrics_path):
            if row["phase"] != "phase2":
                continue
            table.add_row(arch, f"{ARCHITECTURES[arch].macs_per_lr_pixel:,}", str(cfg.data.patch), str(row["step"]),
                          *(f"{float(row[c]):.3f}" for c in COLUMNS), f"{float(row['steps_per_s']):.2f}")
    Console(highlight=False, width=160).print(table)


if __name__ == "__main__":
    main()
