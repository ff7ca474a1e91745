"""A deterministic set of document pages that are *not* from the Hradis dataset, for text super-resolution.

    .venv/bin/python bench/textpages.py --out /tmp/textpages                 # 24 pages, seed 0
    .venv/bin/python bench/textpages.py --out /tmp/textpages --count 48 --seed 7

Why: our text models are trained and measured on Hradis, which is one dataset with one look (its
fonts, its layouts, its scanner). Documents are half of what the product is for, so a text model that
only knows that look is not good enough. These pages ask whether the text models generalise: other
fonts, sizes, weights and layouts, born-digital as well as scanned.

What it makes: ``--count`` high-resolution reference pages (PNG, even width and height between 512 and
768 px; the benchmark downsizes them by 2 itself) and ``MANIFEST.json`` listing every file with its
kind and the parameters it was made with. Pages alternate between two kinds:

- ``digital``: RGB, white or off-white paper, black or dark ink, text drawn with Pillow's ImageDraw in
  the TrueType fonts found under /usr/share/fonts (``ImageFont.load_default`` when there are none).
- ``scanned``: the same kind of page, then a moderate, clean flatbed scan: a slight bicubic rotation
  (0.3 to 1.5 degrees), a mild Gaussian blur, a paper tint, ink that is not quite black, a smooth
  uneven illumination and mild sensor noise; every third scanned page is saved as grayscale (L).

Layouts cycle through single column, two columns, a title with sections, a ruled table and a numbered
list, every other page of each kind ending in a small footnote. The text is pseudo-random sentences
built from the word list below plus numbers and punctuation, so nothing external is read. The same
seed gives the same pages (numpy ``default_rng`` per page, Pillow for drawing; with the same Pillow /
FreeType versions and the same fonts the files are byte-identical).

The page itself is drawn by three modules beside this one: textpage_style.py (fonts, words, styles),
textpage_draw.py (lines, paragraphs, flowing columns, titles, footnotes), textpage_layout.py (tables,
lists, the five layouts, a whole page); this file adds the scan simulation and writes the set.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from textpage_layout import render_page
from textpage_style import FONT_ROOT, LAYOUTS, discover_fonts


def simulate_scan(img: Image.Image, rng: np.random.Generator, gray: bool) -> tuple[Image.Image, dict]:
    """A moderate, clean flatbed scan of a white page with black ink: slight rotation, blur, paper tint,
    ink that is not quite black, uneven illumination and mild sensor noise."""
    angle = float(rng.uniform(0.3, 1.5) * rng.choice([-1.0, 1.0]))
    blur = float(rng.uniform(0.4, 0.9))
    img = img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    img = img.filter(ImageFilter.GaussianBlur(blur))
    coverage = np.asarray(img, np.float32) / 255.0  # 1 = bare paper, 0 = full ink

    base = float(rng.uniform(0.90, 0.97))
    yellow = float(rng.uniform(0.0, 0.06))
    paper = np.array([base, base - yellow * 0.3, base - yellow], np.float32)
    ink = float(rng.uniform(0.06, 0.16))
    page = ink + (paper - ink) * coverage

    h, w = coverage.shape[:2]
    theta = float(rng.uniform(0, 2 * np.pi))
    strength = float(rng.uniform(0.03, 0.09))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = (xx / w - 0.5) * np.cos(theta) + (yy / h - 0.5) * np.sin(theta)  # -0.7 .. 0.7
    light = 1.0 - strength * (ramp - ramp.min()) / (ramp.max() - ramp.min())
    page = page * light[..., None]

    if gray:
        page = page @ np.array([0.299, 0.587, 0.114], np.float32)
    sigma = float(rng.uniform(1.0, 4.0))
    out = page * 255.0 + rng.normal(0.0, sigma, page.shape).astype(np.float32)
    out_img = Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), "L" if gray else "RGB")
    return out_img, {"scan": {"angle_deg": round(angle, 3), "blur_radius": round(blur, 3),
                              "paper": [round(float(v), 3) for v in paper], "ink": round(ink, 3),
                              "illumination_drop": round(strength, 3), "illumination_angle_deg":
                              round(float(np.degrees(theta)), 1), "noise_sigma": round(sigma, 2)}}


def page_plan(index: int) -> tuple[str, str, bool, bool]:
    """Kind, layout, footnote and grayscale of page ``index``: kinds alternate, each kind cycles the
    layouts, every other page of a kind has a footnote, every third scanned page is grayscale."""
    kind = "digital" if index % 2 == 0 else "scanned"
    n = index // 2
    return kind, LAYOUTS[n % len(LAYOUTS)], n % 2 == 1, kind == "scanned" and n % 3 == 2


def make_page(seed: int, index: int, fonts: dict[str, dict[str, Path]]) -> tuple[Image.Image, dict]:
    kind, layout, footnote, gray = page_plan(index)
    rng = np.random.default_rng([seed, index])  # per page: one page's draws never shift another's
    img, params = render_page(rng, fonts, layout, footnote, digital=kind == "digital")
    if kind == "scanned":
        img, scan = simulate_scan(img, rng, gray)
        params.update(scan)
    return img, {"kind": kind, "layout": layout, "mode": img.mode, **params}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for the pages and MANIFEST.json")
    ap.add_argument("--count", type=int, default=24, help="number of pages (default 24)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = ap.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    fonts = discover_fonts()
    if not fonts:
        print(f"no .ttf under {FONT_ROOT}: using Pillow's built-in font")
    t0 = time.perf_counter()
    pages = []
    for i in range(args.count):
        img, params = make_page(args.seed, i, fonts)
        name = f"{i:03d}_{params['kind']}_{params['layout']}.png"
        img.save(args.out / name)
        pages.append({"file": name, **params})
    manifest = {"generator": "bench/textpages.py", "seed": args.seed, "count": args.count,
                "fonts": sorted(str(p) for styles in fonts.values() for p in styles.values()), "pages": pages}
    (args.out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    kinds = {k: sum(p["kind"] == k for p in pages) for k in ("digital", "scanned")}
    print(f"{args.count} pages ({kinds['digital']} digital, {kinds['scanned']} scanned) in {args.out} "
          f"in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
