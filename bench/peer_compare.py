"""Our models beside the published peers on the same images, through the peer benchmark: on a config's
*validation* images, how a model is chosen against waifu2x without looking at the test fold; on its test
images (``--split test``), the one final score.

    .venv/bin/python bench/peer_compare.py --config quality --out /tmp/peers-val \\
        --ours quality=/tmp/qsel/srformc-quality.pt --ours fast=srformc --jpeg none,75,50
    .venv/bin/python bench/peer_compare.py --config quality --split test --crop 0 --out out/peers-test \\
        --ours quality=quality --ours "quality-tta=quality --tta" --ours fast=fast

The images (``--split val``, the default) are ``--config``'s validation images for ``--fold`` (carved out of
the training folds, held out of training; the rendered text pages are left out: the peers' tables are over
the datasets' own images), the first ``val_images`` of each category; or (``--split test``) every test image
of the fold; or (``--split bench``) Set5 and Set14, in no fold and in no config's training data: more
validation images to choose on (five per category decide a few hundredths of a dB no better than chance),
each under the category it is (:data:`BENCH_CATEGORY`; the rest are photographs). Each is centre-cropped to ``--crop`` HR px (0 = whole, cropped to even size) and written as
PNG to ``OUT/hr/<category>/``. The peer benchmark (``../shared/tools/peers/peers_bench.py``, run with
``--python``, which needs its requirements) then measures every method on them, once per ``--jpeg``
quality: the peers named by ``--peers`` (at a JPEG quality, their noise models for it, as the model card
pairs them: q75 -> noise1, q50 -> noise2) and each ``--ours 'NAME=MODEL [OPTION ...]'`` through the real CLI
(``mchmc upscale --model MODEL --noise auto OPTION ...``; MODEL's ``-noise<k>`` files beside it are its noise
levels). Prints one table per quality (``bench/peer_table.py``), then each of ours against the best peer
per category. Only the peer benchmark measures; this script picks the images and reads its output.
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from peer_table import CATEGORIES, markdown, rows_of

from mchmc.train.config import load_config
from mchmc.train.data import centre_crop, load_rgb, parse_fold, split_images

HARNESS = ROOT.parent / "shared" / "tools" / "peers" / "peers_bench.py"
PEERS = {None: "waifu2x-upconv7-photo,waifu2x-upconv7-art", 90: "waifu2x-upconv7-photo-noise0,waifu2x-upconv7-art-noise0",
         75: "waifu2x-upconv7-photo-noise1,waifu2x-upconv7-art-noise1",
         50: "waifu2x-upconv7-photo-noise2,waifu2x-upconv7-art-noise2"}


BENCH_FOLDERS = ("set5", "set14")
BENCH_CATEGORY = {"comic": "manga", "ppt3": "text"}  # Set14's drawing and its slide; every other image is a photograph


def bench_images(root: Path) -> list[tuple[str, Path]]:
    """(category, path) of Set5's and Set14's images under the data root, in name order."""
    paths = sorted(p for f in BENCH_FOLDERS for p in (root / f).glob("*.png"))
    return [(BENCH_CATEGORY.get(p.stem, "nature"), p) for p in paths]


def write_images(config: str, fold: str, crop: int, out: Path, which: str = "val") -> dict[str, list[str]]:
    """The split's images (``val``, ``test`` or ``bench``) as PNG under out/<category>/; category -> file names."""
    cfg = load_config(config)
    if which == "bench":
        return _write([(c, p, f"{p.parent.name}-{p.stem}.png") for c, p in bench_images(cfg.data.root_path())],
                      crop, out)
    split = split_images(cfg, tuple(cfg.data.folders), parse_fold(fold, cfg.folds.k))
    chosen: list[tuple[str, Path, str]] = []
    for ref in split.val if which == "val" else split.test:
        if ref.group != ref.category or ref.category not in CATEGORIES:
            continue  # rendered pages: not a dataset image
        if which == "val" and sum(c == ref.category for c, _, _ in chosen) >= cfg.train.val_images:
            continue
        chosen.append((ref.category, ref.path, f"{ref.path.stem}.png"))
    return _write(chosen, crop, out)


