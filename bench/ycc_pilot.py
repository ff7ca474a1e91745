"""Pilot (issue 27): does the quality tier's luminance gain on JPEG colour pages when the network also sees the
page's chroma?

Why: Manga109 (the manga category) is 108 colour covers in 109 images. On the validation crops at JPEG q75,
waifu2x-upconv7-art-noise1 (an RGB network) is 0.11 dB better on the colour images than on gray copies of
them, while our Y-only network scores the same on both; the manga specialist (mchmc.routing) is level with
upconv7 on the gray copies and 0.19 dB behind on colour (docs/quality-tier.md). Building chroma inputs into
the product (patch store, engine, network services, the head's view) is days of work; this pilot measures the
gain first, outside the product, on the same data and recipe for every variant:

- ``y``: the start model fine-tuned on this pilot's patches, Y in (the control: what more steps alone give);
- ``tail``: Cb, Cr (centred) added to the first tail layer through a 3x3 convolution that starts at zero;
- ``conv1``: Cb, Cr added to conv1 through a 5x5 convolution that starts at zero.

Each starts exactly at the start model, trains ``--steps`` on random 72 px HR patches (D4) of one category's
training images (the config's split; the JPEG degradation of mchmc/train/degrade.py at the config's level),
and is scored on that category's validation images (carved from the training folds), each centre-cropped to
512 px, reduced with the MATLAB bicubic and stored as JPEG q``--jpeg`` 4:2:0 as the peer benchmark stores
them; PSNR-Y, 2 px border. Not a shipped model: a measurement.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ycc_pilot.py --config quality-noise1-manga \\
        --start runs/SRforMC-fold1-quality-noise1-manga/model.pt --steps 3000 --out runs/ycc-pilot
"""
from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mchmc.colour import page_ycc, to_unit
from mchmc.modelfile import load_model
from mchmc.precision import resolve_precision
from mchmc.resize import imresize
from mchmc.train.config import load_config
from mchmc.train.data import centre_crop, even_crop, load_rgb, split_images
from mchmc.train.degrade import degrade

CHROMA_CENTRE = 128.0 / 255.0  # Cb, Cr of a gray pixel: the network sees 0 there


class WithChroma(nn.Module):
    """The start model with Cb, Cr added at ``where`` ("tail" or "conv1") through a zero-initialised
    convolution, so at step 0 it computes exactly what the start model computes; "y" adds nothing."""

    def __init__(self, base, where: str):
        super().__init__()
        self.base, self.where = base, where
        n1 = base.conv1.out_channels
        self.chroma = None
        if where == "conv1":
            self.chroma = nn.Conv2d(2, n1, base.conv1.kernel_size, bias=False)
        elif where == "tail":
            self.chroma = nn.Conv2d(2, base.tail[0].out_channels, base.tail[0].kernel_size, bias=False)
        if self.chroma is not None:
            nn.init.zeros_(self.chroma.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, y, c = self.base, x[:, :1], x[:, 1:]
        if self.where == "conv1":
            f1 = F.relu(b.conv1(y) + self.chroma(c))
            f2 = F.relu(b.conv2(f1))
        else:
            f2 = b.features(y)
        h = f2
        for i, conv in enumerate(b.tail):
            pre = conv(h)
            if i == 0 and self.where == "tail":
                fh = b.config.feature_halo
                pre = pre + self.chroma(c[:, :, fh:-fh, fh:-fh])
            h = F.relu(pre)
        return F.pixel_shuffle(b.conv3(h), b.config.scale)


def ycc_planes(rgb: np.ndarray) -> np.ndarray:
    """Integer RGB (or gray) -> (3, H, W) float32: Y, Cb - 0.5, Cr - 0.5 (gray: chroma 0)."""
    ycc = page_ycc(to_unit(rgb))
    if ycc.shape[-1] == 1:
        ycc = np.concatenate([ycc, np.full(ycc.shape[:2] + (2,), CHROMA_CENTRE, np.float32)], axis=-1)
    out = np.ascontiguousarray(ycc.transpose(2, 0, 1))
    out[1:] -= CHROMA_CENTRE
    return out


def category_images(cfg, category: str):
    """(name, HR RGB, its clean bicubic LR) of each training image of ``category`` in fold 1's split (the
    validation images carved out; extra and rendered images left out)."""
    for ref in split_images(cfg, tuple(cfg.data.folders), 1).train:
        if ref.category == category and not ref.source:
            hr = even_crop(load_rgb(ref.path), 2)
            yield ref.path.name, hr, imresize(hr, 0.5)


def training_images(cfg, category: str, level: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(LR YCbCr (3, h, w), HR Y (H, W)) of each training image of ``category`` (validation carved out)."""
    out = []
    for name, hr, lr in category_images(cfg, category):
        if level >= 0:
            lr, _ = degrade(lr, level, seed, name)
        out.append((ycc_planes(lr), ycc_planes(hr)[0]))
    return out


def validation_images(cfg, category: str, quality: int, crop: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, LR YCbCr of the JPEG the peer benchmark would store (``quality`` 0: the clean LR), HR Y) of each
    validation image."""
    split = split_images(cfg, tuple(cfg.data.folders), 1)
    out = []
    for ref in split.val:
        if ref.category != category or ref.source:
            continue
        hr = centre_crop(load_rgb(ref.path), crop, 2)
        lr = imresize(hr, 0.5)
        if quality:  # 0: the clean LR
            buf = io.BytesIO()
            Image.fromarray(lr).save(buf, "JPEG", quality=quality, subsampling=2)
            lr = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert(Image.fromarray(lr).mode))
        out.append((ref.path.name, ycc_planes(lr), ycc_planes(hr)[0]))
    return out


def batch(images, rng: np.random.Generator, n: int, lr_side: int, out_side: int, halo: int):
    """Random LR patches (N, 3, lr_side, lr_side) and their HR Y targets (N, 1, out_side, out_side), D4."""
    xs, ts = [], []
    for _ in range(n):
        lr, hr = images[rng.integers(len(images))]
        y0 = int(rng.integers(0, lr.shape[1] - lr_side + 1))
        x0 = int(rng.integers(0, lr.shape[2] - lr_side + 1))
        x = lr[:, y0 : y0 + lr_side, x0 : x0 + lr_side]
        t = hr[2 * (y0 + halo) : 2 * (y0 + halo) + out_side, 2 * (x0 + halo) : 2 * (x0 + halo) + out_side][None]
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        x, t = np.rot90(x, k, (1, 2)), np.rot90(t, k, (1, 2))
        if flip:
            x, t = x[:, :, ::-1], t[:, :, ::-1]
        xs.append(np.ascontiguousarray(x))
        ts.append(np.ascontiguousarray(t))
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ts))


