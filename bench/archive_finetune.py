"""Issue 29 acceptance bench: fine-tune the shipped model on an archive regrouped from ../shared/datasets
into categories it never saw, and score both on the archive's held-out pages.

    .venv/bin/python bench/archive_finetune.py --out /tmp/archive-bench --pages 20
    .venv/bin/python bench/archive_finetune.py --out /tmp/archive-bench-5 --pages 5 --test-from /tmp/archive-bench

The second form answers "how many pages per category are enough": it trains (``--fold all``) on ``--pages``
of the first run's training pages per category and scores on the first run's test fold, the same pages.

The archive (under ``--out``, never committed: Manga109 is research-use only): ``gray manga`` (Manga109
pages converted to gray), ``colour manga`` (other Manga109 pages, as they are), ``documents`` (Hradis
text crops), ``photographs`` (BSDS100), ``--pages`` each. Training is the user's command, timed:
``mchmc train --data <archive> --config archive-finetune --init srformc --fold 1 --no-prefect``; it chooses
nothing on the test fold (validation pages are carved out of the training folds). Then the fine-tuned and
the shipped model are scored on every page of the test fold, whole, through the inference engine:
PSNR-Y (2 px border) of the 2x output of the MATLAB-bicubic 1/2 page, per category, and the category
accuracy of the fine-tuned head (the shipped head knows other categories; it has none to score).
Results: ``<out>/result.json`` (with the never-worse gate's choice and its validation figures, when the config
gates: ``train.never_worse``) and a markdown table on stdout.

Caveat, stated in the result: the shipped model was trained on folds of the same three datasets, so some
test pages here may be pages it trained on: the comparison leans towards the shipped model.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from mchmc.modelfile import load_model
from mchmc.train.config import load_config
from mchmc.train.data import split_images
from mchmc.train.validate import Validator

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
ALL = 1 << 30


def build_archive(out: Path, pages: int) -> Path:
    """Four categories the shipped model never saw, ``pages`` pages each (links, gray copies made here)."""
    manga = sorted((SHARED / "manga_manga109").glob("*.png"))
    groups = {"gray manga": manga[0 : 2 * pages : 2], "colour manga": manga[1 : 2 * pages : 2],
              "documents": sorted((SHARED / "text_hradis_bmvc_ocr_test_orig").glob("*.png"))[:pages],
              "photographs": sorted((SHARED / "nature_bsds100").glob("*.png"))[:pages]}
    root = out / "archive"
    for cat, files in groups.items():
        (root / cat).mkdir(parents=True, exist_ok=True)
        for f in files:
            dst = root / cat / f.name
            if dst.exists() or dst.is_symlink():
                continue
            if cat == "gray manga":
                Image.open(f).convert("L").save(dst)
            else:
                dst.symlink_to(f)
    return root


def subset_archive(out: Path, earlier, pages: int) -> Path:
    """``pages`` per category from an earlier archive's *training* pages (its test fold left out)."""
    root = out / "archive"
    for cat in dict.fromkeys(r.category for r in earlier.train):
        (root / cat).mkdir(parents=True, exist_ok=True)
        for r in sorted(earlier.train + earlier.val, key=lambda r: r.name):
            if r.category == cat and len(list((root / cat).iterdir())) < pages:
                (root / cat / r.name).symlink_to(r.path.resolve())
    return root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/tmp/archive-bench")
    ap.add_argument("--pages", type=int, default=20)
    ap.add_argument("--config", default="archive-finetune")
    ap.add_argument("--init", default="srformc")
    ap.add_argument("--test-from", help="an earlier --out: train on --pages of its training pages, score on its "
                                        "test fold (how many pages are enough, on the same test pages)")
    args = ap.parse_args()
    out = Path(args.out).resolve()
    earlier = None
    if args.test_from:
        run0 = next((Path(args.test_from).resolve() / "runs").glob("SRforMC-fold1-*"))
        cfg0 = load_config(run0 / "config.toml")
        earlier = split_images(cfg0, tuple(cfg0.data.folders), 1)
        archive = subset_archive(out, earlier, args.pages)
    else:
        archive = build_archive(out, args.pages)
    t0 = time.time()
    cmd = [sys.executable, "-m", "mchmc.cli.app", "train", "--data", str(archive), "--config", args.config,
           "--init", args.init, "--fold", "all" if earlier else "1", "--no-prefect", "--runs", str(out / "runs"), "--cache",
           str(out / "cache")]
    res = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.time() - t0
    print(res.stdout[-4000:], res.stderr[-2000:] if res.returncode else "", sep="\n")
    if res.returncode:
        return res.returncode
    run = next((out / "runs").glob("SRforMC-fold*-*"))
    cfg = load_config(run / "config.toml")
    tuned, shipped = load_model(run / "model.pt"), load_model(args.init)
    split = split_images(cfg, tuple(cfg.data.folders), None if earlier else 1)
    if earlier is not None:  # the bigger archive's test pages, none of which trained here
        split = replace(split, test=earlier.test)
    test = Validator(split.test, ALL, 0, tuned.config.scale, cfg.data.noise)
    scores = {"fine-tuned": test.evaluate(tuned.model), args.init: test.evaluate(shipped.model)}
    bicubic = test.bicubic()
    cats = list(cfg.data.folders)
    right: dict[str, list[bool]] = {c: [] for c in cats}
    for v, _, ok in test.outputs(tuned.model):
        right[v.category].append(bool(ok))
    accuracy = {c: float(np.mean(r)) for c, r in right.items() if r}
    done = {p.name.split(".")[0]: json.loads(p.read_text()) for p in (run / "checkpoints").glob("*.done.json")}
    gate = next((d["gate"] for d in done.values() if d.get("gate")), None)  # train.never_worse's choice (validation)
    result = {"archive": {c: len(list((archive / c).iterdir())) for c in cats}, "train_seconds": round(seconds, 1),
              "gate": gate, "validation": {n: d["final"] for n, d in done.items()},
              "test_pages": {c: sum(1 for r in split.test if r.category == c) for c in cats},
              "train_pages": {c: sum(1 for r in split.train if r.category == c) for c in cats},
              "bicubic": bicubic, "scores": scores, "accuracy": accuracy, "config": args.config, "init": args.init,
              "caveat": "the shipped model trained on folds of the same datasets: some test pages may be ones it "
                        "saw, so the comparison leans towards the shipped model"}
    (out / "result.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    show(result, cats)
    return 0


def show(result: dict, cats: list[str]) -> None:
    """The markdown table on stdout: PSNR-Y per category, the gain, the head's accuracy; the gate's choice."""
    scores, init, bicubic = result["scores"], result["init"], result["bicubic"]
    print(f"train {result['train_seconds'] / 60:.1f} min (prep + {result['config']} from {init}); test fold 1, "
          "whole pages")
    print("| category | test pages | bicubic | " + init + " | fine-tuned | gain | head accuracy |")
    print("|---|---|---|---|---|---|---|")
    for c in [*cats, "mean"]:
        a, b = scores[init].get(f"psnr_{c}", np.nan), scores["fine-tuned"].get(f"psnr_{c}", np.nan)
        acc = result["accuracy"].get(c, scores["fine-tuned"].get("val_acc", np.nan))
        print(f"| {c} | {result['test_pages'].get(c, sum(result['test_pages'].values()))} | "
              f"{bicubic.get(c, np.nan):.2f} | {a:.2f} | {b:.2f} | {b - a:+.2f} | {acc:.0%} |")
    print(f"category accuracy of the fine-tuned head on the test pages: {scores['fine-tuned'].get('val_acc', 0):.0%}")
    if result["gate"]:
        from mchmc.train.gate import words

        print(words(result["gate"]))


if __name__ == "__main__":
    sys.exit(main())