def _write(chosen: list[tuple[str, Path, str]], crop: int, out: Path) -> dict[str, list[str]]:
    """Each (category, image, name) as an 8-bit PNG out/<category>/<name>, centre-cropped to ``crop`` HR px
    (0: whole, to even size); category -> file names."""
    written: dict[str, list[str]] = {}
    for category, path, name in chosen:
        img = load_rgb(path)
        if img.dtype != np.uint8:
            img = (img.astype(np.float64) / 257.0).round().astype(np.uint8)
        img = centre_crop(img, crop, 2) if crop else img[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2]
        folder = out / category
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / name)
        written.setdefault(category, []).append(name)
    return written


def ours_command(spec: str) -> str:
    """``MODEL [OPTION ...]`` (e.g. ``srformc --tta``) -> the CLI command the peer benchmark runs per folder."""
    model, *options = shlex.split(spec)
    cli = shlex.quote(str(Path(sys.executable).with_name("mchmc")))
    tail = shlex.join(["--model", model, "--noise", "auto", "--format", "png", *options])
    return f"{cli} upscale {{in}} --out {{out}} {tail}"  # the benchmark fills in {in} and {out}, quoted


def gaps(by_quality: dict, ours: list[str]) -> str:
    """Each of ours minus the best peer, per category and quality (dB)."""
    lines = []
    for q, methods in sorted(by_quality.items(), key=lambda x: -1 if x[0] is None else -x[0]):
        peers = {m: c for m, c in methods.items() if m.startswith("waifu2x")}
        if not peers:
            continue  # nothing to measure a gap against
        for name in ours:
            if name not in methods:
                continue
            cells = []
            for cat in CATEGORIES:
                best = max(((c[cat]["psnr"], m) for m, c in peers.items() if cat in c), default=None)
                if best and cat in methods[name]:
                    cells.append(f"{cat} {methods[name][cat]['psnr'] - best[0]:+.2f} (vs {best[1]})")
            lines.append(f"- {'clean' if q is None else f'q{q}'}, {name}: " + "; ".join(cells))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="config whose validation images to use")
    ap.add_argument("--fold", default="1")
    ap.add_argument("--split", choices=("val", "test", "bench"), default="val",
                    help="val: choose on these; test: the fold's test images, scored once at the end; "
                         "bench: Set5 and Set14 (in no fold), more images to choose on")
    ap.add_argument("--crop", type=int, default=512, help="HR px of the centre crop (0 = whole image)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--ours", action="append", default=[], metavar="NAME=MODEL [OPTION ...]",
                    help="one of our models (a tier, shipped name or file) and upscale options (--tta), "
                         "run through mchmc upscale")
    ap.add_argument("--jpeg", default="none,75,50", help="comma list: none (clean) and JPEG qualities")
    ap.add_argument("--peers", default=None, help="peer methods (default: upconv7 photo/art for the level)")
    ap.add_argument("--python", default=sys.executable, help="a Python with the peer benchmark's requirements")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if not HARNESS.is_file():
        sys.exit(f"error: {HARNESS}: the peer benchmark is not there (../shared beside the project)")

    qualities = [None if q == "none" else int(q) for q in args.jpeg.split(",")]
    unpaired = [q for q in qualities if q not in PEERS]
    if unpaired and not args.peers:
        sys.exit(f"error: --jpeg {','.join(map(str, unpaired))}: no default peers for it; name them with --peers")
    ours = [o.split("=", 1) for o in args.ours]
    written = write_images(args.config, args.fold, args.crop, args.out / "hr", args.split)
    print("images: " + ", ".join(f"{c} {len(n)}" for c, n in written.items()), flush=True)
    results = []
    for quality in qualities:
        dest = args.out / f"peers-{quality or 'none'}.json"
        cmd = [args.python, str(HARNESS), "--out", str(dest), "--threads", str(args.threads),
               "--methods", args.peers or PEERS[quality] + ",bicubic-matlab"]
        cmd += [x for c in written for x in ("--images", str(args.out / "hr" / c))]
        cmd += [x for name, spec in ours for x in ("--extra", f"{name}={ours_command(spec)}")]
        if quality is not None:
            cmd += ["--jpeg", str(quality)]
        print("$ " + shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        results.append(dest)
    by_quality = rows_of(results)
    print(markdown(by_quality))
    print(gaps(by_quality, [name for name, _ in ours]))
    (args.out / "summary.json").write_text(json.dumps({"images": written, "runs": [str(p) for p in results]}, indent=1))


if __name__ == "__main__":
    main()
