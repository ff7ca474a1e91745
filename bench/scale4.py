"""``--scale 4`` against waifu2x run twice: quality and speed in one run.

    .venv/bin/python bench/scale4.py                 # fold-1 test images, every one of each category
    .venv/bin/python bench/scale4.py -n 5 --json out/scale4.json

Inputs: the fold-1 test images of each category (``mchmc.train.data.split_images`` with the
``best`` config: the fold the shipped models never trained on), HR as uint8 RGB cropped to a
multiple of 4 -> MATLAB bicubic 1/4 (``mchmc.resize.imresize`` on uint8, rounded) -> the LR
page (saved as PNG and read back, as a user's page). Each method makes the 4x image; Y (BT.601,
x 255) -> PSNR and SSIM with a 4 px border crop.

Methods, interleaved image by image in this process (machine load hits all alike):

- ``bicubic-matlab x4``: one MATLAB bicubic 4x.
- ``mchmc --scale 4``: ``upscale_page(page, engine, then=engine)``, what a worker runs for
  ``mchmc upscale --scale 4`` (two exact 2x passes of the shipped model; the LR is clean, so
  ``--noise auto`` picks no noise model).
- ``mchmc --scale 2, then bicubic 2x``: the 2x page upscaled again by bicubic (what the
  second network pass is worth).
- each waifu2x 2x model of the peer harness (``../shared/tools/peers``, imported from there,
  not copied) applied twice, as waifu2x users make 4x.

Seconds per image are the method's own time on the decoded LR (torch threads = ``--threads``
for every method); MP/s counts output megapixels.
"""
from __future__ import annotations

import argparse
import json
import sys
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
from mchmc.metrics import psnr, ssim
from mchmc.modelconfig import CATEGORIES
from mchmc.modelfile import load_model
from mchmc.pages import read_page, upscale_page
from mchmc.resize import imresize
from mchmc.train.config import load_config
from mchmc.train.data import even_crop, split_images

ROOT = Path(__file__).resolve().parents[1]
PEERS = ROOT.parent / "shared" / "tools" / "peers"
WAIFU2X = ("waifu2x-vgg7-art-y", "waifu2x-upconv7-art", "waifu2x-upconv7-photo")
BORDER = 4


y255 = y_8bit  # Y on 0..255: mchmc.colour's one luminance path (the upscaler's Y)


def test_images(config: str, datasets: str | None, limit: int) -> dict[str, list[Path]]:
    cfg = load_config(config, {"data.root": datasets} if datasets else None)
    split = split_images(cfg, CATEGORIES, 1)
    out: dict[str, list[Path]] = {c: [] for c in CATEGORIES}
    for ref in split.test:
        out[ref.category].append(ref.path)
    return {c: sorted(ps)[:limit] if limit else sorted(ps) for c, ps in out.items()}


def methods(model: str, tile: int, precision: str) -> dict:
    """name -> function(page, lr uint8) -> 4x uint8 (RGB or gray as the input)."""
    engine = Engine(load_model(model).model, tile=tile, precision=precision)
    found = {
        "bicubic-matlab x4": lambda page, lr: imresize(lr, 4),
        "mchmc --scale 4": lambda page, lr: upscale_page(page, engine, then=engine).pixels,
        "mchmc --scale 2, then bicubic 2x": lambda page, lr: imresize(upscale_page(page, engine).pixels, 2),
    }
    if not (PEERS / "peers_bench.py").is_file():
        print(f"note: no peer harness at {PEERS}; waifu2x rows left out", file=sys.stderr)
        return found
    sys.path.insert(0, str(PEERS))
    from peers_bench import build_peers  # the harness's own loaders and pre/post-processing

    peers, missing = build_peers(ROOT.parent / "shared" / "peers", set(WAIFU2X))
    for name, why in missing.items():
        print(f"note: {name} unavailable: {why}", file=sys.stderr)
    for peer in sorted(peers, key=lambda p: WAIFU2X.index(p.name)):
        found[f"{peer.name} twice"] = lambda page, lr, peer=peer: peer(peer(lr))
    return found


def main() -> None:
    # Over 60 lines on purpose: a bench's protocol reads top to bottom, as its docstring lists it.
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--images", type=int, default=0, help="First N test images per category (0: all).")
    ap.add_argument("--model", default="srformc")
    ap.add_argument("--config", default="best", help="Config whose folds give the fold-1 test images.")
    ap.add_argument("--datasets", default=str(ROOT.parent / "shared" / "datasets"))
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    images = test_images(args.config, args.datasets, args.images)
    runs = methods(args.model, args.tile, args.precision)
    scores = {(m, c): [] for m in runs for c in images}
    seconds = {m: [] for m in runs}
    pixels = {m: 0 for m in runs}
    with tempfile.TemporaryDirectory(prefix="mchmc-scale4-") as tmp:
        warm = True
        for cat, paths in images.items():
            for path in paths:
                with Image.open(path) as im:
                    hr = even_crop(np.asarray(im.convert("RGB")), 4)
                lr = imresize(hr, 0.25)
                Image.fromarray(lr).save(Path(tmp) / "lr.png")
                page = read_page(Path(tmp) / "lr.png")
                if warm:  # kernels picked on the first call: not timed
                    for fn in runs.values():
                        fn(page, lr[:32, :32])
                    warm = False
                hr_y = y255(hr)
                for name, fn in runs.items():
                    t = time.perf_counter()
                    sr = fn(page, lr)
                    seconds[name].append(time.perf_counter() - t)
                    if sr.shape[:2] != hr.shape[:2]:
                        raise SystemExit(f"{name} made {sr.shape[:2]} from {lr.shape[:2]}, expected {hr.shape[:2]}")
                    pixels[name] += sr.shape[0] * sr.shape[1]
                    sr_y = y255(sr if sr.ndim == 3 else np.dstack([sr] * 3))
                    scores[(name, cat)].append((psnr(sr_y, hr_y, BORDER), ssim(sr_y, hr_y, BORDER)))

    counts = {c: len(p) for c, p in images.items()}
    table = Table(title=f"4x: PSNR-Y dB / SSIM-Y (crop {BORDER}), fold-1 test images "
                        f"({', '.join(f'{c} {n}' for c, n in counts.items())}), HR -> MATLAB bicubic 1/4; "
                        f"torch threads {args.threads}, {args.precision}")
    table.add_column("method")
    for c in images:
        table.add_column(c, justify="right")
    table.add_column("s / image", justify="right")
    table.add_column("output MP/s", justify="right")
    table.add_column("speed vs mchmc", justify="right")
    ours = pixels["mchmc --scale 4"] / sum(seconds["mchmc --scale 4"]) / 1e6
    doc = {"images": {c: [p.name for p in ps] for c, ps in images.items()}, "threads": args.threads, "methods": {}}
    for name in runs:
        mps = pixels[name] / sum(seconds[name]) / 1e6
        cells = []
        for c in images:
            p, s = np.mean([v[0] for v in scores[(name, c)]]), np.mean([v[1] for v in scores[(name, c)]])
            cells.append(f"{p:.2f} / {s:.4f}")
            doc["methods"].setdefault(name, {})[c] = {"psnr": float(p), "ssim": float(s)}
        doc["methods"][name].update(seconds_per_image=float(np.mean(seconds[name])), output_mps=mps)
        table.add_row(name, *cells, f"{np.mean(seconds[name]):.3f}", f"{mps:.2f}", f"{mps / ours:.2f}x")
    Console(highlight=False, width=220).print(table)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
