"""The paper's tables as rows of strings: the same rows become Markdown (``mchmc report``) and
Prefect table artifacts (the experiment flow). Ours are mean ± std over folds; the paper's
numbers sit in the row below ours, marked "(paper)". Bold marks the best of our methods in a
column (the bicubic row excluded), as the paper marks its best."""
from __future__ import annotations

import statistics

from mchmc.experiment import paper
from mchmc.experiment.evaluate import BICUBIC, ImageScore
from mchmc.markdown import table
from mchmc.experiment.results import (AVERAGE, MCH_BASELINE, MCH_MC_METHOD, Stat, categories_of, confusion, folds_of, gain,
                      table7, table7_cells, table8, table9, table10)

Rows = list[dict[str, str]]


def markdown(rows: Rows) -> str:
    return table(rows)


def _pair(p: Stat, s: Stat, signed: bool = False) -> str:
    return f"{p.text(2, signed)} / {s.text(4, signed)}" if p.n else "-"


def _paper_pair(v: tuple[float, float] | None, signed: bool = False) -> str:
    if v is None:
        return ""
    sign = "+" if signed else ""
    return f"{v[0]:{sign}.2f} / {v[1]:{sign}.4f}"


def table7_rows(scores: list[ImageScore], psnr: str = "psnr", ssim: str = "ssim", with_paper: bool = True) -> Rows:
    """Table 7: method x (categories, average), 'PSNR / SSIM', ours then the paper's."""
    t = table7(scores, psnr, ssim)
    cols = categories_of(scores) + [AVERAGE]
    best = {c: max((m for m in t if m != BICUBIC and t[m][c][0].n), key=lambda m: t[m][c][0].mean, default=None)
            for c in cols}
    rows = []
    for m, by in t.items():
        row = {"method": m}
        for c in cols:
            cell = _pair(*by[c])
            row[c] = f"**{cell}**" if best[c] == m and cell != "-" else cell
        rows.append(row)
        if with_paper and m in paper.TABLE7:
            rows.append({"method": f"{m} (paper)", **{c: _paper_pair(paper.TABLE7[m].get(c)) for c in cols}})
    return rows


def cells_rows(scores: list[ImageScore], psnr: str = "psnr", ssim: str = "ssim") -> Rows:
    """The grid: method x fold, each cell the average 'PSNR / SSIM' of that fold's test images."""
    grid = table7_cells(scores, psnr, ssim)
    folds = folds_of(scores)
    rows = []
    for m, by in grid.items():
        row = {"method": m}
        for f in folds:
            row[f"fold {f}"] = f"{by[f][0]:.2f} / {by[f][1]:.4f}" if f in by else "(missing)"
        row["mean ± std"] = _pair(Stat.of(v[0] for v in by.values()), Stat.of(v[1] for v in by.values()))
        rows.append(row)
    return rows


def gain_rows(scores: list[ImageScore]) -> Rows:
    """SRforMC - SRforAll per category and on average (paper border and crop 2), paper beside."""
    cols = categories_of(scores) + [AVERAGE]
    rows = []
    for label, (p, s) in (("paper border (10 px)", ("psnr", "ssim")), ("crop 2", ("psnr2", "ssim2"))):
        g = gain(scores, MCH_MC_METHOD, MCH_BASELINE, p, s)
        if any(v[0].n for v in g.values()):
            rows.append({"SRforMC − SRforAll": f"ours, {label}", **{c: _pair(*g[c], signed=True) if c in g else "-"
                                                                    for c in cols}})
    rows.append({"SRforMC − SRforAll": "paper (Table 7)",
                 **{c: _paper_pair(paper.table7_gain(c), True) if c in paper.TABLE7["SRforMC"] else ""
                    for c in cols}})
    return rows


def table8_rows(scores: list[ImageScore]) -> Rows:
    t = table8(scores)
    rows = []
    for g, by in t.items():
        cats = [c for c in by if c not in (AVERAGE, "ms_per_lr_mp")]
        row = {"architecture": g, **{f"{c} [s]": by[c].text(3) for c in cats},
               "all images [s]": by[AVERAGE].text(3), "ms per LR megapixel": by["ms_per_lr_mp"].text(0),
               "paper [s]": f"{paper.TABLE8_SECONDS[g]:.4f}" if g in paper.TABLE8_SECONDS else ""}
        rows.append(row)
    return rows


