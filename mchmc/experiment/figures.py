"""The experiment's figures as PNG (matplotlib, Agg; no pyplot state, no display needed).

- :func:`psnr_curves` (paper Fig. 11): validation PSNR against back-propagations
  for SRforAll and SRforMC, mean over folds with a +-1 std band. SRforMC is
  drawn twice: against its Phase-2 steps (the paper's convention: "the PSNR
  curves of SRforMC show those of Phase 2") and against all its
  back-propagations, Phase 1 included (the honest compute axis).
- :func:`accuracy_psnr` (Fig. 12): SRforMC's validation accuracy against its
  validation PSNR along training, Phase 1 then Phase 2.
- :func:`explain_figure` (``mchmc explain``) and :func:`gradcam_grid` (Fig. 13):
  the page and each category's Grad-CAM evidence on F2 overlaid (one [0, 1]
  scale for every map: :func:`mchmc.experiment.gradcam.evidence`), probabilities in the
  titles. Names in titles (page file names) are drawn with real glyphs only:
  :func:`drawable` falls back to an installed font that has the characters
  the default one lacks (CJK), else writes '?' for them, never a box.

Training curves come from ``metrics.csv`` rows (:func:`mchmc.train.checkpoint.read_metrics`).
Every figure is written atomically (an owned temporary, then rename: :func:`mchmc.fsutil.atomic_write`).
"""
from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from mchmc.fsutil import atomic_write
from mchmc.experiment.gradcam import GradCam

THUMB = 640  # longest side, px, of pages drawn in figures (the maps are computed at full size)
# Families with CJK glyphs tried first when a title needs them (any installed font may serve).
CJK_FAMILIES = ("Noto Sans CJK JP", "Noto Sans JP", "Source Han Sans", "IPAexGothic", "IPAGothic", "TakaoGothic",
                "VL Gothic", "WenQuanYi Zen Hei", "Droid Sans Fallback", "Hiragino Sans", "Yu Gothic", "Meiryo",
                "MS Gothic", "Microsoft YaHei", "SimHei", "Arial Unicode MS")
NEVER_FAMILIES = ("Last Resort",)  # matplotlib's LastResort font: every character is a box naming its block


