"""The tiers' speed beside waifu2x-upconv7: every method in one process, on the same pages.

    .venv/bin/python bench/tiers.py --quality runs/snapshots/SRforMC-fold1-quality-step44000.pt --repeat 3
    .venv/bin/python bench/tiers.py --dry-run            # CI: two tiny pages, one round, seconds

Pages: ``--pages DIR`` (every image in it), else the sample pages in ``samples/``, else the first
fold-1 test image of each category (``best`` config), read with ``mchmc.pages.read_page``.

Methods:

- ``fast`` and ``quality`` (``--fast`` / ``--quality``: a tier name or a model file; default the tier
  names): ``upscale_page(page, Engine(model, precision=...))``, what a worker runs for a clean page
  (colour conversion, chroma bicubic, merge and the category included; no noise model, no chroma
  network), in fp32 and, where this CPU computes bf16 natively, in bf16 (what ``--precision auto``
  picks, :func:`mchmc.precision.resolve_precision`). Speed does not depend on the weights, so a
  training snapshot measures a tier whose file is not shipped yet. ``--dry-run`` stands a randomly
  initialised ``mch-mc-quality`` in for a quality tier that is not installed.
- ``--chroma LEVEL``: each tier once more with its chroma network (:func:`mchmc.chroma.chroma_file`) at
  that JPEG level, as a colour JPEG page gets it (gray pages skip it): what colour costs beside upconv7,
  an RGB network whose cost is the same on every page. Give colour pages (``--pages``).
- ``waifu2x-upconv7-photo`` and ``-art`` through the peer harness's ``build_peers``
  (``../shared/tools/peers``, imported from there, not copied; left out with a note when absent).

Protocol: torch threads = ``--threads`` for every method; one untimed warm-up round per method (every
page: the backend picks its kernels per shape), then ``--repeat`` rounds, interleaved (A B C A B C),
so the machine's load falls on every method alike. A method's time in a round is the sum of its
pages' wall times; LR MP/s = the pages' LR pixels / that time, best and median over the rounds.
Ratios use the best: to upconv7-photo, and to the fast tier at the same precision (the peers, which
run in fp32, to the fast tier in fp32). The load average is printed before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.table import Table

from mchmc.chroma import SHIPPED, ChromaEngine, chroma_file, load_chroma
from mchmc.engine import Engine
from mchmc.errors import MchmcError
from mchmc.model import build_model
from mchmc.modelfile import load_model
from mchmc.pages import read_page, upscale_page
from mchmc.pages.meta import EXTENSIONS
from mchmc.precision import resolve_precision
from mchmc.tiers import UPCONV7_MACS

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PEER_NAMES = ("waifu2x-upconv7-photo", "waifu2x-upconv7-art")
REFERENCE = "waifu2x-upconv7-photo"


def find_pages(folder: str | None, dry_run: bool, tmp: Path) -> list[Path]:
    if dry_run:  # two tiny pages, colour and gray
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(tmp / "tiny-rgb.png")
        Image.fromarray(rng.integers(0, 256, (36, 44), dtype=np.uint8)).save(tmp / "tiny-gray.png")
        return [tmp / "tiny-rgb.png", tmp / "tiny-gray.png"]
    where = Path(folder) if folder else ROOT / "samples"
    found = sorted(p for p in where.glob("*") if p.suffix.lower() in EXTENSIONS) if where.is_dir() else []
    if found or folder:
        return found
    from mchmc.modelconfig import CATEGORIES
    from mchmc.train.config import load_config
    from mchmc.train.data import split_images

    test = split_images(load_config("best", {"data.root": str(SHARED / "datasets")}), CATEGORIES, 1).test
    return [sorted(r.path for r in test if r.category == c)[0] for c in CATEGORIES]


def tier_model(tier: str, name: str, arch: str, dry_run: bool):
    """A tier's model from a tier name or file; in a dry run a random one stands in for a tier not installed."""
    try:
        return load_model(name).model
    except MchmcError as err:
        if dry_run:
            return build_model(arch).eval()
        raise SystemExit(f"error: {err}\n(give a model file of the {tier} tier with --{tier} PATH; speed does not "
                         "depend on the weights)") from None


def mchmc_methods(args) -> dict[str, tuple[int, object, str]]:
    """label -> (MACs per LR px, function(page), precision)."""
    precisions = ["fp32"] + (["bf16"] if resolve_precision("auto") == "bf16" else [])
    found = {}
    for tier, name, arch in (("fast", args.fast, "mch-mc"), ("quality", args.quality, "mch-mc-quality")):
        model = tier_model(tier, name, arch, args.dry_run)
        net = tier_chroma(name, args.dry_run) if args.chroma is not None else None  # one per tier, every precision
        for precision in precisions:
            engine = Engine(model, tile=args.tile, precision=precision)
            label = f"{tier} ({precision}{', auto' if precision == precisions[-1] else ''})"
            found[label] = (model.config.macs_per_lr_pixel, lambda page, e=engine: upscale_page(page, e), precision)
            if net is not None:
                chroma = ChromaEngine(net, args.chroma, tile=args.tile)
                found[f"{label} + chroma"] = (model.config.macs_per_lr_pixel + net.config.macs_per_lr_pixel,
                                              lambda page, e=engine, c=chroma: upscale_page(page, e, chroma=c),
                                              precision)
    return found