def table9_rows(scores: list[ImageScore]) -> Rows:
    t = table9(scores)
    if not t or all(v.n == 0 for v in t.values()):
        return []
    cols = list(t)
    return [{"SRforMC top-1 [%]": "ours", **{c: t[c].text(1) for c in cols}},
            {"SRforMC top-1 [%]": "paper", **{c: f"{paper.TABLE9_TOP1[c]:.1f}" if c in paper.TABLE9_TOP1 else ""
                                              for c in cols}}]


def confusion_rows(scores: list[ImageScore]) -> Rows:
    cm = confusion(scores)
    return [{"true \\ predicted": t, **{p: str(n) for p, n in by.items()}} for t, by in cm.items()]


def table10_rows(scores: list[ImageScore]) -> Rows:
    rows = []
    for label, (p, s) in (("ours, paper border", ("psnr", "ssim")), ("ours, crop 2", ("psnr2", "ssim2"))):
        t = table10(scores, MCH_MC_METHOD, MCH_BASELINE, p, s)
        if t["true"].images + t["false"].images == 0:
            continue
        row = {"SRforMC − SRforAll": label}
        for k, name in (("true", "True (correctly classified)"), ("false", "False (misclassified)")):
            v = t[k]
            row[name] = ("-" if not v.images else
                         f"{v.psnr:+.2f} / {v.ssim:+.4f} ({v.images} images; folds {_pair(v.psnr_folds, v.ssim_folds, True)})")
        rows.append(row)
    if rows:
        rows.append({"SRforMC − SRforAll": "paper", "True (correctly classified)": _paper_pair(paper.TABLE10["true"], True),
                     "False (misclassified)": _paper_pair(paper.TABLE10["false"], True)})
    return rows


def test_set_rows(scores: list[ImageScore]) -> Rows:
    """How many test images each fold had per category (from the bicubic row, or any method)."""
    ref = [s for s in scores if s.method == BICUBIC] or scores
    method = ref[0].method if ref else ""
    cats = categories_of(ref)
    rows = []
    for f in folds_of(ref):
        rows.append({"fold": str(f), **{c: str(sum(1 for s in ref if s.fold == f and s.category == c and s.method == method))
                                        for c in cats}})
    return rows


def differences_rows(cfg, scores: list[ImageScore]) -> tuple[Rows, dict[str, tuple[float, float]]]:
    """How this run differs from the paper's (budget, optimiser, data), and each
    category's share of the teaching patches here and in the paper: (rows, {category:
    (ours, paper)}). Our image sizes come from the evaluated test images (every image is a
    test image once over the folds); the paper's shares from its Table 5 class weights."""
    sizes: dict[str, dict[str, int]] = {}
    for s in scores:
        if s.method == BICUBIC and s.lr_pixels:
            sizes.setdefault(s.category, {})[s.name] = 4 * s.lr_pixels  # HR pixels
    share: dict[str, tuple[float, float]] = {}
    if set(sizes) >= set(cfg.data.stride):
        def patches(cat: str, side: float) -> int:
            return paper.patches_per_image(int(side), int(side), cfg.data.patch, cfg.data.stride[cat])

        ours = {c: sum(patches(c, px**0.5) for px in sizes[c].values()) for c in cfg.data.stride}
        theirs = paper.patch_shares()
        share = {c: (ours[c] / sum(ours.values()), theirs.get(c, float("nan"))) for c in ours}
    mc = " + ".join(f"{p.steps:,}" for _, p in cfg.phases("SRforMC"))
    p2 = dict(cfg.phases("SRforMC"))
    rows = [{"": "back-propagations, SRforMC", "paper": "1,000,000 + up to 10,000,000", "ours": mc},
            {"": "back-propagations, MCH methods", "paper": "up to 10,000,000", "ours": f"{cfg.mch.steps:,}"},
            {"": "initialisation", "paper": paper.PROTOCOL["init"], "ours": cfg.train.init},
            {"": "learning rates", "paper": paper.PROTOCOL["learning rates"],
             "ours": "; ".join(f"{name} {ph.lr:g} (conv3 {ph.lr_conv3:g}), {ph.schedule}"
                               for name, ph in list(p2.items()) + [("MCH", cfg.mch)])},
            {"": "training arithmetic", "paper": paper.PROTOCOL["arithmetic"], "ours": cfg.train.precision}]
    if "text" in sizes:
        side = (sum(sizes["text"].values()) / len(sizes["text"])) ** 0.5
        rows.append({"": "text images", "paper": f"{paper.TEXT_IMAGES}, about {paper.TEXT_SIDE} x {paper.TEXT_SIDE} px",
                     "ours": f"{len(sizes['text'])}, about {side:.0f} x {side:.0f} px (another split of the same set)"})
    if share:
        rows.append({"": "share of teaching patches: nature / manga / text (paper: from Table 5)",
                     "paper": " / ".join(f"{share[c][1]:.0%}" for c in share),
                     "ours": " / ".join(f"{share[c][0]:.0%}" for c in share)})
    return rows, share


