"""The category head retrained alone, on whole pages seen at many resolutions (issue 19).

    mchmc train-head srformc --out srformc.pt                  # config from the model's provenance, else best
    mchmc train-head mchmc/weights/srformc-noise1.pt --out x.pt   # its JPEG level comes from its config

Why: the head learned from LR patches of half-size pages (a Manga109 page seen at
413 x 585). Archive pages arrive at scan resolution, two to four times larger, and
the F2 statistics of a page change with its pixel size (strokes get wider, screen
tones coarser), so a manga page at 827 x 1170 was called nature 8 times in 11.

What: conv1, conv2 and conv3 stay frozen, so every upscaled pixel is bit-identical;
only the head (GAP -> FC 256 -> ReLU -> FC n: 9,219 parameters) is trained again,
on the F2 mean of whole training pages (what inference pools) drawn at ``SCALES``:
the HR page resized by 1 / f with MATLAB bicubic, f = 2 being the benchmark's LR,
f = 1 the page itself, f < 1 an enlargement (a high-resolution scan). A resized page
above ``MAX_PIXELS`` is centre-cropped to it (the pooled mean barely moves; the cost
stays bounded). For a JPEG noise-level model each resized page is compressed the way
its training data was (:func:`mchmc.train.degrade.degrade`, seeded per image and size).

Model selection: the training folds less the validation images its config carves
(:func:`mchmc.train.data.split_images`) train the head; the epoch kept is the one with
the lowest validation loss (class-balanced cross-entropy over every size). The test
fold is not read here (``bench/category_scales.py`` scores it once).
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mchmc.engine import Engine
from mchmc.model import MCH
from mchmc.resize import imresize

SCALES = (0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0)  # page = HR resized by 1 / f
MAX_PIXELS = 1 << 20
CACHE = Path.home() / ".cache" / "mchmc" / "head-features"


@dataclass(frozen=True)
class HeadFit:
    """How the head is fitted: full-batch AdamW on the pooled features, from the model's own head."""

    epochs: int = 3000
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0