def tier_chroma(name: str, dry_run: bool):
    """The chroma network a tier's pages get: its own, else the shipped one (also for a dry run's stand-in)."""
    from mchmc.modelfile import resolve_model

    try:
        path = chroma_file(resolve_model(name))
    except MchmcError:
        if not dry_run:
            raise
        path = SHIPPED
    return load_chroma(path)


def peer_methods(notes: list[str]) -> dict[str, tuple[int, object, str]]:
    harness = SHARED / "tools" / "peers"
    if not (harness / "peers_bench.py").is_file():
        notes.append(f"no peer harness at {harness}: the waifu2x rows are left out")
        return {}
    sys.path.insert(0, str(harness))  # the harness's own loaders, pre- and post-processing
    from peers_bench import build_peers

    loaded, missing = build_peers(SHARED / "peers", set(PEER_NAMES))
    notes.extend(f"{name} unavailable: {why}" for name, why in missing.items())
    by_name = {p.name: p for p in loaded}
    return {n: (UPCONV7_MACS, lambda page, p=by_name[n]: p(page.pixels), "fp32") for n in PEER_NAMES if n in by_name}


def measure(methods: dict, pages: list, repeat: int) -> dict[str, list[float]]:
    """Seconds per round of each method: one untimed warm-up round each, then interleaved rounds."""
    for _, fn, _ in methods.values():
        for page in pages:
            fn(page)
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    for _ in range(repeat):
        for name, (_, fn, _) in methods.items():
            total = 0.0
            for page in pages:
                t = time.perf_counter()
                fn(page)
                total += time.perf_counter() - t
            seconds[name].append(total)
    return seconds


def rows(methods: dict, seconds: dict, lr_mp: float) -> list[dict]:
    out = []
    for name, (macs, _, precision) in methods.items():
        best, median = min(seconds[name]), statistics.median(seconds[name])
        out.append({"method": name, "macs_per_lr_px": macs, "precision": precision, "seconds": seconds[name],
                    "lr_mps_best": lr_mp / best, "lr_mps_median": lr_mp / median})
    speed = {r["method"]: r["lr_mps_best"] for r in out}
    fast = {r["precision"]: r["lr_mps_best"] for r in out
            if r["method"].startswith("fast (") and not r["method"].endswith("+ chroma")}
    for r in out:
        r["x_upconv7_photo"] = r["lr_mps_best"] / speed[REFERENCE] if REFERENCE in speed else None
        r["x_fast"] = r["lr_mps_best"] / fast[r["precision"]] if r["precision"] in fast else None
    return out


def show(table_rows: list[dict], title: str) -> None:
    table = Table(title=title)
    for col in ("method", "MACs / LR px", "LR MP/s (best)", "LR MP/s (median)", "x upconv7-photo",
                "x fast (same precision)"):
        table.add_column(col, justify="left" if col == "method" else "right")
    ratio = lambda v: "-" if v is None else f"{v:.2f}x"  # noqa: E731
    for r in table_rows:
        table.add_row(r["method"], f"{r['macs_per_lr_px']:,}", f"{r['lr_mps_best']:.3f}",
                      f"{r['lr_mps_median']:.3f}", ratio(r["x_upconv7_photo"]), ratio(r["x_fast"]))
    Console(highlight=False, width=200).print(table)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fast", default="fast", help="The fast tier: tier name or model file.")
    ap.add_argument("--quality", default="quality", help="The quality tier: tier name or model file "
                    "(required while its weights are not installed).")
    ap.add_argument("--pages", default=None, help="A folder of pages (default: samples/, else fold-1 test images).")
    ap.add_argument("--repeat", type=int, default=3, help="Timed rounds after the warm-up.")
    ap.add_argument("--threads", type=int, default=1, help="torch threads, for every method.")
    ap.add_argument("--tile", type=int, default=256)
    ap.add_argument("--json", default=None, help="Also write the figures here.")
    ap.add_argument("--dry-run", action="store_true", help="Two tiny pages, one round (CI).")
    ap.add_argument("--chroma", type=int, default=None, choices=range(4), metavar="LEVEL",
                    help="Also time each tier with its chroma network at this JPEG level (colour pages).")
    args = ap.parse_args(argv)
    repeat = 1 if args.dry_run else max(1, args.repeat)
    torch.set_num_threads(args.threads)
    notes: list[str] = []
    methods = {**mchmc_methods(args), **peer_methods(notes)}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="mchmc-tiers-") as tmp:
        paths = find_pages(args.pages, args.dry_run, Path(tmp))
        pages = [read_page(p) for p in paths]
    lr_mp = sum(p.pixels.shape[0] * p.pixels.shape[1] for p in pages) / 1e6
    seconds = measure(methods, pages, repeat)
    load_after = os.getloadavg()
    table_rows = rows(methods, seconds, lr_mp)
    load = f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    show(table_rows, f"{len(pages)} pages, {lr_mp:.3f} LR MP; torch threads {args.threads}; warm-up, then "
                     f"{repeat} interleaved round(s), best and median; {load}")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    doc = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "argv": sys.argv[1:] if argv is None else argv,
           "threads": args.threads, "repeat": repeat, "pages": [p.name for p in paths], "lr_megapixels": lr_mp,
           "load_average_before": load_before, "load_average_after": load_after, "rows": table_rows, "notes": notes}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(doc, indent=1))
    return doc


if __name__ == "__main__":
    main()