def training_time_rows(curves: dict[str, dict[int, list[dict]]]) -> Rows:
    """How long the evaluated cells trained, per method: the median of the logged steps/s (each row
    of metrics.csv is the rate over its own interval) and the hours that rate gives for the cell's
    steps. A median, not the summed ``elapsed``: a run that was paused, stopped and resumed, or shared
    the CPU with a test run, keeps those gaps in ``elapsed`` but they are outlier intervals here."""
    rows: Rows = []
    total_h, total_cells = 0.0, 0
    for method, by_fold in curves.items():
        rates, hours = [], []
        for fold_rows in by_fold.values():
            r = [float(x["steps_per_s"]) for x in fold_rows if x.get("steps_per_s")]
            steps = max((int(x["total_step"]) for x in fold_rows if x.get("total_step")), default=0)
            if not r or not steps:
                continue
            med = statistics.median(r)
            rates.append(med)
            hours.append(steps / med / 3600)
        if not rates:
            continue
        total_h, total_cells = total_h + sum(hours), total_cells + len(hours)
        rows.append({"method": method, "cells": str(len(hours)),
                     "median steps/s": f"{sum(rates) / len(rates):.1f}",
                     "hours per cell": f"{sum(hours) / len(hours):.2f}", "hours": f"{sum(hours):.1f}"})
    if len(rows) > 1:
        rows.append({"method": "all", "cells": str(total_cells), "median steps/s": "",
                     "hours per cell": f"{total_h / total_cells:.2f}", "hours": f"{total_h:.1f}"})
    return rows


def curve_gain_rows(curves_all: dict[int, list[dict]], curves_mc: dict[int, list[dict]],
                    steps: tuple[int, ...] = (10_000, 20_000, 30_000, 40_000)) -> Rows:
    """SRforMC − SRforAll on the training-time validation crops at equal back-propagations
    (SRforMC's Phase 1 counted), mean ± std over the folds both trained, then each at its last
    logged step. It separates the gain from SRforMC's extra Phase-1 steps: if those were the
    cause, the gain at equal counts would be small."""
    folds = sorted(set(curves_all) & set(curves_mc))
    if not folds:
        return []

    def by_step(rows: list[dict]) -> dict[int, dict]:
        return {int(r["total_step"]): r for r in rows if r.get("total_step")}

    a = {f: by_step(curves_all[f]) for f in folds}
    m = {f: by_step(curves_mc[f]) for f in folds}
    keys = [k for k in curves_all[folds[0]][0] if k.startswith("psnr_") and k in curves_mc[folds[0]][0]]

    def at(d: dict[int, dict], step: int | None) -> dict | None:  # None: the last logged step
        return d.get(step) if step is not None else (d[max(d)] if d else None)

    def row(label: str, step: int | None) -> dict[str, str] | None:
        pairs = [(at(a[f], step), at(m[f], step)) for f in folds]
        pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
        if not pairs:
            return None
        return {"back-propagations": label, "folds": str(len(pairs)),
                **{k[len("psnr_"):]: Stat.of(float(y[k]) - float(x[k]) for x, y in pairs).text(2, True) for k in keys}}

    rows = [row(f"{s:,}", s) for s in steps] + [row("each at its end", None)]
    return [r for r in rows if r]


def versus_all_rows(scores: list[ImageScore]) -> Rows:
    """Every trained method − SRforAll, PSNR only, paired on the same test images (per fold, then
    mean ± std over the folds both have), the paper's Table 7 difference in the row below. It says
    where specialising (one category) or classifying (SRforMC) beats one model trained on all."""
    cols = categories_of(scores) + [AVERAGE]
    have = {s.method for s in scores}
    rows: Rows = []
    for m in [x for x in paper.TABLE7 if x != MCH_BASELINE]:
        if m not in have or MCH_BASELINE not in have:
            continue
        g = gain(scores, m, MCH_BASELINE)
        rows.append({"− SRforAll, PSNR [dB]": m, **{c: g[c][0].text(2, True) if c in g else "-" for c in cols}})
        ours, base = paper.TABLE7[m], paper.TABLE7[MCH_BASELINE]
        rows.append({"− SRforAll, PSNR [dB]": f"{m} (paper)",
                     **{c: f"{ours[c][0] - base[c][0]:+.2f}" if c in ours else "" for c in cols}})
    return rows
