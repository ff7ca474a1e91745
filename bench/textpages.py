"""The benchmark's document pages that are *not* from the Hradis dataset, for text super-resolution.

    .venv/bin/python bench/textpages.py --out /tmp/textpages                 # the 24 test pages, seed 0
    .venv/bin/python bench/textpages.py --out /tmp/textpages --count 48 --seed 7

The pages are drawn by mchmc.train.textpages (its docstring says what they are); the text models also
train on pages of other seeds drawn by it, with the Condensed font families held out of training
(``data.rendered_*`` in configs/*.toml). Seed 0 is the test set: no config trains on it. Writes
``--count`` PNG pages (the peer benchmark downsizes them by 2 itself) and ``MANIFEST.json`` listing every
file with its kind and the parameters it was made with.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from mchmc.train.textpages import render_pages
from mchmc.train.textpages.style import FONT_ROOT, discover_fonts


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the pages and MANIFEST.json")
    ap.add_argument("--count", type=int, default=24, help="number of pages (default 24)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0: the test pages)")
    args = ap.parse_args(argv)

    fonts = discover_fonts()
    if not fonts:
        print(f"no .ttf under {FONT_ROOT}: using Pillow's built-in font")
    t0 = time.perf_counter()
    manifest = render_pages(args.out, args.count, args.seed, fonts, generator="bench/textpages.py")
    kinds = {k: sum(p["kind"] == k for p in manifest["pages"]) for k in ("digital", "scanned")}
    print(f"{args.count} pages ({kinds['digital']} digital, {kinds['scanned']} scanned) in {args.out} "
          f"in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
