"""mchmc's PNG encoder (mchmc/pages/png.py) against imagecodecs.png_encode, side by side.

Issue 17 asks whether the hand-written filter + deflate machinery can give way
to ``imagecodecs.png_encode`` (libpng), which also writes 16-bit RGB. This
prints, for 2x outputs of the sample pages (8-bit RGB and gray) and a 16-bit
RGB page: MB/s of raw pixels encoded and the file size, for our encoder at
level 1 and for imagecodecs at level 1 with its default filters and with the
"fast" settings its docs give (RLE strategy, Sub filter). Each run decodes its
own output and checks the pixels. The two encoders' bytes differ (other
filters, other deflate), so switching changes every PNG page mchmc writes.

    .venv/bin/python bench/pngencode.py
"""
from __future__ import annotations

import io
import time
from pathlib import Path

import imagecodecs
import numpy as np
from PIL import Image

from mchmc.pages.png import write_png

ROOT = Path(__file__).resolve().parents[1]


def pages() -> dict[str, np.ndarray]:
    """2x-sized pages cut from the samples (nearest-neighbour upsized: the size of a real output)."""
    out = {}
    for name in ("manga-page.png", "text-page.png", "landscape.jpg"):
        a = np.asarray(Image.open(ROOT / "samples" / name).convert("RGB"))
        out[name + " (RGB 8)"] = np.ascontiguousarray(a.repeat(2, 0).repeat(2, 1))
    gray = np.asarray(Image.open(ROOT / "samples" / "manga-page-gray.png").convert("L"))
    out["manga-page-gray.png (L 8)"] = np.ascontiguousarray(gray.repeat(2, 0).repeat(2, 1))
    rgb = out["landscape.jpg (RGB 8)"].astype(np.uint16) * 257
    out["landscape (RGB 16)"] = rgb + np.random.default_rng(0).integers(0, 64, rgb.shape, dtype=np.uint16)
    return out


def ours(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    write_png(buf, a, bits=16 if a.dtype == np.uint16 else 8, level=1)
    return buf.getvalue()


def best_of(fn, a: np.ndarray, repeat: int = 3) -> tuple[bytes, float]:
    best, data = float("inf"), b""
    for _ in range(repeat):
        t = time.perf_counter()
        data = fn(a)
        best = min(best, time.perf_counter() - t)
    assert np.array_equal(imagecodecs.png_decode(data), a), "round trip"
    return data, best


def main() -> None:
    coders = {
        "mchmc png.py, level 1": ours,
        "imagecodecs, level 1": lambda a: bytes(imagecodecs.png_encode(a, level=1)),
        "imagecodecs, level 1, RLE + Sub": lambda a: bytes(imagecodecs.png_encode(a, level=1, strategy=3, filter=16)),
    }
    print(f"imagecodecs {imagecodecs.__version__}\n")
    print("| page | encoder | MB/s (raw) | size (KB) | size / ours |")
    print("|---|---|---:|---:|---:|")
    for name, a in pages().items():
        base = None
        for label, fn in coders.items():
            data, sec = best_of(fn, a)
            base = base or len(data)
            print(f"| {name} | {label} | {a.nbytes / sec / 1e6:.0f} | {len(data) / 1024:.0f} | "
                  f"{len(data) / base:.2f} |")


if __name__ == "__main__":
    main()
