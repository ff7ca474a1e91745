"""Colour on JPEG pages (issue 27): PSNR of Cb and Cr (and Y) through ``mchmc upscale``, with the chroma
network and without it (``--no-chroma``: the bicubic of the JPEG's chroma), clean and at JPEG q75 / q50.

    .venv/bin/python bench/chroma.py                         # fold-1 test images of nature and manga
    .venv/bin/python bench/chroma.py --model srformc -n 5 --qualities clean,50
    .venv/bin/python bench/chroma.py --config quality --split val --model quality   # choosing: validation

Which images: fold ``--fold``'s test images of ``--config`` (default fold 1 of ``best``) in the colour
categories (nature, manga; a gray image is left out: its chroma is exact either way). No chroma or SR
model trained on them. ``--split val``: the config's validation images instead (carved out of the
training folds), for a model whose test fold is kept for its one final score. Each is made as the peer benchmark makes its inputs: HR uint8 RGB cropped to even
size -> MATLAB bicubic 1/2, rounded -> stored as PNG (clean) or as a Pillow JPEG at quality Q (4:2:0)
-> ``mchmc upscale`` (``--noise auto`` picks the level from the JPEG, as for a user) once with the
chroma network and once with ``--no-chroma`` -> the output against the HR image, BT.601 Y, Cb, Cr on
0..255 (mchmc.colour), PSNR with a 2 px border crop. ``--peer DIR``: also score saved outputs of a
peer (``peers_bench.py --save-sr``), one PNG per image under DIR/<quality>/<image stem>.png.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console
from rich.table import Table

from mchmc import colour
from mchmc.metrics import psnr
from mchmc.resize import imresize
from mchmc.train.config import load_config
from mchmc.train.data import even_crop, parse_fold, split_images

ROOT = Path(__file__).resolve().parents[1]
PLANES = ("Y", "Cb", "Cr")


def ycc255(rgb: np.ndarray) -> np.ndarray:
    return colour.rgb_to_ycbcr(colour.to_unit(rgb), np.float64) * 255


def scores(out: np.ndarray, hr: np.ndarray) -> list[float]:
    a, b = ycc255(out), ycc255(hr)
    return [psnr(a[..., i], b[..., i], border=2) for i in range(3)]


def upscale(src: Path, dst: Path, model: str, *extra: str) -> None:
    cmd = [sys.executable, "-m", "mchmc.cli.app", "upscale", str(src), "--out", str(dst), "--model", model,
           "--precision", "fp32", *extra]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"mchmc upscale failed ({res.returncode}): {res.stderr[-800:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--images", type=int, default=0, help="First N images per category (0: all).")
    ap.add_argument("--config", default="best")
    ap.add_argument("--fold", default="1")
    ap.add_argument("--split", choices=("test", "val"), default="test",
                    help="test: the fold's test images; val: the config's validation images")
    ap.add_argument("--model", default="srformc")
    ap.add_argument("--qualities", default="clean,75,50")
    ap.add_argument("--peer", type=Path, default=None, help="saved peer outputs: DIR/<quality>/<stem>.png")
    args = ap.parse_args()
    cfg = load_config(args.config)
    split = split_images(cfg, tuple(cfg.data.folders), parse_fold(args.fold, cfg.folds.k))
    images = {}
    for ref in sorted(split.test if args.split == "test" else split.val, key=lambda r: r.path.name):
        hr = even_crop(np.asarray(Image.open(ref.path).convert("RGB")), 2)
        if ref.category in ("nature", "manga") and np.abs(np.diff(hr.astype(np.int16), axis=2)).max() > 2:
            if not args.images or sum(c == ref.category for c, _ in images.values()) < args.images:
                images[ref.path.stem] = (ref.category, hr)
    rows = {}  # (quality, category, method) -> list of [Y, Cb, Cr]
    with tempfile.TemporaryDirectory() as tmp:
        for q in args.qualities.split(","):
            src = Path(tmp) / f"in-{q}"
            src.mkdir()
            for stem, (_, hr) in images.items():
                lr = np.clip(np.rint(imresize(hr.astype(np.float64), 0.5)), 0, 255).astype(np.uint8)
                if q == "clean":
                    Image.fromarray(lr).save(src / f"{stem}.png")
                else:
                    Image.fromarray(lr).save(src / f"{stem}.jpg", quality=int(q))
            for method, extra in (("bicubic chroma", ["--no-chroma"]), ("chroma network", [])):
                dst = Path(tmp) / f"out-{q}-{method.split()[0]}"
                upscale(src, dst, args.model, *extra)
                for stem, (cat, hr) in images.items():
                    out = np.asarray(Image.open(next(dst.glob(f"{stem}.*"))).convert("RGB"))
                    rows.setdefault((q, cat, method), []).append(scores(out, hr))
            if args.peer:
                for stem, (cat, hr) in images.items():
                    out = np.asarray(Image.open(args.peer / q / f"{stem}.png").convert("RGB"))
                    rows.setdefault((q, cat, f"peer ({args.peer.name})"), []).append(scores(out, hr))
    table = Table(title=f"PSNR (dB, crop 2) through mchmc upscale --model {args.model}, fold {args.fold} "
                        f"{args.split} images of {args.config}: {len(images)} colour images")
    for col in ("LR stored as", "category", "chroma", "images", *PLANES, "Cb gain", "Cr gain"):
        table.add_column(col)
    for (q, cat, method), vals in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        mean = np.mean(vals, axis=0)
        base = np.mean(rows[(q, cat, "bicubic chroma")], axis=0)
        table.add_row("PNG" if q == "clean" else f"JPEG q{q}", cat, method, str(len(vals)),
                      *(f"{v:.3f}" for v in mean), f"{mean[1] - base[1]:+.3f}", f"{mean[2] - base[2]:+.3f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