def _figure(w: float, h: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def _save(fig, out: str | os.PathLike) -> Path:
    out = Path(out)
    with atomic_write(out) as tmp:
        fig.savefig(tmp, format="png")
    return out


@lru_cache(maxsize=None)
def _coverage(family: str | None) -> frozenset[int]:
    """Code points of ``family``'s upright regular font (None: the default font); empty if none."""
    from matplotlib import font_manager as fm
    from matplotlib.ft2font import FT2Font

    def weight(w) -> int:
        return w if isinstance(w, int) else fm.weight_dict.get(w, 400)

    try:
        if family is None:
            path = fm.findfont(fm.FontProperties(), fallback_to_default=False)
        else:  # the entries themselves: findfont would log about every family without a regular weight
            path = min((f for f in fm.fontManager.ttflist if f.name == family),
                       key=lambda f: (f.style != "normal", abs(weight(f.weight) - 400))).fname
        return frozenset(FT2Font(path).get_charmap())
    except (ValueError, OSError, RuntimeError):
        return frozenset()


def drawable(text: str) -> tuple[str, list[str] | None]:
    """(text, font families) that draw ``text`` with real glyphs only: the default family, then
    installed fonts that have the characters it lacks (a CJK file name). A character no installed
    font has (CJK on a machine without a CJK font) or that is not printable becomes '?': never a
    box, never a "missing from font" warning. Families None: the default font has them all."""
    from matplotlib import font_manager as fm, rcParams

    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    missing = {ord(ch) for ch in text} - _coverage(None)
    if not missing:
        return text, None
    fallbacks = []
    names = {f.name for f in fm.fontManager.ttflist if not f.name.startswith(NEVER_FAMILIES)}
    for name in [n for n in CJK_FAMILIES if n in names] + sorted(names - set(CJK_FAMILIES)):
        if missing & _coverage(name):
            fallbacks.append(name)
            missing -= _coverage(name)
            if not missing:
                break
    text = "".join("?" if ord(ch) in missing else ch for ch in text)
    return text, ([*rcParams["font.family"], *fallbacks] if fallbacks else None)


def _named(text: str) -> tuple[str, dict]:
    """(text, Text keywords) to draw ``text``, which holds a file name, as it is: real glyphs, no mathtext."""
    text, families = drawable(text)
    return text, {"parse_math": False, **({"fontfamily": families} if families else {})}


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def _series(rows: list[dict], x: str, y: str, phase: str | None = None) -> dict[int, float]:
    return {int(_num(r[x])): _num(r.get(y)) for r in rows
            if (phase is None or r.get("phase") == phase) and not math.isnan(_num(r.get(y)))}


def _mean_band(per_fold: dict[int, dict[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, mean, std over the folds at the x values every fold has."""
    common = sorted(set.intersection(*(set(s) for s in per_fold.values()))) if per_fold else []
    ys = np.array([[s[x] for x in common] for s in per_fold.values()]) if common else np.zeros((0, 0))
    std = ys.std(axis=0, ddof=1) if len(ys) > 1 else np.zeros(len(common))
    return np.array(common), ys.mean(axis=0) if len(ys) else np.array([]), std


def _curve(ax, per_fold: dict[int, dict[int, float]], label: str, colour: str, dashed: bool = False) -> None:
    style = "--" if dashed else "-"
    for s in per_fold.values():
        xs = sorted(s)
        ax.plot(xs, [s[x] for x in xs], style, color=colour, alpha=0.25, linewidth=0.8)
    x, m, sd = _mean_band(per_fold)
    if len(x):
        n = len(per_fold)
        ax.plot(x, m, style, color=colour, linewidth=2, label=f"{label} (mean of {n} fold{'s' * (n > 1)})")
        if n > 1:
            ax.fill_between(x, m - sd, m + sd, color=colour, alpha=0.15, linewidth=0)


def psnr_curves(all_curves: dict[int, list[dict]], mc_curves: dict[int, list[dict]], out: str | os.PathLike,
                bicubic: float | None = None, batch: int = 32) -> Path:
    """Fig. 11 from the metrics.csv rows (fold -> rows) of SRforAll and SRforMC."""
    fig = _figure(8, 5)
    ax = fig.subplots()
    _curve(ax, {f: _series(r, "total_step", "psnr_mean") for f, r in all_curves.items()}, "SRforAll", "tab:blue")
    _curve(ax, {f: _series(r, "step", "psnr_mean", "phase2") for f, r in mc_curves.items()},
           "SRforMC, Phase 2 steps (paper's axis)", "tab:red")
    _curve(ax, {f: _series(r, "total_step", "psnr_mean") for f, r in mc_curves.items()},
           "SRforMC, all back-propagations (Phase 1 included)", "tab:orange", dashed=True)
    if bicubic is not None and not math.isnan(bicubic):
        ax.axhline(bicubic, color="gray", linestyle=":", label=f"bicubic ({bicubic:.2f} dB)")
    ax.set_xlabel(f"back-propagations (batch {batch})")
    ax.set_ylabel("validation PSNR-Y [dB], mean of the categories")
    ax.set_title("Fig. 11: PSNR against back-propagations (validation images, crop 2)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out)


def accuracy_psnr(mc_curves: dict[int, list[dict]], out: str | os.PathLike) -> Path:
    """Fig. 12: SRforMC's validation accuracy (x) against validation PSNR (y) along training."""
    fig = _figure(7, 5)
    ax = fig.subplots()
    cmap = {"phase1": "tab:purple", "phase2": "tab:green"}
    for i, (fold, rows) in enumerate(mc_curves.items()):
        pts = [(100 * _num(r.get("val_acc")), _num(r.get("psnr_mean")), r.get("phase")) for r in rows]
        pts = [p for p in pts if not (math.isnan(p[0]) or math.isnan(p[1]))]
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "-", color="gray", alpha=0.5, linewidth=0.8)
        for ph, colour in cmap.items():
            sel = [p for p in pts if p[2] == ph]
            ax.scatter([p[0] for p in sel], [p[1] for p in sel], s=18, color=colour,
                       label=ph.replace("phase", "Phase ") if i == 0 else None, zorder=3)
        ax.annotate(f"fold {fold} start", (pts[0][0], pts[0][1]), fontsize=7, xytext=(4, -10),
                    textcoords="offset points")
    ax.set_xlabel("validation top-1 accuracy [%]")
    ax.set_ylabel("validation PSNR-Y [dB], mean of the categories")
    ax.set_title("Fig. 12: classification accuracy and PSNR during SRforMC training")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out)


def _thumb(a: np.ndarray, side: int = THUMB) -> np.ndarray:
    """Downscale (area average) so the longest side is at most ``side``; float maps stay float."""
    from PIL import Image

    h, w = a.shape[:2]
    f = max(h, w) / side
    if f <= 1:
        return a
    size = (max(1, round(w / f)), max(1, round(h / f)))
    if a.ndim == 2:
        return np.asarray(Image.fromarray(a.astype(np.float32), "F").resize(size, Image.Resampling.BOX))
    return np.asarray(Image.fromarray(a).resize(size, Image.Resampling.BOX))


def _panels(axes, page_rgb: np.ndarray, cam: GradCam, label: str) -> None:
    page = _thumb(page_rgb)
    gray = page.mean(axis=2) if page.ndim == 3 else page
    axes[0].imshow(page, cmap="gray" if page.ndim == 2 else None)
    label, kw = _named(label)
    axes[0].set_title(label, fontsize=9, **kw)
    for ax, cat, p, heat in zip(axes[1:], cam.categories, cam.probs, cam.maps):
        ax.imshow(gray, cmap="gray")
        ax.imshow(_thumb(heat), cmap="jet", alpha=0.45, vmin=0, vmax=1)  # one absolute scale for every map
        mark = " (top-1)" if cat == cam.predicted else ""
        title, kw = _named(f"{cat}: p = {p:.1%}{mark}")  # an archive's category is a folder name, any script
        ax.set_title(title, fontsize=9, **kw)
    for ax in axes:
        ax.set_axis_off()


def caption(cam: GradCam) -> str:
    return "probabilities: " + ", ".join(f"{c} {p:.1%}" for c, p in zip(cam.categories, cam.probs))


def explain_figure(page_rgb: np.ndarray, cam: GradCam, out: str | os.PathLike, title: str = "",
                   method: str = "gradcam") -> Path:
    """The page and each category's Grad-CAM on F2 overlaid, the probabilities in the titles and caption."""
    h, w = page_rgb.shape[:2]
    n = 1 + len(cam.categories)
    fig = _figure(3.2 * n, 3.2 * h / w + 1.0)
    _panels(fig.subplots(1, n), page_rgb, cam, "page")
    text, kw = _named(f"{title + ': ' if title else ''}{cam.predicted} ({caption(cam)})")
    fig.suptitle(text, fontsize=10, **kw)
    how = ("Grad-CAM on F2 (conv2 output), offset restored" if method == "gradcam"
           else "the head on the F2 mean of a training patch's window around each pixel")
    fig.text(0.5, 0.005, f"{how}: each pixel's local probability of the category in excess of chance, one scale "
             "0-1 for all maps (blue: none, red: all evidence)", ha="center", fontsize=8)
    return _save(fig, out)


def gradcam_grid(examples: list[tuple[str, np.ndarray, GradCam]], out: str | os.PathLike) -> Path:
    """Fig. 13: one row per (label, page, Grad-CAM) example."""
    n = 1 + max(len(c.categories) for _, _, c in examples)
    heights = [p.shape[0] / p.shape[1] for _, p, _ in examples]
    fig = _figure(2.5 * n, sum(2.5 * r + 0.5 for r in heights))
    axes = fig.subplots(len(examples), n, squeeze=False, height_ratios=heights)
    for row, (label, page, cam) in zip(axes, examples):
        _panels(row, page, cam, label)
    fig.suptitle("Fig. 13: Grad-CAM on F2 for each category (SRforMC)", fontsize=11)
    return _save(fig, out)
