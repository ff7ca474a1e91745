"""A level's router fitted on its training pages (``mchmc train-router``; :mod:`mchmc.router` says why).

    mchmc train-router quality                      # a router for every level of the tier with specialists
    mchmc train-router mchmc/weights/srformc-quality-noise3.pt --no-prefect

Data: the training images of the level's own config (its provenance's) and fold, the validation images it
carves left out and the test fold never read. Each image becomes its training pair's LR page (MATLAB bicubic
1/2 of the HR image, as :func:`mchmc.train.data.hr_lr_rgb` makes it for training), compressed ``draws``
times the way the level's training data was (:func:`mchmc.train.degrade.degrade`, seeded per image and
draw; a clean model's pages stay clean). Each page gives :func:`mchmc.router.page_features`: the level
model's pooled F2 mean over the Y plane its head reads, and the page's statistics.

Fit: multinomial logistic regression on standardised features, with class-balanced cross-entropy plus an L2
penalty, full batch (LBFGS). The penalty is chosen by ``folds``-fold cross-validation on the training
images, grouped by image so an image's draws never straddle two folds, by the mean log-loss. The model is
then fitted again on all of them. The validation images are scored, router and head side by side, and
reported; they choose nothing.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from mchmc.router import Router, file_sha256, route_inputs, router_file, save_router


@dataclass(frozen=True)
class RouterFit:
    draws: int = 3  # degraded pages per image (1 for a clean model: its pages are all alike)
    folds: int = 5
    strengths: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1)  # L2 penalties tried
    seed: int = 0
    max_iter: int = 500
    # Page sizes, as the head's are drawn (mchmc.train.head.SCALES): the HR image resized by 1 / f, f = the
    # model's scale being the training pair's LR page, f < scale a bigger page (f = 0.5: a 4x scan). The
    # statistics read a big page reduced, and a router fitted on the LR page alone sent an enlarged
    # photograph to the manga specialist (bench/category_scales.py --router; docs/quality-tier.md, session
    # 12). Release 9's routers were fitted at these three sizes; release 6's at (2.0,).
    sizes: tuple[float, ...] = (2.0, 1.0, 0.5)


def fit_linear(x: np.ndarray, y: np.ndarray, k: int, strength: float, max_iter: int = 500) -> tuple[np.ndarray, ...]:
    """(mean, scale, weight, bias) of a class-balanced, L2-penalised softmax regression of ``y`` on ``x``."""
    mean, scale = x.mean(0), x.std(0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    xt = torch.tensor((x - mean) / scale, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.long)
    counts = np.bincount(y, minlength=k).astype(np.float64)
    weights = torch.tensor(np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / k, 0.0))
    torch.manual_seed(0)
    lin = torch.nn.Linear(x.shape[1], k).double()
    torch.nn.init.zeros_(lin.weight)
    torch.nn.init.zeros_(lin.bias)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(lin(xt), yt, weight=weights) + strength * (lin.weight ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return mean, scale, lin.weight.detach().numpy().copy(), lin.bias.detach().numpy().copy()


def _probabilities(params: tuple[np.ndarray, ...], x: np.ndarray) -> np.ndarray:
    """Each row's probabilities under ``fit_linear``'s (mean, scale, weight, bias), as the router computes them."""
    return Router((), *params, model_sha256="").probabilities(x)


def cross_validate(x: np.ndarray, y: np.ndarray, groups: np.ndarray, k: int, strength: float,
                   fit: RouterFit = RouterFit()) -> tuple[float, np.ndarray]:
    """(mean log-loss, held-out probabilities) of ``fit.folds``-fold cross-validation, whole groups per fold."""
    names = np.unique(groups)
    fold_of = dict(zip(names[np.random.default_rng(fit.seed).permutation(len(names))],
                       np.arange(len(names)) % fit.folds))
    fold = np.array([fold_of[g] for g in groups])
    probs = np.zeros((len(y), k))
    for f in range(fit.folds):
        held = fold == f
        if held.any() and (~held).any():
            probs[held] = _probabilities(fit_linear(x[~held], y[~held], k, strength, fit.max_iter), x[held])
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1)).mean()), probs


def top1_by_category(probs: np.ndarray, y: np.ndarray, categories: tuple[str, ...]) -> dict[str, float]:
    return {c: round(float((probs[y == i].argmax(1) == i).mean()), 4) for i, c in enumerate(categories) if (y == i).any()}


def page_rows(engine, refs, noise: tuple[int, ...] | None, draws: int, reduce_of: dict, categories: tuple[str, ...],
              log: Callable[[str], None] = print, what: str = "pages",
              sizes: tuple[float, ...] = (2.0,)) -> tuple[np.ndarray, ...]:
    """(features, labels, image names, head probabilities) of ``draws`` pages per image of ``refs`` and size
    (:attr:`RouterFit.sizes`); every page of an image carries its name, so cross-validation keeps them together."""
    from mchmc.train.data import hr_lr_rgb, load_rgb
    from mchmc.train.degrade import degrade_as
    from mchmc.train.head import resized

    scale = engine.config.scale
    xs, ys, groups, heads = [], [], [], []
    for i, ref in enumerate(refs):
        key = f"{ref.category}/{ref.path.name}"
        hr, lr = hr_lr_rgb(load_rgb(ref.path), scale, reduce_of.get(ref.path, 1))
        for f in sizes:  # f = scale: the training pair's LR page; else the HR image resized by 1 / f
            sized = lr if f == scale else resized(_uint8(hr), f, max_pixels=1 << 62)  # whole, as a page is read
            for d in range(draws if noise is not None else 1):  # seeded per image, draw and size
                page = sized if noise is None else \
                    degrade_as(_uint8(sized), noise, f"{key}#router{d}" + ("" if f == scale else f"@{f:g}"))[0]
                features, stats = route_inputs(engine, page)
                xs.append(features)
                heads.append(engine.probabilities(stats))
                ys.append(categories.index(ref.category))
                groups.append(key)
        if (i + 1) % 50 == 0 or i + 1 == len(refs):
            log(f"{what}: {i + 1}/{len(refs)} images")
    return np.array(xs), np.array(ys), np.array(groups), np.array(heads)


def _uint8(page: np.ndarray) -> np.ndarray:
    return page if page.dtype == np.uint8 else (page.astype(np.float64) / 257.0).round().astype(np.uint8)


def train_router(model_file: str | Path, config: str | None = None, fold: int = 1, overrides: dict | None = None,
                 fit: RouterFit = RouterFit(), out: str | Path | None = None,
                 log: Callable[[str], None] = print) -> dict:
    """Fit the router of one level's ``model_file`` (see the module doc), write it to ``out`` (default:
    :func:`mchmc.router.router_file`) and return the summary."""
    from mchmc.engine import Engine
    from mchmc.modelfile import load_model
    from mchmc.train.config import load_config
    from mchmc.train.data import extra_images, split_images

    t0 = time.perf_counter()
    loaded = load_model(model_file)
    if not loaded.config.has_classifier:
        raise ValueError(f"{loaded.path}: an MCH model has no category head whose features a router reads")
    cats = tuple(loaded.config.categories)
    cfg = load_config(config or loaded.provenance.get("config") or "best", overrides)
    split = split_images(cfg, cats, fold)
    reduce_of = {p: r for _, p, r in extra_images(cfg.data)}
    engine = Engine(loaded.model, tile=512, precision="fp32")
    noise = cfg.data.noise
    x, y, groups, heads = page_rows(engine, split.train, noise, fit.draws, reduce_of, cats, log, "training", fit.sizes)
    vx, vy, _, vhead = page_rows(engine, split.val, noise, fit.draws, reduce_of, cats, log, "validation", fit.sizes)
    losses, held_out = {}, {}
    for strength in fit.strengths:
        losses[strength], held_out[strength] = cross_validate(x, y, groups, len(cats), strength, fit)
        log(f"L2 {strength:g}: cross-validated log-loss {losses[strength]:.4f}")
    best = min(losses, key=losses.get)
    cv_probs = held_out[best]
    params = fit_linear(x, y, len(cats), best, fit.max_iter)
    summary = {"model": loaded.path.name, "config": cfg.name, "fold": fold, "noise_level": cfg.data.noise_level,
               "train_images": len(np.unique(groups)), "train_pages": len(y),
               "val_images": len(split.val), "strength": best, "cv_log_loss": {f"{s:g}": round(v, 5) for s, v in losses.items()},
               "cv_top1": top1_by_category(cv_probs, y, cats), "fit": asdict(fit)}
    summary["train_top1_head"] = top1_by_category(heads, y, cats)  # the head learned these pages: optimistic
    if len(vy):
        summary["val_top1"] = top1_by_category(_probabilities(params, vx), vy, cats)
        summary["val_top1_head"] = top1_by_category(vhead, vy, cats)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    router = Router(cats, *params, model_sha256=file_sha256(loaded.path), provenance=summary)
    summary["out"] = str(save_router(router, out or router_file(loaded.path)))
    return summary


def routed_levels(model: str | Path = "quality") -> list[Path]:
    """The level files of ``model`` (its clean file, then its noise-level variants) that have specialists."""
    from mchmc.modelfile import (
        load_model,
        noise_variants,
        resolve_model,
        specialist_files,
    )

    base = resolve_model(model)
    cats = tuple(load_model(base).config.categories or ())
    levels = [f for f in [base, *noise_variants(base).values()] if specialist_files(f, cats)]
    if not levels:
        raise ValueError(f"{base}: no level of this model has specialists (X-for-<category>.pt) to route between")
    return levels


def train_routers(model: str | Path = "quality", config: str | None = None, fold: int = 1,
                  overrides: dict | None = None, fit: RouterFit = RouterFit(),
                  log: Callable[[str], None] = print) -> list[dict]:
    """A router for each level of ``model`` that has specialists (:func:`routed_levels`)."""
    return [train_router(f, config, fold, overrides, fit, log=log) for f in routed_levels(model)]
