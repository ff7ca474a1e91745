"""Rendered document pages that are *not* Hradis: text training data of its own, and the benchmark's text set.

    from mchmc.train.textpages import render_pages, rendered_folder
    render_pages(Path("/tmp/textpages"), count=24, seed=0)            # what bench/textpages.py writes
    folder = rendered_folder(cache_root, count=160, seed=1000, hold_out="Condensed")   # training pages, cached

Why: Hradis is one dataset with one look (its fonts, its layouts, its scanner). Documents are half of
what the product is for, so a text model that only knows that look is not good enough (issue 14, item 5).
These pages widen it: other fonts, sizes, weights and layouts, born-digital as well as scanned. The same
seed gives the same pages (numpy ``default_rng([seed, index])`` per page, Pillow for drawing; with the
same Pillow / FreeType versions and the same fonts the files are byte-identical).

What a page is: a high-resolution reference (PNG, even width and height between 512 and 768 px). Pages
alternate between two kinds:

- ``digital``: RGB, white or off-white paper, black or dark ink, text drawn with Pillow's ImageDraw in
  the TrueType fonts found under /usr/share/fonts (``ImageFont.load_default`` when there are none).
- ``scanned``: the same kind of page, then a moderate, clean flatbed scan (:mod:`.scan`): a slight
  bicubic rotation, a mild blur, a paper tint, ink that is not quite black, uneven illumination and mild
  sensor noise; every third scanned page is saved as grayscale (L).

Layouts cycle through single column, two columns, a title with sections, a ruled table and a numbered
list, every other page of each kind ending in a small footnote. The text is pseudo-random sentences from
a fixed word list plus numbers and punctuation, so nothing external is read.

Training and measuring stay apart: the benchmark's pages are seed 0; training pages use other seeds, and
``hold_out`` keeps some font families (by default the Condensed ones) out of them, so the benchmark can
say how the model does on typefaces it never saw. Modules: :mod:`.style` (fonts, words, styles),
:mod:`.draw` (lines, paragraphs, columns, titles, footnotes), :mod:`.layout` (tables, lists, the five
layouts, a whole page), :mod:`.scan` (the scan simulation); this one plans the pages and writes a set.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from mchmc.fsutil import atomic_folder, atomic_write_text
from mchmc.train.textpages.layout import render_page
from mchmc.train.textpages.scan import simulate_scan
from mchmc.train.textpages.style import FONT_ROOT, LAYOUTS, discover_fonts

RENDER_VERSION = 1  # bump when a change to the drawing code changes the pages a seed gives
Fonts = dict[str, dict[str, Path]]


def page_plan(index: int) -> tuple[str, str, bool, bool]:
    """Kind, layout, footnote and grayscale of page ``index``: kinds alternate, each kind cycles the
    layouts, every other page of a kind has a footnote, every third scanned page is grayscale."""
    kind = "digital" if index % 2 == 0 else "scanned"
    n = index // 2
    return kind, LAYOUTS[n % len(LAYOUTS)], n % 2 == 1, kind == "scanned" and n % 3 == 2


def make_page(seed: int, index: int, fonts: Fonts) -> tuple[Image.Image, dict]:
    kind, layout, footnote, gray = page_plan(index)
    rng = np.random.default_rng([seed, index])  # per page: one page's draws never shift another's
    img, params = render_page(rng, fonts, layout, footnote, digital=kind == "digital")
    if kind == "scanned":
        img, scan = simulate_scan(img, rng, gray)
        params.update(scan)
    return img, {"kind": kind, "layout": layout, "mode": img.mode, **params}


def training_fonts(hold_out: str = "", root: Path = FONT_ROOT) -> Fonts:
    """The font families found under ``root`` but those whose name contains ``hold_out`` ("" keeps all)."""
    return {f: s for f, s in discover_fonts(root).items() if not (hold_out and hold_out in f)}


def page_name(index: int, params: dict, prefix: str = "") -> str:
    return f"{prefix}{index:03d}_{params['kind']}_{params['layout']}.png"


def render_pages(out: Path, count: int, seed: int, fonts: Fonts | None = None, generator: str = "",
                 prefix: str = "", scans: bool = True) -> dict:
    """Write ``count`` pages of ``seed`` and ``MANIFEST.json`` into ``out``; returns the manifest. ``prefix``
    starts every file name (training pages: ``rendered-s<seed>-``, never the name of a dataset image);
    ``scans=False`` keeps only the digital pages of the plan (pages 0, 2, 4, ...: every layout still cycles)."""
    fonts = discover_fonts() if fonts is None else fonts
    out.mkdir(parents=True, exist_ok=True)
    pages = []
    for i in range(count) if scans else range(0, 2 * count, 2):
        img, params = make_page(seed, i, fonts)
        name = page_name(i, params, prefix)
        img.save(out / name)
        pages.append({"file": name, **params})
    manifest = {"generator": generator or __name__, "version": RENDER_VERSION, "seed": seed, "count": count,
                "scans": scans,
                "fonts": sorted(str(p) for styles in fonts.values() for p in styles.values()), "pages": pages}
    atomic_write_text(out / "MANIFEST.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


def rendered_key(count: int, seed: int, fonts: Fonts, scans: bool = True) -> str:
    """What a rendered set depends on: the drawing code's version, Pillow's, the seed, the count and the
    font files themselves (their bytes, not only their names)."""
    import PIL

    font_hashes = sorted((p.name, hashlib.sha256(p.read_bytes()).hexdigest())
                         for styles in fonts.values() for p in styles.values())
    doc = {"version": RENDER_VERSION, "pillow": PIL.__version__, "count": count, "seed": seed,
           "fonts": font_hashes, **({} if scans else {"scans": False})}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


def rendered_folder(cache_root: Path, count: int, seed: int, hold_out: str = "", scans: bool = True) -> Path:
    """The folder of ``count`` training pages of ``seed`` under ``cache_root/rendered/``, rendered on first
    use into a temporary folder and renamed, so a set either exists whole or not at all."""
    fonts = training_fonts(hold_out)
    kinds = "" if scans else "-digital"
    path = cache_root / "rendered" / f"seed{seed}-n{count}{kinds}-{rendered_key(count, seed, fonts, scans)}"
    if (path / "MANIFEST.json").is_file():
        return path
    with atomic_folder(path, "MANIFEST.json") as tmp:
        render_pages(tmp, count, seed, fonts, prefix=f"rendered-s{seed}-", scans=scans)
    return path
