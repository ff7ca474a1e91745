"""Pilot (issue 27): does the quality tier gain on JPEG pages from reduced copies of its training images?

Why: the manga category has 82 training covers in fold 1, and its level-3 specialist trails
waifu2x-upconv7-art-noise2 by 0.12 dB at q50 on fold 1's test images (release 2, docs/quality-tier.md). Fresh
JPEG draws of the same covers were worth +0.02 dB (release 2); what the covers cannot give is more *content*.
A cover reduced to 0.8 or 0.64 of its size (MATLAB bicubic, antialiased) is another HR image: the same
drawing with its lines closer together and its screentones finer, the scales a scanned page arrives at. The
waifu2x trainers (nunif) rescale their HR images at random for the same reason. This pilot measures the gain
before the patch store learns to make such copies:

- ``copies``: the control. Each training image, ``--draws`` JPEG draws at the config's level that its
  training never saw (seeds from ``--seed-base``), at its own size only;
- ``scales``: the same number of draws per image, spread over ``--scales`` (a draw per scale in turn), each
  reduced copy degraded at its own size as the store degrades a page (JPEG on the whole LR image).

Both start exactly at the start model, train ``--steps`` (Adam from ``--lr``, cosine; bf16 autocast where the
CPU has it; D4) on random patches, and are scored on the category's validation images (carved from the
training folds) stored as JPEG q``--jpeg`` 4:2:0 as the peer benchmark stores them; PSNR-Y, 2 px border.
Not a shipped model: a measurement.

    OMP_NUM_THREADS=1 .venv/bin/python bench/scale_pilot.py --config quality-noise3-manga-copies12-fp32 \\
        --start mchmc/weights/srformc-quality-noise3-for-manga.pt --variants copies --out runs/scale-pilot-copies
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grid_pilot import WithGrid, batch, quality_code, score
from ycc_pilot import (
    category_images,
    pilot_parser,
    run_variants,
    validation_images,
    ycc_planes,
)

from mchmc.modelfile import load_model
from mchmc.resize import imresize
from mchmc.train.config import load_config
from mchmc.train.data import even_crop
from mchmc.train.degrade import degrade


def reduced(hr: np.ndarray, scale: float) -> np.ndarray:
    """An HR image reduced to ``scale`` of its size (MATLAB bicubic, antialiased), cropped to even sides."""
    return hr if scale == 1 else even_crop(imresize(hr, scale), 2)


def training_images(cfg, category: str, draws: int, scales: list[float], seed_base: int):
    """(LR Y, HR Y, quality code) of each training image of ``category``: ``draws`` JPEG draws per image, the
    k-th at ``scales[k % len(scales)]`` (the image reduced, then its LR taken and degraded at its own size)."""
    out = []
    for name, hr, _ in category_images(cfg, category):
        planes = {}
        for k in range(draws):
            s = scales[k % len(scales)]
            if s not in planes:
                hr_s = reduced(hr, s)
                planes[s] = (ycc_planes(hr_s)[0], imresize(hr_s, 0.5))
            hr_y, lr = planes[s]
            if cfg.data.noise_level < 0:  # a clean config: the copies at one size are the same image
                out.append((ycc_planes(lr)[0], hr_y, quality_code(None)))
                continue
            key = name if s == 1 else f"{name}@{s:g}"
            lr_k, steps = degrade(lr, cfg.data.noise_level, seed_base + k, key)
            out.append((ycc_planes(lr_k)[0], hr_y, quality_code(steps.qualities[-1] if steps.qualities else None)))
    return out


def main() -> int:
    ap = pilot_parser(__doc__, "copies,scales")
    ap.add_argument("--draws", type=int, default=6, help="JPEG draws per training image, in every variant")
    ap.add_argument("--scales", default="1,0.8,0.64", help="the sizes the scales variant draws at, in turn")
    ap.add_argument("--seed-base", type=int, default=100, help="first JPEG draw's seed (past those trained on)")
    ap.add_argument("--jpeg", type=int, default=50, help="quality of the validation LR JPEGs (0: clean)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    val = validation_images(cfg, args.category, args.jpeg, args.crop)
    out = Path(args.out)
    for variant in args.variants.split(","):  # each variant its own images, and its own folder under --out
        scales = [float(s) for s in args.scales.split(",")] if variant == "scales" else [1.0]
        train = training_images(cfg, args.category, args.draws, scales, args.seed_base)
        args.variants, args.out = variant, str(out / variant)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        run_variants(args, train, val, lambda _: WithGrid(load_model(args.start).model, "y"),
                     lambda model: [{"params": list(model.base.parameters()), "lr": args.lr}],
                     batch, lambda model: score(model, val, model.base.config.halo, args.jpeg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
