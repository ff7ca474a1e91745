"""From per-image scores to the paper's tables (7, 8, 9, 10), each as mean +- std over folds.

Every number is first computed per test fold (each fold's test images are
disjoint, and together they are every image once), then summarised over the
folds by :class:`Stat`: the mean of the fold values and their sample standard
deviation (ddof 1; undefined with one fold). Conventions follow the paper's
own numbers (:mod:`mchmc.experiment.paper`): Table 7's average is over images, Table 9's
over categories, Table 10 pools the images of all folds.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from mchmc.experiment.evaluate import BICUBIC, ImageScore
from mchmc.experiment.paper import CATEGORIES

MCH_MC_METHOD, MCH_BASELINE = "SRforMC", "SRforAll"
METHOD_ORDER = (BICUBIC, "SRforNature", "SRforManga", "SRforText", "SRforAll", "SRforMC")
AVERAGE = "average"


@dataclass(frozen=True)
class Stat:
    """A quantity over folds: mean, sample std (nan for one fold) and the number of folds."""

    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Iterable[float]) -> "Stat":
        v = [float(x) for x in values if x is not None and not math.isnan(float(x))]
        if not v:
            return cls(float("nan"), float("nan"), 0)
        return cls(float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else float("nan"), len(v))

    def text(self, digits: int = 2, signed: bool = False) -> str:
        if self.n == 0:
            return "-"
        sign = "+" if signed else ""
        body = f"{self.mean:{sign}.{digits}f}"
        return body if math.isnan(self.std) else f"{body} ± {self.std:.{digits}f}"


def categories_of(scores: Iterable[ImageScore]) -> list[str]:
    seen = list(dict.fromkeys(s.category for s in scores))
    return [c for c in CATEGORIES if c in seen] + [c for c in seen if c not in CATEGORIES]


def methods_of(scores: Iterable[ImageScore]) -> list[str]:
    seen = list(dict.fromkeys(s.method for s in scores))
    return [m for m in METHOD_ORDER if m in seen] + [m for m in seen if m not in METHOD_ORDER]


def folds_of(scores: Iterable[ImageScore]) -> list[int]:
    return sorted({s.fold for s in scores})


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def fold_means(scores: list[ImageScore], metric: str) -> dict[str, dict[int, dict[str, float]]]:
    """method -> fold -> {category: mean over its test images, 'average': mean over all the fold's images}."""
    cats = categories_of(scores)
    out: dict[str, dict[int, dict[str, float]]] = {}
    for m in methods_of(scores):
        for f in folds_of(scores):
            rows = [s for s in scores if s.method == m and s.fold == f]
            if not rows:
                continue
            cell = {c: _mean([getattr(s, metric) for s in rows if s.category == c]) for c in cats}
            cell[AVERAGE] = _mean([getattr(s, metric) for s in rows])
            out.setdefault(m, {})[f] = cell
    return out


def table7(scores: list[ImageScore], psnr: str = "psnr", ssim: str = "ssim") -> dict[str, dict[str, tuple[Stat, Stat]]]:
    """method -> column (categories, 'average') -> (PSNR Stat, SSIM Stat) over folds.
    ``psnr="psnr2", ssim="ssim2"`` gives the crop-2 version."""
    p, s = fold_means(scores, psnr), fold_means(scores, ssim)
    cols = categories_of(scores) + [AVERAGE]
    return {m: {c: (Stat.of(v[c] for v in p[m].values()), Stat.of(v[c] for v in s[m].values())) for c in cols}
            for m in p}


def table7_cells(scores: list[ImageScore], psnr: str = "psnr", ssim: str = "ssim"
                 ) -> dict[str, dict[int, tuple[float, float]]]:
    """The grid itself: method -> fold -> (average PSNR, average SSIM) of that cell's test images."""
    p, s = fold_means(scores, psnr), fold_means(scores, ssim)
    return {m: {f: (p[m][f][AVERAGE], s[m][f][AVERAGE]) for f in p[m]} for m in p}


def _pairs(scores: list[ImageScore], a: str, b: str) -> list[tuple[ImageScore, ImageScore]]:
    """(a's score, b's score) of every test image both methods were scored on."""
    other = {(s.fold, s.category, s.name): s for s in scores if s.method == b}
    return [(s, other[(s.fold, s.category, s.name)]) for s in scores
            if s.method == a and (s.fold, s.category, s.name) in other]


def gain(scores: list[ImageScore], a: str = MCH_MC_METHOD, b: str = MCH_BASELINE,
         psnr: str = "psnr", ssim: str = "ssim") -> dict[str, tuple[Stat, Stat]]:
    """a - b per category and on average (over images), per fold, then over folds: (PSNR, SSIM)."""
    pairs = _pairs(scores, a, b)
    cols = categories_of([x for x, _ in pairs]) + [AVERAGE]
    out = {}
    for c in cols:
        dp, ds = [], []
        for f in sorted({x.fold for x, _ in pairs}):
            sel = [(x, y) for x, y in pairs if x.fold == f and (c == AVERAGE or x.category == c)]
            if sel:
                dp.append(_mean([getattr(x, psnr) - getattr(y, psnr) for x, y in sel]))
                ds.append(_mean([getattr(x, ssim) - getattr(y, ssim) for x, y in sel]))
        out[c] = (Stat.of(dp), Stat.of(ds))
    return out


@dataclass(frozen=True)
class GainSplit:
    """Table 10, one column: the mean per-image gain over the images of one group."""

    images: int
    psnr: float  # dB, pooled over all folds' images of the group
    ssim: float
    psnr_folds: Stat  # the group's mean gain per fold, over folds
    ssim_folds: Stat


def table10(scores: list[ImageScore], a: str = MCH_MC_METHOD, b: str = MCH_BASELINE,
            psnr: str = "psnr", ssim: str = "ssim") -> dict[str, GainSplit]:
    """a - b on each test image, split by whether a (MCH-MC) classified the image correctly:
    {'true': ..., 'false': ...} (paper Table 10). Images a did not classify are left out."""
    pairs = [(x, y) for x, y in _pairs(scores, a, b) if x.classified]
    out = {}
    for key, want in (("true", True), ("false", False)):
        sel = [(x, y) for x, y in pairs if x.correct == want]
        dp = {f: _mean([getattr(x, psnr) - getattr(y, psnr) for x, y in sel if x.fold == f]) for f in {x.fold for x, _ in sel}}
        ds = {f: _mean([getattr(x, ssim) - getattr(y, ssim) for x, y in sel if x.fold == f]) for f in {x.fold for x, _ in sel}}
        out[key] = GainSplit(len(sel), _mean([getattr(x, psnr) - getattr(y, psnr) for x, y in sel]),
                             _mean([getattr(x, ssim) - getattr(y, ssim) for x, y in sel]),
                             Stat.of(dp.values()), Stat.of(ds.values()))
    return out


def table9(scores: list[ImageScore], method: str = MCH_MC_METHOD) -> dict[str, Stat]:
    """Top-1 accuracy (%) per category and their plain mean ('average', as the paper), over folds."""
    rows = [s for s in scores if s.method == method and s.classified]
    cats = categories_of(rows)
    per_fold: dict[str, list[float]] = {c: [] for c in cats + [AVERAGE]}
    for f in folds_of(rows):
        accs = {c: 100.0 * _mean([s.correct for s in rows if s.fold == f and s.category == c]) for c in cats}
        for c, v in accs.items():
            per_fold[c].append(v)
        per_fold[AVERAGE].append(_mean([v for v in accs.values() if not math.isnan(v)]))
    return {c: Stat.of(v) for c, v in per_fold.items()}


def confusion(scores: list[ImageScore], method: str = MCH_MC_METHOD) -> dict[str, dict[str, int]]:
    """true category -> predicted category -> images (all folds)."""
    rows = [s for s in scores if s.method == method and s.classified]
    cats = categories_of(rows)
    return {t: {p: sum(1 for s in rows if s.category == t and s.predicted == p) for p in cats} for t in cats}


def table8(scores: list[ImageScore]) -> dict[str, dict[str, Stat]]:
    """Inference seconds per image, MCH (the four MCH methods pooled) vs MCH-MC (SRforMC), per category
    and over all images, over folds; plus 'ms_per_lr_mp' (milliseconds per LR megapixel)."""
    groups = {"MCH": [s for s in scores if s.method not in (BICUBIC, MCH_MC_METHOD)],
              "MCH-MC": [s for s in scores if s.method == MCH_MC_METHOD],
              BICUBIC: [s for s in scores if s.method == BICUBIC]}
    out = {}
    for g, rows in groups.items():
        if not rows:
            continue
        cats = categories_of(rows)
        cols: dict[str, list[float]] = {c: [] for c in cats + [AVERAGE, "ms_per_lr_mp"]}
        for f in folds_of(rows):
            fr = [s for s in rows if s.fold == f]
            for c in cats:
                cols[c].append(_mean([s.seconds for s in fr if s.category == c]))
            cols[AVERAGE].append(_mean([s.seconds for s in fr]))
            px = sum(s.lr_pixels for s in fr)
            cols["ms_per_lr_mp"].append(1e3 * sum(s.seconds for s in fr) / (px / 1e6) if px else float("nan"))
        out[g] = {c: Stat.of(v) for c, v in cols.items()}
    return out
