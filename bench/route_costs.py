"""What a route costs, page by page: each page upscaled by a tier as shipped, with every level's pages sent to
one category's specialist, and with no specialist at all (the level's own model), beside what the head said.

Why (issue 27, session 10): the tier upscales a page with the specialist of the head's top category
(:mod:`mchmc.routing`). On the validation pages one manga cover the head was unsure of (p_nature 0.50) went
to the nature specialist and lost 0.35 dB, while the manga specialist on a photograph loses at most 0.13. A
router that weighs what a wrong route costs needs those costs measured per page, at every JPEG level, and
the head's probabilities beside them: this script measures them, through the real CLI, and measures what
mixing the two most probable categories' outputs (the mean of their Y planes) would give.

    .venv/bin/python bench/route_costs.py --config quality --model quality --jpeg 0,30,40,50,65,75,85 \\
        --out /tmp/route-costs

Pages: ``--config``'s validation images for ``--fold`` (as ``bench/peer_compare.py`` picks them: carved out
of the training folds, never the test fold), whole unless ``--crop``; or every image of ``--images DIR``
(``DIR/<category>/*.png``). The LR page is the MATLAB-bicubic 1/2 of the HR image, stored as PNG (``0``) or
as a JPEG of each ``--jpeg`` quality (Pillow, 4:2:0). Variants (each a folder of the tier's files under
``OUT/models/``, run with ``mchmc upscale --model FILE --noise auto``): ``shipped`` (with its routers,
:mod:`mchmc.router`, where it has them); ``head`` (only for a tier with routers: the same files without
them, so the head's top category routes); ``none`` (every
specialist file removed); ``all-<category>`` for each category with a specialist at some level (at each
level, that category's specialist serves every category's pages; where it has none, the level's own model).
Band files (``q-noise3-for-manga-q45.pt``, :func:`mchmc.modelfile.band_files`) go where their category's
specialist goes: in ``all-manga`` the manga band serves every category's pages of its qualities.
PSNR-Y (BT.601, 16-235) of each output against the HR image, 2 px border cropped. Writes ``OUT/pages.json``
and prints one line per page (``-> manga``: the shipped run's page was made by the manga specialist, per
the report's ``model`` column; ``-``: by the level's own model) and the means per quality and category.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from peer_compare import write_images

from mchmc.colour import rgb_to_y
from mchmc.metrics import psnr
from mchmc.modelconfig import CATEGORIES
from mchmc.modelfile import BAND, SPECIALIST, band_files, noise_variants, resolve_model, specialist_files
from mchmc.resize import imresize
from mchmc.router import router_file

BORDER = 2


def tier_files(model: str) -> dict[Path, dict[str, Path]]:
    """The tier's level files (the clean model first, then its noise levels) -> category -> its specialist."""
    base = resolve_model(model)
    return {f: specialist_files(f, CATEGORIES) for f in [base, *noise_variants(base).values()]}


def variant_dirs(files: dict[Path, dict[str, Path]], out: Path) -> dict[str, Path]:
    """Variant name -> the base model file of a folder holding that variant's copy of the tier's files."""
    bands = {level: band_files(level, CATEGORIES) for level in files}
    cats = sorted({c for level, specs in files.items() for c in [*specs, *bands[level]]})
    routed = any(router_file(level).is_file() for level in files)
    variants: dict[str, Path] = {}
    for name in ["shipped", *(["head"] if routed else []), "none", *(f"all-{c}" for c in cats)]:
        folder = out / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for level, specs in files.items():
            shutil.copy2(level, folder / level.name)
            if name == "shipped" and router_file(level).is_file():  # "head": the same files, routed by the head
                router_file(folder / level.name).parent.mkdir(exist_ok=True)
                shutil.copy2(router_file(level), router_file(folder / level.name))
            for cat in CATEGORIES:
                if name == "none":
                    continue
                serving = cat if name in ("shipped", "head") else name.removeprefix("all-")
                if specs.get(serving) is not None:
                    shutil.copy2(specs[serving], folder / SPECIALIST.format(stem=level.stem, category=cat,
                                                                            suffix=level.suffix))
                for quality, source in bands[level].get(serving, ()):
                    shutil.copy2(source, folder / BAND.format(stem=level.stem, category=cat, quality=quality,
                                                              suffix=level.suffix))
        variants[name] = folder / next(iter(files)).name
    return variants


def make_pages(hr_root: Path, qualities: list[int], out: Path) -> list[dict]:
    """One LR page per HR image and quality: ``<category>-<stem>-q<quality>`` (.png for 0, else .jpg)."""
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    for hr_path in sorted(hr_root.glob("*/*.png")):
        hr = np.asarray(Image.open(hr_path).convert("RGB"))
        hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
        lr = Image.fromarray(imresize(hr, 0.5))
        for q in qualities:
            stem = f"{hr_path.parent.name}-{hr_path.stem}-q{q}"
            name = f"{stem}.png" if q == 0 else f"{stem}.jpg"
            lr.save(out / name, **({} if q == 0 else {"quality": q, "subsampling": 2}))
            pages.append({"page": stem, "file": name, "hr": str(hr_path), "category": hr_path.parent.name,
                          "quality": q})
    return pages


