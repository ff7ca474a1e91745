"""``mchmc report``: the experiment's results as one Markdown file with its figures.

Reads every evaluated cell of one config under a runs folder (whatever subset of folds and methods exists, so a
report can be made while the experiment is still going), and writes into ``out`` (default ``<runs>/report-<config>/``):

    report.md     Tables 7 (paper border and crop 2, and the per-cell grid),
                  SRforMC - SRforAll, 8, 9 (+ confusion), 10; ours as mean ± std over
                  folds with the paper's numbers beside; setup, budget, machine
    fig11.png     PSNR against back-propagations, SRforAll and SRforMC
    fig12.png     accuracy against PSNR during SRforMC training
    fig13.png     Grad-CAM on F2 for one test image per category (needs the data)
    scores.csv    every per-image score behind the tables

:class:`Report` also carries the tables as rows, which the experiment flow
publishes as Prefect artifacts.
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from mchmc.experiment import figures
from mchmc.train.config_schema import Config
from mchmc.train.data import ImageRef
from mchmc.errors import MchmcError
from mchmc.experiment.evaluate import BICUBIC, ImageScore, load_test_image
from mchmc.experiment.cells import (EVAL_FILE, PAPER_METHODS, ExperimentError, evaluated_dirs, load_curves,
                         load_scores, resolve_config_name, run_config)
from mchmc.fsutil import atomic_write_text
from mchmc.experiment.gradcam import grad_cam
from mchmc.modelfile import load_model
from mchmc.train.rundir import model_path, run_dir, stage_records
from mchmc.experiment.tables import (Rows, cells_rows, differences_rows, confusion_rows, gain_rows, markdown, table7_rows, table8_rows,
                            table9_rows, table10_rows, test_set_rows, training_time_rows, curve_gain_rows,
                            versus_all_rows)
from mchmc.experiment.results import folds_of

PAPER_STEPS = {"SRforMC": "1,000,000 + 10,000,000 (max)", "MCH": "10,000,000 (max)"}


@dataclass(frozen=True)
class Report:
    config: str
    out_dir: Path
    path: Path  # report.md
    markdown: str
    tables: dict[str, Rows]
    figures: dict[str, Path]
    cells: int  # evaluated cells
    missing: tuple[str, ...]  # cells of the full grid not evaluated yet
    notes: tuple[str, ...] = ()


def default_out(runs: str | Path, config: str) -> Path:
    return Path(runs) / f"report-{config}"


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu or 'unknown CPU'}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}, torch {torch.__version__}"


def _missing(runs: Path, config: str, cfg: Config) -> tuple[str, ...]:
    have = {d.name for d in evaluated_dirs(runs, config).get(config, [])}
    return tuple(f"{m} fold {f}" for f in range(1, cfg.folds.k + 1) for m in (BICUBIC,) + PAPER_METHODS
                 if run_dir(runs, m, f, config).name not in have)


def _val_bicubic(runs: Path, config: str) -> float | None:
    """Mean over folds of the validation images' bicubic PSNR (the reference line of Fig. 11)."""
    vals = []
    for p in stage_records(runs, "SRforAll", config):
        try:
            vals.append(float(json.loads(p.read_text())["bicubic"]["mean"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sum(vals) / len(vals) if vals else None


def _evaluated_curves(runs: Path, config: str, method: str, scores: list[ImageScore]) -> dict[int, list[dict]]:
    """The training curves of the method's evaluated (so finished) cells: a run still training would
    cut the mean over folds short."""
    folds = {s.fold for s in scores if s.method == method}
    return {f: rows for f, rows in load_curves(runs, config, method).items() if f in folds}


def _gradcam_examples(runs: Path, config: str, cfg: Config, scores: list[ImageScore]):
    """One test image per category for Fig. 13: SRforMC of the first evaluated fold, the first
    image (by name) it classified correctly, else the first; drawn from its LR input."""
    mc = [s for s in scores if s.method == "SRforMC"]
    if not mc:
        return []
    fold = min(s.fold for s in mc)
    model = load_model(model_path(run_dir(runs, "SRforMC", fold, config))).model
    examples = []
    root = cfg.data.root_path()
    for cat in cfg.data.folders:
        rows = sorted((s for s in mc if s.fold == fold and s.category == cat), key=lambda s: s.name)
        if not rows:
            continue
        pick = next((s for s in rows if s.correct), rows[0])
        img = load_test_image(ImageRef(cat, root / cfg.data.folders[cat] / pick.name), model.config.scale)
        examples.append((f"{cat}: {pick.name} (fold {fold})", img.lr, grad_cam(model, img.lr)))
    return examples


def scores_csv(scores: list[ImageScore]) -> str:
    names = [f.name for f in fields(ImageScore)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=names, lineterminator="\n")
    w.writeheader()
    for s in scores:
        row = asdict(s)
        row["probs"] = " ".join(f"{p:.4f}" for p in s.probs)
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def _budget_rows(cfg: Config) -> Rows:
    mc = " + ".join(f"{p.steps:,}" for _, p in cfg.phases("SRforMC"))
    return [{"method": "SRforMC (Phase 1 + Phase 2)", "steps (ours)": mc, "steps (paper)": PAPER_STEPS["SRforMC"]},
            {"method": "SRforNature / Manga / Text / All", "steps (ours)": f"{cfg.mch.steps:,}",
             "steps (paper)": PAPER_STEPS["MCH"]}]


def write_report(runs: str | Path, config: str | None = None, out: str | Path | None = None,
                 command: str | None = None) -> Report:
    """Build the report of ``config``'s evaluated cells under ``runs``; see the module doc."""
    runs = Path(runs)
    name = resolve_config_name(runs, config)
    cfg = run_config(runs, name)
    scores = load_scores(runs, name)
    out_dir = Path(out) if out else default_out(runs, name)
    out_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    tables = {"table7": table7_rows(scores), "table7-cells": cells_rows(scores), "gain": gain_rows(scores),
              "table7-crop2": table7_rows(scores, "psnr2", "ssim2", with_paper=False),
              "table8": table8_rows(scores), "table9": table9_rows(scores), "confusion": confusion_rows(scores),
              "table10": table10_rows(scores), "versus-all": versus_all_rows(scores)}
    curves = {m: _evaluated_curves(runs, name, m, scores) for m in PAPER_METHODS}  # each metrics.csv read once
    curves_all, curves_mc = curves["SRforAll"], curves["SRforMC"]
    tables["training-time"] = training_time_rows(curves)
    tables["gain-curves"] = curve_gain_rows(curves_all, curves_mc)
    figs: dict[str, Path] = {}
    if curves_all or curves_mc:
        figs["fig11"] = figures.psnr_curves(curves_all, curves_mc, out_dir / "fig11.png", _val_bicubic(runs, name),
                                            cfg.train.batch)
    if curves_mc:
        figs["fig12"] = figures.accuracy_psnr(curves_mc, out_dir / "fig12.png")
    try:
        examples = _gradcam_examples(runs, name, cfg, scores)
        if examples:
            figs["fig13"] = figures.gradcam_grid(examples, out_dir / "fig13.png")
    except MchmcError as err:  # data or model file missing: the tables do not need them
        notes.append(f"Fig. 13 not drawn: {err}")
    atomic_write_text(out_dir / "scores.csv", scores_csv(scores))
    missing = _missing(runs, name, cfg)
    cells = len(evaluated_dirs(runs, name).get(name, []))
    text = _markdown(runs, name, cfg, scores, tables, figs, cells, missing, notes, out_dir,
                     command or f"mchmc report {runs} --config {name}")
    path = out_dir / "report.md"
    atomic_write_text(path, text)
    return Report(name, out_dir, path, text, tables, figs, cells, missing, tuple(notes))


def _threads(runs: Path, config: str) -> str:
    seen = set()
    for d in evaluated_dirs(runs, config).get(config, []):
        try:
            seen.add(json.loads((d / EVAL_FILE).read_text()).get("torch_threads"))
        except (OSError, ValueError):
            continue
    return ", ".join(str(t) for t in sorted(x for x in seen if x is not None)) or "?"


TABLE8_BENCH = "table8-bench.json"  # written by bench/table8.py --out into the report folder


def _table8_bench(out_dir: Path) -> list[str]:
    """Table 8 as ``bench/table8.py`` measured it (MCH and MCH-MC interleaved), if saved in the report folder."""
    try:
        b = json.loads((out_dir / TABLE8_BENCH).read_text())
        secs = b["seconds"]
        cats = [k for k in secs["MCH"] if k not in ("all", "ms_per_lr_mp")]
    except (OSError, ValueError, KeyError):
        return []
    rows = [{"architecture": a, **{f"{c} [s]": f"{r[c]:.3f}" for c in cats}, "all images [s]": f"{r['all']:.3f}",
             "ms per LR megapixel": f"{r['ms_per_lr_mp']:.0f}"} for a, r in secs.items()]
    rows.append({"architecture": "MCH-MC / MCH", **{f"{c} [s]": f"{secs['MCH-MC'][c] / secs['MCH'][c]:.3f}" for c in cats},
                 "all images [s]": f"{secs['MCH-MC']['all'] / secs['MCH']['all']:.3f}", "ms per LR megapixel": ""})
    return [f"Measured on its own by `bench/table8.py` (fold {b['fold']}, {b['images']} images, SRforAll and SRforMC "
            f"timed alternately on each image, best of {b['repeat']}, {b['threads']} torch thread(s), tiles of "
            f"{b['tile']} LR px; 1-min load average before the run {b.get('load_before', '?')}):", "",
            markdown(rows), ""]


def _differences(cfg: Config, scores: list[ImageScore]) -> list[str]:
    rows, share = differences_rows(cfg, scores)
    md = ["## How this run differs from the paper, and what that does to the comparison", "", markdown(rows), "",
          "- Absolute PSNR and SSIM are not the paper's. Nature and manga are the same image sets, but our models "
          "train for a small fraction of the paper's back-propagations, so they sit below the paper there; text "
          "is another split and size of the same dataset, so its absolute numbers are not comparable at all.",
          "- What carries over is the comparison between methods trained here on the same folds with the same "
          "budget: SRforMC − SRforAll (Table 7's gain rows, Table 10) and the single-category models against "
          "SRforAll."]
    if "text" in share:
        ours, theirs = share["text"]
        md.append(f"- Text is {ours:.0%} of the teaching patches here against about {theirs:.0%} in the paper "
                  "(larger text images at the same stride). SRforAll and SRforMC therefore see text "
                  f"{ours / max(theirs, 1e-9):.1f}x as often relative to the other categories, which favours text "
                  "in both, and SRforMC's class weights (inverse patch counts) differ from the paper's Table 5.")
    return md + [""]


def _markdown(runs: Path, name: str, cfg: Config, scores: list[ImageScore], tables: dict[str, Rows], figs: dict[str, Path],
              cells: int, missing: tuple[str, ...], notes: list[str], out_dir: Path, command: str) -> str:
    # Over 60 lines on purpose: it is the report's text, section after section, in the order it prints.
    folds = folds_of(scores)
    total = cfg.folds.k * (1 + len(PAPER_METHODS))
    md = [f"# MCH-MC reproduction: {cfg.folds.k}-fold results, config `{name}`", "",
          f"Generated {time.strftime('%Y-%m-%d %H:%M %Z')} by `{command}`.", "",
          f"Cells evaluated: **{cells} of {total}** (folds {', '.join(map(str, folds)) or 'none'}). "
          "Ours are mean ± sample std over the evaluated folds (one fold: no std); each fold is scored on its own "
          "held-out test images, trained on the other folds.", ""]
    if missing:
        md += [f"Not evaluated yet: {', '.join(missing)}.", ""]
    md += ["## Setup", "", f"- Trained and evaluated by `mchmc experiment --config {name}` (each cell resumable; "
           f"see docs/experiment.md); config `{name}`: {cfg.description or '(no description)'}",
           f"- Batch {cfg.train.batch}, init `{cfg.train.init}`, training precision `{cfg.train.precision}`, "
           f"fold seed {cfg.folds.seed}; evaluation in fp32.",
           f"- Machine: {machine()}; torch threads during evaluation: {_threads(runs, name)}.", "",
           markdown(_budget_rows(cfg)), "",
           "Training time of the evaluated cells: the median of the logged steps/s (validation excluded) and the "
           "hours that rate gives for a cell's steps, on the machine above (cells may have trained two at a time).",
           "", markdown(tables["training-time"]), "", "Test images per fold:", "", markdown(test_set_rows(scores)), "",
           "Conventions: PSNR and SSIM on Y (BT.601 \"MATLAB\"), SR rounded to 8-bit levels; LR = MATLAB-bicubic "
           "1/2 of the HR image; **paper border** = the 10 HR px (halo 5 x scale 2) the unpadded net cannot see "
           "are excluded, **crop 2** = 2 px excluded (the literature's convention). Table 7's average is over "
           "images and Table 9's over categories, as the paper's own numbers are.", "",
           *_differences(cfg, scores),
           "## Table 7: PSNR [dB] / SSIM, 2x, paper border", "", markdown(tables["table7"]), "",
           "### Table 7, cell by cell (average over the fold's test images)", "", markdown(tables["table7-cells"]), "",
           "### SRforMC − SRforAll (the paper's headline gain)", "",
           "Per-image differences, averaged per fold, then mean ± std over folds. The paper's row is its "
           "Table 7 difference; note that its SRforMC average (31.29) is 0.02 dB above the image-weighted mean of "
           "its own SRforMC category values (31.27; every other row of its Table 7 matches), so by its per-category "
           "numbers the average gain is +0.20 dB, not +0.22.", "", markdown(tables["gain"]), "",
           "The same difference on the training-time validation crops "
           f"({cfg.train.validation_words}, {cfg.train.val_crop} px centre crops, crop 2), "
           "at equal back-propagations with SRforMC's Phase 1 counted, then each model at its end. SRforMC trains "
           f"{sum(p.steps for _, p in cfg.phases('SRforMC')) - cfg.mch.steps:,} steps more than SRforAll; this "
           "shows how much of the gain those steps explain.", "", markdown(tables["gain-curves"]), "",
           "### Every method − SRforAll", "",
           "PSNR differences paired on the same test images (paper border), per fold, then mean ± std over the "
           "folds both methods have; the paper's difference of its Table 7 values below each row. Does a model "
           "trained on one category beat the model trained on all, on that category?", "",
           markdown(tables["versus-all"]), "",
           "### Table 7 with crop 2", "", markdown(tables["table7-crop2"]), "",
           "## Table 8: inference seconds per image", "",
           "Wall time of the inference call alone (LR Y in, SR Y out; MCH-MC's category from the same pass), "
           "fp32, tiles of 256 LR px, on the machine above while it may have been shared.", "",
           markdown(tables["table8"]), "", *_table8_bench(out_dir),
           "## Table 9: SRforMC top-1 classification accuracy [%]", "", markdown(tables["table9"]), "",
           "Confusion (all folds, images):", "", markdown(tables["confusion"]), "",
           "## Table 10: SRforMC − SRforAll by SRforMC's classification", "",
           "PSNR [dB] / SSIM gain averaged over the images of each group (all folds pooled, as the paper); "
           "the fold spread of the group means in brackets.", "", markdown(tables["table10"]), "", "## Figures", ""]
    captions = {"fig11": "Fig. 11: validation PSNR against back-propagations (SRforAll, SRforMC). Validation = "
                         f"{cfg.train.validation_words}, {cfg.train.val_crop} px "
                         "centre crops, crop 2 (the training curves of metrics.csv), not the full test set.",
                "fig12": "Fig. 12: SRforMC's validation accuracy against validation PSNR during training "
                         "(Phase 1 then Phase 2).",
                "fig13": "Fig. 13: Grad-CAM on F2 for each category, one test image per category (LR input)."}
    for key, path in figs.items():
        rel = os.path.relpath(path, out_dir)
        md += [f"![{captions[key]}]({rel})", "", f"*{captions[key]}*", ""]
    if not figs:
        md += ["_(no figures: no training curves found)_", ""]
    md += [f"- {n}" for n in notes]
    md += ["", "Per-image scores: [scores.csv](scores.csv).", ""]
    return "\n".join(md)


__all__ = ["Report", "write_report", "default_out", "ExperimentError"]
