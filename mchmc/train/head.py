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
stays bounded). Beside each whole page, ``WINDOWS`` random windows of a training
patch's size (the 30 x 30 LR patches Phase 1 classified) are pooled from the same F2,
and the loss mixes pages and windows: a head fitted on whole pages alone drifts on
patches, and ``mchmc explain``'s local maps, which read the head patch by patch
around each pixel's features, then light the wrong category on a page's margins. For a JPEG noise-level model each resized page is compressed the way
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
WINDOWS = 16  # patch-sized F2 windows sampled per page and size (the Phase 1 view: what keeps local maps sane)
CACHE = Path.home() / ".cache" / "mchmc" / "head-features"


@dataclass(frozen=True)
class HeadFit:
    """How the head is fitted: full-batch AdamW on the pooled features, from the model's own head."""

    epochs: int = 3000
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    window_share: float = 0.5  # weight of the patch-sized windows' loss beside the whole pages'


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


def as_page(pixels: np.ndarray):
    """A gray or RGB array (a training image, resized) as the :class:`~mchmc.pages.meta.Page` a reader gives."""
    from mchmc.pages.meta import Page, PageMeta

    mode = "L" if pixels.ndim == 2 else "RGB"
    meta = PageMeta(path="", format="PNG", mode=mode, bits=8 * pixels.itemsize, width=pixels.shape[1],
                    height=pixels.shape[0])
    return Page(pixels, meta)


def _luminance(page: np.ndarray) -> np.ndarray:
    from mchmc.colour import luminance

    return luminance(page)


def pooled(engine: Engine, page: np.ndarray) -> np.ndarray:
    """The F2 mean the head reads for ``page`` (uint8 RGB or gray): Y as the upscaler computes it."""
    stats = engine.gap_stats(_luminance(page))
    return stats.total / max(stats.count, 1)


def page_f2(model: MCH, page: np.ndarray) -> torch.Tensor:
    """The page's unpadded F2 (n2, H - 2r, W - 2r), float64: the positions the engine pools."""
    with torch.inference_mode():
        return model.features(torch.from_numpy(_luminance(page))[None, None])[0].double()


def windows(f2: torch.Tensor, count: int, rng: np.random.Generator, patch_lr: int = 30, halo: int = 4) -> np.ndarray:
    """F2 means of ``count`` random windows of a training patch's size (``patch_lr`` LR px, whose unpadded
    F2 is ``patch_lr - 2 * halo`` wide: the patches Phase 1 classified): ``count`` x n2 (none on a smaller page)."""
    k = patch_lr - 2 * halo
    if min(f2.shape[1:]) < k:
        return np.empty((0, f2.shape[0]))
    ys = rng.integers(0, f2.shape[1] - k + 1, count)
    xs = rng.integers(0, f2.shape[2] - k + 1, count)
    return np.stack([f2[:, a : a + k, b : b + k].mean((1, 2)).numpy() for a, b in zip(ys, xs)])


