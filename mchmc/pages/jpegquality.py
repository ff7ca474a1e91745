"""The quality a JPEG was saved at, estimated from its quantisation tables.

Encoders built on the IJG library (libjpeg, libjpeg-turbo, Pillow, most
scanner and camera software) scale the standard tables of the JPEG spec
(Annex K) by one factor per quality q: ``5000 / q`` percent below 50,
``200 - 2q`` above. The estimate is the q whose scaled luminance table is
closest to the file's (sorted values, so the zigzag or natural order a reader
returns does not matter), as ImageMagick's ``identify -format %Q`` does by
matching table sums. A file from an encoder with its own tables still gets
the nearest IJG quality, which is what "re-save at the source's quality"
needs. Used for the default output quality (a q75 page is not rewritten at
q95, 6x larger) and, later, the noise level of a page.
"""
from __future__ import annotations

import numpy as np

# JPEG spec, Annex K, table K.1 (luminance), row by row
_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.int64)


def ijg_table(quality: int, base: np.ndarray = _LUMA) -> np.ndarray:
    """The table libjpeg writes for ``quality`` (1..100), baseline-clamped to 1..255."""
    q = min(max(int(quality), 1), 100)
    scale = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip((base * scale + 50) // 100, 1, 255)


_SORTED = {q: np.sort(ijg_table(q)) for q in range(1, 101)}


def estimate_quality(tables: dict | None) -> int | None:
    """Estimated IJG quality (1..100) from Pillow's ``Image.quantization``; None without tables."""
    if not tables:
        return None
    first = tables.get(0, next(iter(tables.values())))
    luma = np.sort(np.asarray(list(first), dtype=np.int64))
    if luma.size != 64:
        return None
    return min(_SORTED, key=lambda q: (int(np.abs(_SORTED[q] - luma).sum()), -q))
