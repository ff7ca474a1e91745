"""Calibrate :func:`mchmc.pages.limits.page_memory_bytes` against the real peak.

Why: the per-worker memory budget (``max_bytes``) refuses pages from their
header alone, so the estimate must be at least what the real path needs, or
a page that passes the check can still take the worker down. For each layout
this runs what a batch worker runs for a file (``read_pages`` ->
``upscale_page`` -> ``write_pages``, same format unless noted, the batch's
engine tile of 256) in a fresh process, and measures the growth of its peak
resident memory (VmHWM after ``clear_refs``, so imports and the model are not
counted) against the estimate.

    cd /work/main && source scripts/env.sh && python bench/pagememory.py [WIDTH HEIGHT]

Measured on the 2-core dev box (random 0.05 model, tile 256, MB):

    case                   layout   1000x1500 peak  2000x3000 peak  estimate(6 MP)  per LR px
    rgb8.jpg               RGB8          150             270             765          26.7 B
    rgb8-progressive.jpg   RGB8          149             254             765
    rgb8.png               RGB8          149             269             765
    l8.png                 L8             94             134             645           8.9 B
    rgba8.png              RGBA8         157             321             825          36.4 B
    rgba8-to-jpeg.png      RGBA8         252             865             825         136 B  (!)
    pal.png                RGB8          153             260             765
    rgb16.tif              RGB16         174             340             945          36.9 B
    l16.png                L16           115             184             705          15.3 B
    bilevel-g4.tif         1             82              137             645          12.2 B
    rgb8-lzw.tif           RGB8          151             265             765

Growth per LR pixel is ~9 bytes per (channel x byte per sample) written in
the same format (the estimate allows 10, plus 8 a pixel), and the fixed part
(one upscaling strip, the engine's tiles) is ~50-120 MB (the estimate allows
512 MB, for engine tiles up to ~512 px). The one path over the estimate is a
format conversion in the writer: RGBA -> JPEG composites alpha with float32
copies of the whole 2x output (136 B a pixel); pages/write.py converts in
row strips, after which that row falls in line.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CASES = {  # name: (layout, input file, output format)
    "rgb8.jpg": ("RGB", "JPEG", None),
    "rgb8-progressive.jpg": ("RGB", "JPEG-progressive", None),
    "rgb8.png": ("RGB", "PNG", None),
    "l8.png": ("L", "PNG", None),
    "rgba8.png": ("RGBA", "PNG", None),
    "rgba8-to-jpeg.png": ("RGBA", "PNG", "jpeg"),
    "pal.png": ("P", "PNG", None),
    "rgb16.tif": ("RGB16", "TIFF", None),
    "l16.png": ("L16", "PNG", None),
    "bilevel-g4.tif": ("1", "TIFF-G4", None),
    "rgb8-lzw.tif": ("RGB", "TIFF-LZW", None),
}


def make(path: Path, layout: str, kind: str, w: int, h: int) -> None:
    import tifffile
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) / max(w, h)
    base = (0.5 + 0.4 * np.sin(9 * yy + 5 * xx))[..., None] + rng.normal(0, 0.05, (h, w, 1)).astype(np.float32)
    rgb = np.clip(np.concatenate([base, base[::-1], base[:, ::-1], base.transpose(1, 0, 2)[:h, :w]
                                  if w == h else base], axis=-1), 0, 1)
    if layout in ("RGB16", "L16"):
        a = np.rint(rgb[..., :3 if layout == "RGB16" else 1] * 65535).astype(np.uint16)
        if layout == "L16":
            Image.fromarray(a[..., 0]).save(path, "PNG")
        else:
            tifffile.imwrite(path, a, photometric="rgb", compression="zlib")
        return
    a8 = np.rint(rgb * 255).astype(np.uint8)
    im = {"RGB": lambda: Image.fromarray(a8[..., :3]), "RGBA": lambda: Image.fromarray(a8, "RGBA"),
          "L": lambda: Image.fromarray(a8[..., 0]), "P": lambda: Image.fromarray(a8[..., :3]).quantize(64),
          "1": lambda: Image.fromarray(a8[..., 0] > 128)}[layout]()
    if kind == "JPEG-progressive":
        im.save(path, "JPEG", progressive=True, quality=90)
    elif kind == "TIFF-G4":
        im.save(path, "TIFF", compression="group4")
    elif kind == "TIFF-LZW":
        im.save(path, "TIFF", compression="tiff_lzw")
    else:
        im.save(path, kind)


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def measure_one(src: Path, fmt: str | None) -> dict:
    """In this (fresh) process: the peak growth of resident memory over one page's job."""
    import torch

    from mchmc.engine import Engine
    from mchmc.model import build_model
    from mchmc.pages import output_name, read_pages, upscale_page, write_pages
    from mchmc.pages.limits import page_memory_bytes

    torch.manual_seed(0)
    model = build_model("mch-mc")
    model.reset_parameters(0.05)
    engine = Engine(model, tile=256)
    out = Path(tempfile.mkdtemp())
    warm = out / "warm.png"
    from PIL import Image
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(warm)
    write_pages([upscale_page(p, engine) for p in read_pages(warm)], out / "warm2.png")  # threads, arenas
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    base = _status("VmRSS")
    meta = None
    stats = []

    def pages():
        nonlocal meta
        for page in read_pages(src):
            meta = page.meta
            up = upscale_page(page, engine)
            stats.append(up.meta.size)
            yield up

    write_pages(pages(), out / output_name(src, fmt), fmt)
    peak = _status("VmHWM") - base
    est = page_memory_bytes(meta.width, meta.height, meta.channels, 2 if meta.bits == 16 else 1)
    return {"peak": peak, "estimate": est, "mode": meta.mode, "bits": meta.bits}


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        print(json.dumps(measure_one(Path(argv[1]), argv[2] if argv[2] != "-" else None)))
        return
    w, h = (int(argv[0]), int(argv[1])) if len(argv) >= 2 else (2000, 3000)
    print(f"{w} x {h} pages: peak growth of resident memory vs page_memory_bytes (MB)")
    print(f"{'case':24} {'layout':10} {'peak':>8} {'estimate':>9} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (layout, kind, fmt) in CASES.items():
            src = Path(tmp) / name
            make(src, layout, kind, w, h)
            res = subprocess.run([sys.executable, __file__, "--one", str(src), fmt or "-"], capture_output=True,
                                 text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"{name:24} {r['mode'] + str(r['bits']):10} {r['peak'] / 1e6:8.0f} {r['estimate'] / 1e6:9.0f} "
                  f"{r['estimate'] / r['peak']:6.2f}", flush=True)
            src.unlink()


if __name__ == "__main__":
    main(sys.argv[1:])