def image_features(engine: Engine, hr: np.ndarray, key: str, scales=SCALES, noise: tuple[int, ...] | None = None,
                   count: int = WINDOWS, patch_lr: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """One training image at every size: (pooled F2 of each whole page, ``len(scales)`` x n2;
    F2 means of ``count`` patch-sized windows of each, about ``count * len(scales)`` x n2)."""
    import zlib

    from mchmc.train.degrade import degrade_as

    pages, wins = [], []
    rng = np.random.default_rng([zlib.crc32(key.encode()), 0x5CA1E])
    for f in scales:
        page = resized(hr, f)
        if noise is not None:
            page, _ = degrade_as(page, noise, f"{key}@{f}")
        f2 = page_f2(engine.model, page)  # one F2 pass gives the page's mean and its windows
        pages.append(f2.mean((1, 2)).numpy())
        wins.append(windows(f2, count, rng, patch_lr, engine.config.feature_halo))
    return np.stack(pages), np.concatenate(wins)


class _Set:
    """Pages (and, optionally, patch-sized windows) with labels, as tensors, with class-balancing weights."""

    def __init__(self, arrays: tuple[np.ndarray, ...], n: int):
        self.parts = []
        for x, y in zip(arrays[0::2], arrays[1::2]):
            yt = torch.as_tensor(y.astype(np.int64))
            w = torch.as_tensor(len(y) / (n * np.bincount(y, minlength=n).clip(1)), dtype=torch.float32)
            self.parts.append((torch.as_tensor(x.astype(np.float32)), yt, w))

    def loss(self, head: nn.Module, share: float) -> torch.Tensor:
        """Class-balanced cross-entropy of the pages, mixed with the windows' at ``share``."""
        losses = [nn.functional.cross_entropy(head(x), y, weight=w) for x, y, w in self.parts if len(y)]
        return losses[0] if len(losses) == 1 else (1 - share) * losses[0] + share * losses[1]

    def top1(self, head: nn.Module) -> float:
        x, y, _ = self.parts[0]
        return float((head(x).argmax(1) == y).float().mean())


def fit_head(model: MCH, train: tuple[np.ndarray, ...], val: tuple[np.ndarray, ...],
             fit: HeadFit = HeadFit(), log: Callable[[str], None] = print) -> tuple[MCH, dict]:
    """A copy of ``model`` whose head is fitted on ``train`` and chosen on ``val``, each (page
    features, labels) or (page features, labels, window features, labels). Returns it and what was
    measured (validation loss, the pages' top-1, before and after)."""
    torch.manual_seed(fit.seed)
    tuned = copy.deepcopy(model).float().eval()
    head = tuned.head
    for p in tuned.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
    n = len(tuned.config.categories)
    tr, va = _Set(train, n), _Set(val, n)
    opt = torch.optim.AdamW(head.parameters(), lr=fit.lr, weight_decay=fit.weight_decay)

    def score() -> tuple[float, float]:
        with torch.no_grad():
            return float(va.loss(head, fit.window_share)), va.top1(head)

    before = score()
    best = (before[0], 0, copy.deepcopy(head.state_dict()))
    for epoch in range(1, fit.epochs + 1):
        head.train()
        opt.zero_grad()
        loss = tr.loss(head, fit.window_share)
        loss.backward()
        opt.step()
        head.eval()
        val_loss, val_top1 = score()
        if val_loss < best[0]:
            best = (val_loss, epoch, copy.deepcopy(head.state_dict()))
        if epoch % 500 == 0:
            log(f"epoch {epoch}: train loss {float(loss.detach()):.4f}, validation loss {val_loss:.4f}, "
                f"top-1 {val_top1:.3f}")
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

    def features(refs, what: str) -> tuple[np.ndarray, ...]:
        xs, ys, ws, wys = [], [], [], []
        for i, ref in enumerate(refs):
            pages, wins = image_features(engine, load_rgb(ref.path), f"{ref.category}/{ref.path.name}", scales,
                                         cfg.data.noise, patch_lr=cfg.data.patch // loaded.config.scale)
            xs.append(pages)
            ws.append(wins)
            ys += [index[ref.category]] * len(pages)
            wys += [index[ref.category]] * len(wins)
            if (i + 1) % 50 == 0 or i + 1 == len(refs):
                log(f"{what}: {i + 1}/{len(refs)} images x {len(scales)} sizes")
        return np.concatenate(xs), np.asarray(ys), np.concatenate(ws), np.asarray(wys)

    key = _features_key(loaded.path, cfg, split, scales)
    folder = CACHE if cache is True else cache or None
    stored = folder / f"{key}.npz" if folder else None
    if stored is not None and stored.is_file():
        with np.load(stored) as z:
            train, val = (tuple(z[f"{part}_{k}"] for k in ("x", "y", "wx", "wy")) for part in ("train", "val"))
        log(f"pooled features from {stored}")
    else:
        train, val = features(split.train, "training"), features(split.val, "validation")
        if stored is not None:
            from mchmc.fsutil import atomic_write

            stored.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(stored) as tmp, open(tmp, "wb") as f:
                np.savez(f, **{f"{part}_{k}": a for part, arrays in (("train", train), ("val", val))
                               for k, a in zip(("x", "y", "wx", "wy"), arrays)})
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

    from mchmc.fsutil import file_sha256

    doc = {"model": file_sha256(model_path), "scales": list(scales), "max_pixels": MAX_PIXELS, "windows": WINDOWS,
           "patch": cfg.data.patch,
           "noise": cfg.data.noise, "train": [[r.category, r.path.name] for r in split.train],
           "val": [[r.category, r.path.name] for r in split.val], "version": 3}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]