def resized(hr: np.ndarray, f: float, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """``hr`` (uint8) resized by 1 / ``f`` (MATLAB bicubic, rounded), centre-cropped to ``max_pixels``."""
    h, w = hr.shape[:2]
    size = (max(1, round(h / f)), max(1, round(w / f)))
    page = hr if size == (h, w) else imresize(hr, output_shape=size)
    ph, pw = page.shape[:2]
    if ph * pw > max_pixels:
        side = int(max_pixels**0.5)
        ch, cw = min(ph, side), min(pw, max_pixels // min(ph, side))
        y, x = (ph - ch) // 2, (pw - cw) // 2
        page = page[y : y + ch, x : x + cw]
    return np.ascontiguousarray(page)


def pooled(engine: Engine, page: np.ndarray) -> np.ndarray:
    """The F2 mean the head reads for ``page`` (uint8 RGB or gray): Y as the upscaler computes it."""
    from mchmc.pages.meta import Page, PageMeta
    from mchmc.pages.upscale import luminance

    mode = "L" if page.ndim == 2 else "RGB"
    meta = PageMeta(path="", format="PNG", mode=mode, bits=8 * page.itemsize, width=page.shape[1],
                    height=page.shape[0])
    stats = engine.gap_stats(luminance(Page(page, meta)))
    return stats.total / max(stats.count, 1)


def image_features(engine: Engine, hr: np.ndarray, key: str, scales=SCALES, noise: tuple[int, int] | None = None,
                   ) -> np.ndarray:
    """One training image's pooled F2 at every size: ``len(scales)`` x n2."""
    from mchmc.train.degrade import degrade

    rows = []
    for f in scales:
        page = resized(hr, f)
        if noise is not None:
            page, _ = degrade(page, noise[0], noise[1], f"{key}@{f}")
        rows.append(pooled(engine, page))
    return np.stack(rows)


def _loss(head: nn.Module, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(head(x), y, weight=weight)


def fit_head(model: MCH, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
             fit: HeadFit = HeadFit(), log: Callable[[str], None] = print) -> tuple[MCH, dict]:
    """A copy of ``model`` whose head is fitted on ``train`` (features, labels) and chosen on ``val``.
    Returns it and what was measured (validation loss and top-1 before and after)."""
    torch.manual_seed(fit.seed)
    tuned = copy.deepcopy(model).float().eval()
    head = tuned.head
    for p in tuned.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    x, y = (torch.as_tensor(a) for a in (train[0].astype(np.float32), train[1].astype(np.int64)))
    vx, vy = (torch.as_tensor(a) for a in (val[0].astype(np.float32), val[1].astype(np.int64)))
    n = len(tuned.config.categories)
    weight = torch.as_tensor(len(y) / (n * np.bincount(y.numpy(), minlength=n).clip(1)), dtype=torch.float32)
    opt = torch.optim.AdamW(head.parameters(), lr=fit.lr, weight_decay=fit.weight_decay)

    def score() -> tuple[float, float]:
        with torch.no_grad():
            return float(_loss(head, vx, vy, weight)), float((head(vx).argmax(1) == vy).float().mean())

    before = score()
    best = (before[0], 0, copy.deepcopy(head.state_dict()))
    for epoch in range(1, fit.epochs + 1):
        head.train()
        opt.zero_grad()
        loss = _loss(head, x, y, weight)
        loss.backward()
        opt.step()
        head.eval()
        val_loss, val_top1 = score()
        if val_loss < best[0]:
            best = (val_loss, epoch, copy.deepcopy(head.state_dict()))
        if epoch % 500 == 0:
            log(f"epoch {epoch}: train loss {float(loss.detach()):.4f}, validation loss {val_loss:.4f}, top-1 {val_top1:.3f}")
    head.load_state_dict(best[2])
    for p in tuned.parameters():
        p.requires_grad_(False)
    after = score()
    return tuned, {"epoch": best[1], "val_loss_before": before[0], "val_top1_before": before[1],
                   "val_loss": after[0], "val_top1": after[1], "fit": asdict(fit)}


def retrain_head(model_file: str | Path, out: str | Path, config: str | None = None, fold: int = 1,
                 overrides: dict | None = None, scales=SCALES, fit: HeadFit = HeadFit(),
                 log: Callable[[str], None] = print, cache: Path | bool = True) -> dict:
    """Retrain ``model_file``'s head (see the module doc) and save the model to ``out``; returns the summary.
    ``config`` (default: the one in the model's provenance, else ``best``; ``overrides`` as for training)
    gives the data, the folds, the validation rule and the JPEG level. The pooled features are kept in
    ``cache`` (True: :data:`CACHE`; False: not kept) under a hash of everything they depend on, so a
    refit costs seconds."""
    from mchmc.modelconfig import CATEGORIES
    from mchmc.modelfile import load_model, save_model
    from mchmc.train.config import load_config
    from mchmc.train.data import load_rgb, split_images

    loaded = load_model(model_file)
    if not loaded.config.has_classifier:
        raise ValueError(f"{loaded.path}: an MCH model has no category head to retrain")
    cfg = load_config(config or loaded.provenance.get("config") or "best", overrides)
    split = split_images(cfg, tuple(loaded.config.categories or CATEGORIES), fold)
    engine = Engine(loaded.model, tile=512, precision="fp32")
    index = {c: i for i, c in enumerate(loaded.config.categories)}

    def features(refs, what: str) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for i, ref in enumerate(refs):
            xs.append(image_features(engine, load_rgb(ref.path), f"{ref.category}/{ref.path.name}", scales,
                                     cfg.data.noise))
            ys += [index[ref.category]] * len(scales)
            if (i + 1) % 50 == 0 or i + 1 == len(refs):
                log(f"{what}: {i + 1}/{len(refs)} images x {len(scales)} sizes")
        return np.concatenate(xs), np.asarray(ys)

    key = _features_key(loaded.path, cfg, split, scales)
    folder = CACHE if cache is True else cache or None
    stored = folder / f"{key}.npz" if folder else None
    if stored is not None and stored.is_file():
        with np.load(stored) as z:
            train, val = (z["train_x"], z["train_y"]), (z["val_x"], z["val_y"])
        log(f"pooled features from {stored}")
    else:
        train, val = features(split.train, "training"), features(split.val, "validation")
        if stored is not None:
            from mchmc.fsutil import atomic_write

            stored.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(stored) as tmp, open(tmp, "wb") as f:
                np.savez(f, train_x=train[0], train_y=train[1], val_x=val[0], val_y=val[1])
    tuned, summary = fit_head(loaded.model, train, val, fit, log)
    summary.update(scales=list(scales), train_images=len(split.train), val_images=len(split.val),
                   config=cfg.name, noise_level=cfg.data.noise_level, max_pixels=MAX_PIXELS)
    provenance = dict(loaded.provenance, head_retrained=summary)
    save_model(tuned, out, provenance)
    return summary


def _features_key(model_path: Path, cfg, split, scales) -> str:
    """What the pooled features depend on: the conv weights (the file), the images and labels, the sizes,
    the crop bound and the JPEG level."""
    import hashlib
    import json

    from mchmc.train.data import file_sha256

    doc = {"model": file_sha256(model_path), "scales": list(scales), "max_pixels": MAX_PIXELS,
           "noise": cfg.data.noise, "train": [[r.category, r.path.name] for r in split.train],
           "val": [[r.category, r.path.name] for r in split.val], "version": 1}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]