def upscale(model_file: Path, pages: Path, out: Path, threads: int) -> None:
    cli = Path(sys.executable).with_name("mchmc")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run([str(cli), "upscale", str(pages), "--out", str(out), "--model", str(model_file), "--noise",
                    "auto", "--format", "png", "--cpus", "1"], check=True, env=env, stdout=subprocess.DEVNULL)


def y_of(path: Path) -> np.ndarray:
    return rgb_to_y(np.asarray(Image.open(path).convert("RGB"), np.float64) / 255.0, np.float64) * 255.0


def made_by(stem: str) -> tuple[str, int | None]:
    """The report's ``model`` stem -> (the category it serves, or ``-`` for the level's own model; its band's
    lowest quality, or None for a plain specialist)."""
    if "-for-" not in stem:
        return "-", None
    category, _, band = stem.rsplit("-for-", 1)[1].partition("-q")
    return category, int(band) if band else None


def score(pages: list[dict], outs: dict[str, Path]) -> list[dict]:
    """Each page's PSNR per variant, the head's probabilities (the shipped run's report) and the mix of the
    two most probable categories' variants (``all-<c>``, or ``none`` for a category without a specialist)."""
    report = {Path(r["input"]).stem: r for r in csv.DictReader((outs["shipped"] / "mchmc-upscale-report.csv").open())}
    rows = []
    for page in pages:
        r = report[page["page"]]
        hr = y_of(Path(page["hr"]))
        ys = {v: y_of(d / f"{page['page']}.png") for v, d in outs.items()}
        probs = {c: float(r[f"p_{c}"]) for c in CATEGORIES}
        top2 = sorted(probs, key=probs.get, reverse=True)[:2]
        pair = [ys.get(f"all-{c}", ys["none"]) for c in top2]
        routed, band = made_by(Path(r["model"]).stem)
        rows.append({**page, "probs": probs, "routed": routed, "band": band, "noise": r["noise"],
                     "psnr": {v: psnr(y, hr, BORDER) for v, y in ys.items()},
                     "mix": psnr((pair[0] + pair[1]) / 2, hr, BORDER), "mixed": top2})
    return rows


def means(rows: list[dict]) -> dict[tuple[int, str], dict[str, float]]:
    """(quality, category) -> each variant's mean PSNR, the mix's and the best-route oracle's."""
    groups: dict[tuple[int, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["quality"], r["category"]), []).append(r)
    out = {}
    for key, rs in sorted(groups.items()):
        cols = {v: float(np.mean([r["psnr"][v] for r in rs])) for v in rs[0]["psnr"]}
        cols["mix"] = float(np.mean([r["mix"] for r in rs]))
        cols["best route"] = float(np.mean([max(r["psnr"].values()) for r in rs]))
        out[key] = cols
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="quality", help="config whose validation images to use")
    ap.add_argument("--fold", default="1")
    ap.add_argument("--crop", type=int, default=0, help="HR px of the centre crop (0 = whole image)")
    ap.add_argument("--images", type=Path, help="HR images as DIR/<category>/*.png instead of the config's")
    ap.add_argument("--model", default="quality", help="the tier (or model file) whose routes to measure")
    ap.add_argument("--jpeg", default="0,50", help="comma list of LR qualities: 0 (PNG) or a JPEG quality")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    qualities = [int(q) for q in args.jpeg.split(",")]
    hr_root = args.images or args.out / "hr"
    if not args.images:
        write_images(args.config, args.fold, args.crop, hr_root)
    pages = make_pages(hr_root, qualities, args.out / "lr")
    variants = variant_dirs(tier_files(args.model), args.out / "models")
    outs = {}
    for name, model_file in variants.items():
        outs[name] = args.out / "sr" / name
        upscale(model_file, args.out / "lr", outs[name], args.threads)
    rows = score(pages, outs)
    (args.out / "pages.json").write_text(json.dumps(rows, indent=1))
    for r in rows:
        p = " / ".join(f"{r['probs'][c]:.2f}" for c in CATEGORIES)
        cells = "  ".join(f"{v} {s:.3f}" for v, s in r["psnr"].items())
        route = r["routed"] + (f" q{r['band']}+" if r["band"] else "")
        print(f"{r['page']:40s} p {p}  -> {route:11s} L{r['noise']:4s} {cells}  mix {r['mix']:.3f}")
    print(f"\nmeans (PSNR-Y dB, crop {BORDER}; p = {' / '.join(CATEGORIES)})")
    for (q, cat), cols in means(rows).items():
        print(f"q{q:<3d} {cat:7s} " + "  ".join(f"{v} {s:.3f}" for v, s in cols.items()))


if __name__ == "__main__":
    main()
