"""Training the chroma network (:mod:`mchmc.chroma`) on colour pages stored as JPEG.

    .venv/bin/python -m mchmc.train.chroma --run runs/chroma --steps 20000      # resumes if the run exists

Each sample is a patch of an HR colour image, downscaled 2x with the MATLAB
bicubic (as every LR in this project), stored as a JPEG at a quality drawn from
one noise level's range (:data:`QUALITIES`, the ranges ``--noise auto`` maps to
that level) with 4:2:0, 4:2:2 or 4:4:4 chroma, and decoded: exactly the planes
the page path hands the network. The target is the HR chroma minus the bicubic
of the decoded chroma, the correction the network adds at inference. Loss: mean squared error (the score is PSNR).

Images: the nature and manga images of the training folds (``--fold``: its
test images are never read) and the extra nature sets (T91); a fixed 1 in
:data:`VALIDATION_EVERY` of them is carved out for validation, which picks the
checkpoint kept as ``best.pt`` (mean Cb + Cr PSNR gain over the bicubic, at one
quality per level; gray images are left out of that mean). The run folder holds ``last.pt`` (model, optimiser, step,
RNG: a killed run resumes from it, written atomically every
``checkpoint_every`` steps), ``best.pt`` and ``metrics.csv``.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from mchmc import colour
from mchmc.chroma import (
    ChromaConfig,
    ChromaEngine,
    ChromaNet,
    inputs,
    load_chroma,
    save_chroma,
)
from mchmc.engine import Region
from mchmc.fsutil import atomic_write
from mchmc.resize import imresize

QUALITIES = {0: (86, 98), 1: (73, 85), 2: (55, 72), 3: (20, 54)}  # level -> JPEG qualities (mchmc.pages.noise)
VALIDATION_QUALITY = {0: 90, 1: 78, 2: 62, 3: 45}
SUBSAMPLING = ((2, 0.7), (1, 0.1), (0, 0.2))  # Pillow's 4:2:0, 4:2:2, 4:4:4 and how often each is drawn
VALIDATION_EVERY = 8
INITS = ("torch", "he")  # body inits for training (init_body)
MARGIN = 8  # LR pixels of context around a patch, at least: the network's halo plus the bicubic's taps
BICUBIC_TAPS = 2  # LR pixels the 2x bicubic reads beyond an output pixel's own


@dataclass(frozen=True)
class ChromaTraining:
    model: ChromaConfig = field(default_factory=ChromaConfig)
    steps: int = 20_000
    batch: int = 16
    patch: int = 48  # LR pixels of output per side
    lr: float = 5e-4  # with MSE: L1 at 1e-3 did not move from the bicubic in 600 steps, MSE at 3e-4 did
    seed: int = 0
    checkpoint_every: int = 500
    validate_every: int = 2_000
    init: str = "torch"  # body weights: "torch" (PyTorch's default; the shipped 5-layer file) or "he"


def init_body(model: ChromaNet, init: str) -> ChromaNet:
    """Initialise the body for training. PyTorch's default conv init (a sixth of the variance a ReLU layer
    needs to keep its signal) was fine for the shipped 5 layers, but a 9-layer, 32-channel net trained
    with it did not leave the bicubic: -0.002 dB on validation after 600 steps, +0.0005 after 2,000 (the
    5-layer net: +0.62 at 2,000). With "he" (Kaiming normal for ReLU, zero bias), which keeps the signal's
    scale through every layer forward and back, the same 600 steps gave +0.24 dB. The output layer stays
    zero either way, so every network starts as the bicubic."""
    if init not in INITS:
        raise ValueError(f"chroma init must be one of {INITS}, not {init!r}")
    if init == "he":
        for conv in model.body:
            torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            torch.nn.init.zeros_(conv.bias)
    return model


def margin(cfg: ChromaTraining) -> int:
    """LR pixels of context a training patch is cut with: :data:`MARGIN`, or more for a network whose halo
    needs it (a deeper one than the shipped 5 layers), so its window never starts outside the patch."""
    return max(MARGIN, cfg.model.halo + BICUBIC_TAPS)


def training_images(fold: int, config: str = "best") -> list[Path]:
    """Nature and manga images outside test fold ``fold`` of ``config``'s K-fold split, plus its extra
    nature images (T91 in the quality config): the images the SR models of that split train on."""
    from mchmc.train.config import load_config
    from mchmc.train.data import assign_folds, dataset_images, list_images

    cfg = load_config(config)
    images = dataset_images(cfg.data)  # every category: the folds are assigned over the whole split
    folds = assign_folds(cfg, images)
    keep = [p for cat in ("nature", "manga") for p in images[cat] if folds[cat][p.name] != fold]
    return keep + list_images(cfg.data.root_path() / "nature_t91")


def jpeg_planes(lr_rgb: np.ndarray, quality: int, subsampling: int) -> np.ndarray:
    """LR uint8 RGB -> decoded JPEG as [0, 1] (H, W, 3) Y, Cb, Cr: what the page path computes."""
    buf = io.BytesIO()
    Image.fromarray(lr_rgb).save(buf, "JPEG", quality=int(quality), subsampling=int(subsampling))
    decoded = np.asarray(Image.open(buf).convert("RGB"))
    return colour.rgb_to_ycbcr(colour.to_unit(decoded))


def downscale(hr: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(imresize(hr.astype(np.float64), 0.5)), 0, 255).astype(np.uint8)


def bicubic_up(plane: np.ndarray, scale: int = 2) -> np.ndarray:
    return imresize(plane.astype(np.float64), output_shape=(scale * plane.shape[0], scale * plane.shape[1]))


def sample(rng: np.random.Generator, image: np.ndarray, cfg: ChromaTraining) -> tuple[np.ndarray, np.ndarray]:
    """One (input planes, target corrections) pair from a random patch of ``image`` at a random level."""
    s, p, halo = cfg.model.scale, cfg.patch, cfg.model.halo
    size = s * (p + 2 * margin(cfg))
    y0, x0 = rng.integers(0, image.shape[0] - size + 1), rng.integers(0, image.shape[1] - size + 1)
    hr = image[y0 : y0 + size, x0 : x0 + size]
    level = int(rng.integers(0, len(QUALITIES)))
    lo, hi = QUALITIES[level]
    sub = rng.choice([a for a, _ in SUBSAMPLING], p=[w for _, w in SUBSAMPLING])
    ycc = jpeg_planes(downscale(hr), int(rng.integers(lo, hi + 1)), int(sub))
    m = margin(cfg)
    win = ycc[m - halo : m + p + halo, m - halo : m + p + halo]
    target = colour.rgb_to_ycbcr(colour.to_unit(hr))[s * m : s * (m + p), s * m : s * (m + p), 1:]
    bic = np.stack([bicubic_up(ycc[..., c], s)[s * m : s * (m + p), s * m : s * (m + p)] for c in (1, 2)], -1)
    return inputs(win[..., 0], win[..., 1], win[..., 2], level), (target - bic).transpose(2, 0, 1).astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((a - b) ** 2), 1e-12)))


def chroma_gains(model: ChromaNet, images: list[np.ndarray], quality: dict[int, int] = VALIDATION_QUALITY,
                 subsampling: int = 2) -> dict[int, tuple[float, float, float, float]]:
    """level -> mean (Cb bicubic, Cb ours, Cr bicubic, Cr ours) PSNR against the HR chroma, crop 2."""
    out = {}
    for level, q in quality.items():
        rows = []
        engine = ChromaEngine(model, level)
        for hr in images:
            hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
            ycc = jpeg_planes(downscale(hr), q, subsampling)
            ref = colour.rgb_to_ycbcr(colour.to_unit(hr))
            dcb, dcr = engine.run(ycc, Region(0, ycc.shape[0], 0, ycc.shape[1]))
            row = []
            for c, d in ((1, dcb), (2, dcr)):
                bic = bicubic_up(ycc[..., c])
                row += [psnr(bic[2:-2, 2:-2], ref[2:-2, 2:-2, c]),
                        psnr(np.clip(bic + d, 0, 1)[2:-2, 2:-2], ref[2:-2, 2:-2, c])]
            rows.append(row)
        out[level] = tuple(float(v) for v in np.mean(rows, 0))
    return out


def is_colour(image: np.ndarray) -> bool:
    """Whether an RGB image has colour at all (a gray image stored as RGB has none: its bicubic chroma is
    exact, so its PSNR is unbounded and would swamp a mean; it still trains the network to add none)."""
    a = image.astype(np.int16)
    return bool(np.abs(a[..., 0] - a[..., 1]).max() > 2 or np.abs(a[..., 2] - a[..., 1]).max() > 2)


def _read(paths: list[Path], min_side: int, colour_only: bool = False) -> list[np.ndarray]:
    imgs = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    return [im for im in imgs if min(im.shape[:2]) >= min_side and (is_colour(im) or not colour_only)]


def train_chroma(paths: list[Path], run: Path, cfg: ChromaTraining = ChromaTraining(), log=print) -> Path:
    """Train (or resume) in ``run``; returns the path of ``best.pt``."""
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    val_paths, train_paths = paths[::VALIDATION_EVERY], [p for i, p in enumerate(paths) if i % VALIDATION_EVERY]
    train_imgs = _read(train_paths, cfg.model.scale * (cfg.patch + 2 * margin(cfg)))
    val_imgs = _read(val_paths, 16, colour_only=True)
    model = init_body(ChromaNet(cfg.model), cfg.init)
    opt = torch.optim.Adam(model.parameters(), cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    step, best, rng = 0, -np.inf, np.random.default_rng(cfg.seed)
    last = run / "last.pt"
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step, best = int(state["step"]), float(state["best"])
        rng.bit_generator.state = json.loads(state["rng"])
        log(f"resumed at step {step}")
    log(f"chroma training: {len(train_imgs)} images, {len(val_imgs)} validation, {cfg.steps} steps, "
        f"{cfg.model.macs_per_lr_pixel:,} MACs / LR px")
    t0, loss_sum = time.perf_counter(), 0.0
    while step < cfg.steps:
        batch = [sample(rng, train_imgs[int(rng.integers(len(train_imgs)))], cfg) for _ in range(cfg.batch)]
        x, y = (torch.from_numpy(np.stack(b)) for b in zip(*batch))
        loss = (model(x) - y).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step, loss_sum = step + 1, loss_sum + float(loss.detach())
        if step % cfg.validate_every == 0 or step == cfg.steps:
            gains = chroma_gains(model.eval(), val_imgs)
            model.train()
            mean_gain = float(np.mean([(v[1] - v[0] + v[3] - v[2]) / 2 for v in gains.values()]))
            _append(run / "metrics.csv", step, loss_sum / cfg.validate_every, mean_gain, gains,
                    (time.perf_counter() - t0))
            log(f"step {step}: loss {loss_sum / cfg.validate_every:.3e}, validation gain {mean_gain:+.3f} dB "
                + " ".join(f"L{k} Cb {v[1] - v[0]:+.2f} Cr {v[3] - v[2]:+.2f}" for k, v in gains.items()))
            loss_sum = 0.0
            if mean_gain > best:
                best = mean_gain
                save_chroma(model, run / "best.pt", {"step": step, "validation_gain_db": mean_gain,
                                                     "training": asdict(cfg)})
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            state = {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                     "step": step, "best": best, "rng": json.dumps(rng.bit_generator.state)}
            with atomic_write(last) as tmp:
                torch.save(state, tmp)
    load_chroma(run / "best.pt")  # the kept model reads back
    return run / "best.pt"


def _append(path: Path, step: int, loss: float, gain: float, gains: dict, seconds: float) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["step", "loss", "gain_db"] + [f"L{k}_{n}" for k in gains for n in
                                                      ("cb_bicubic", "cb", "cr_bicubic", "cr")] + ["seconds"])
        w.writerow([step, f"{loss:.4e}", f"{gain:.4f}"] + [f"{v:.4f}" for g in gains.values() for v in g]
                   + [f"{seconds:.0f}"])


def main() -> int:
    ap = argparse.ArgumentParser(description="Train the chroma network (mchmc.chroma).")
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--fold", type=int, default=1)
    ap.add_argument("--steps", type=int, default=ChromaTraining.steps)
    ap.add_argument("--channels", type=int, default=ChromaConfig.channels)
    ap.add_argument("--layers", type=int, default=ChromaConfig.layers)
    ap.add_argument("--init", choices=INITS, default=ChromaTraining.init,
                    help="body init: he for a network deeper than the shipped 5 layers")
    args = ap.parse_args()
    cfg = ChromaTraining(model=ChromaConfig(args.channels, args.layers), steps=args.steps, init=args.init)
    train_chroma(training_images(args.fold), args.run, cfg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