@torch.inference_mode()
def score(model: WithChroma, images, halo: int) -> dict[str, float]:
    """PSNR-Y (dB, 2 px border, 0..255 scale) per image and their mean."""
    model.eval()
    out = {}
    for name, lr, hr in images:
        x = F.pad(torch.from_numpy(lr)[None], (halo,) * 4, mode="replicate")
        out[name] = psnr_y(model(x)[0, 0].float().numpy(), hr)
    out["mean"] = float(np.mean(list(out.values())))
    model.train()
    return out


def psnr_y(sr: np.ndarray, hr: np.ndarray) -> float:
    """PSNR (dB, 0..255 scale) of an SR Y plane against the HR's, 2 px border left out, clipped as saved."""
    d = (np.clip(sr, 0, 1) - hr)[2:-2, 2:-2] * 255.0
    return 10 * math.log10(255.0**2 / float(np.mean(d.astype(np.float64) ** 2)))


def pilot_parser(doc: str, variants: str) -> argparse.ArgumentParser:
    """The arguments every pilot of this kind takes: what it starts from, trains on and is scored on."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="the run's config: its split, data and JPEG level")
    ap.add_argument("--start", required=True, help="the model every variant starts from")
    ap.add_argument("--category", default="manga")
    ap.add_argument("--variants", default=variants)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    return ap


def fine_tune(model: nn.Module, groups: list[dict], next_batch, args, name: str, check=None) -> float:
    """``args.steps`` Adam steps (cosine from each group's rate, bf16 autocast where the CPU has it) on
    ``next_batch()``'s (input, target); logs every 500 steps (``check()``, a validation figure, every 1,000).
    Returns the seconds it took."""
    bf16 = resolve_precision("auto", "cpu") == "bf16"
    opt = torch.optim.Adam(groups)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / args.steps)))
    t1 = time.time()
    for step in range(args.steps):
        x, t = next_batch()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            sr = model(x)
        loss = F.mse_loss(sr.float(), t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 500 == 0:
            mid = check() if check is not None and (step + 1) % 1000 == 0 else float("nan")
            print(f"{name} step {step + 1}: loss {loss.item():.6f}, {(step + 1) / (time.time() - t1):.2f} steps/s, "
                  f"validation {mid:.3f}", flush=True)
    return time.time() - t1


def run_variants(args, train, val, build, groups, make_batch, score_fn) -> dict:
    """Each of ``args.variants``: ``build(variant)`` from the same seed, scored (``score_fn(model)``) before
    and after :func:`fine_tune` on ``make_batch(train, rng, n, lr_side, out_side, halo)``; the results are
    written to ``args.out``/results.json after each variant, and the model beside them."""
    out = Path(args.out)
    print(f"{len(train)} training planes and {len(val)} validation images of {args.category}", flush=True)
    results = {}
    for where in args.variants.split(","):
        torch.manual_seed(args.seed)
        model = build(where).train()
        halo = model.base.config.halo
        lr_side = load_config(args.config).data.patch // 2
        batches = partial(make_batch, train, np.random.default_rng(args.seed), args.batch, lr_side,
                          2 * (lr_side - 2 * halo), halo)
        start = score_fn(model)
        seconds = fine_tune(model, groups(model), batches, args, where, partial(_mean, score_fn, model))
        end = score_fn(model)
        results[where] = {"start": start, "end": end, "seconds": seconds}
        print(f"{where}: mean {start['mean']:.3f} -> {end['mean']:.3f} dB", flush=True)
        (out / "results.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
        torch.save(dict(model.state_dict()), out / f"{where}.pt")
    base_end = results.get("y", {}).get("end", {}).get("mean")
    for where, r in results.items():
        gain = "" if base_end is None else f" ({r['end']['mean'] - base_end:+.3f} vs y)"
        print(f"| {where} | {r['start']['mean']:.3f} | {r['end']['mean']:.3f}{gain} |")
    return results


def _mean(score_fn, model) -> float:
    return score_fn(model)["mean"]


def main() -> int:
    ap = pilot_parser(__doc__, "y,tail,conv1")
    ap.add_argument("--jpeg", type=int, default=75, help="quality of the validation LR JPEGs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    train = training_images(cfg, args.category, cfg.data.noise_level, cfg.data.noise_seed)
    val = validation_images(cfg, args.category, args.jpeg, args.crop)
    run_variants(args, train, val, lambda where: WithChroma(load_model(args.start).model, where),
                 lambda model: [{"params": model.parameters(), "lr": args.lr}], batch,
                 lambda model: score(model, val, model.base.config.halo))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
