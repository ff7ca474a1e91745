"""Thumbnails of the upscaled pages, for the HTML report (:mod:`mchmc.batch.report.htmlreport`).

A worker makes each page's thumbnail while the upscaled page is still in memory
(:func:`thumbnail`: a strided view of the pixels, so the big page is never
copied, then Pillow's antialiased shrink to :data:`SIDE` px on the long side)
and keeps it in DST's own state folder, ``DST/.mchmc/thumbs/<key>.jpg``
(written through :func:`mchmc.fsutil.atomic_write` with ``root=DST``: never in
a linked folder). The key is a hash of the page's output name as the report
records it (``DST/a/001.png``, ``DST/vol.cbz!/003.png``), so the report finds
a page's thumbnail from its record alone, also for a page a resumed run
skipped. A thumbnail that cannot be made is left out: it never fails a page.
"""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import numpy as np

from mchmc.fsutil import STATE_DIR, atomic_write, real_folder

SIDE = 160  # px, the long side
QUALITY = 80  # JPEG
FOLDER = f"{STATE_DIR}/thumbs"  # under DST


def key(output: str) -> str:
    """The file name stem of the thumbnail of the page whose report ``output`` is ``output``."""
    return hashlib.sha256(os.fsencode(output)).hexdigest()[:32]


def relative_path(output: str) -> str:
    """Where that thumbnail lies, relative to DST (``.mchmc/thumbs/<key>.jpg``)."""
    return f"{FOLDER}/{key(output)}.jpg"


def thumbnail(pixels: np.ndarray, side: int = SIDE) -> bytes:
    """A JPEG of ``pixels`` (H x W [x C]; bool, 8 or 16 bit; gray, gray + alpha, RGB, RGBA) at most
    ``side`` px on its long side. Only a strided view of at most 8x that size is read from the page."""
    from PIL import Image

    h, w = pixels.shape[:2]
    step = max(1, max(h, w) // (8 * side))
    px = pixels[::step, ::step]
    if px.dtype == np.bool_:
        px = px.astype(np.uint8) * 255
    elif px.dtype == np.uint16:
        px = (px >> 8).astype(np.uint8)
    elif px.dtype != np.uint8:
        px = np.clip(px, 0, 255).astype(np.uint8)
    if px.ndim == 3 and px.shape[2] in (2, 4):  # alpha: over white, as the page would print
        a = px[..., -1:].astype(np.float32) / 255.0
        px = np.rint(px[..., :-1] * a + 255.0 * (1.0 - a)).astype(np.uint8)
    if px.ndim == 3 and px.shape[2] == 1:
        px = px[..., 0]
    im = Image.fromarray(np.ascontiguousarray(px))
    im.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=QUALITY)
    return buf.getvalue()


def save(root: str | os.PathLike, output: str, data: bytes) -> Path:
    """Keep ``data`` as the thumbnail of the page ``output`` of the run writing ``root`` (DST)."""
    path = Path(root) / relative_path(output)
    with atomic_write(path, root=root) as tmp:
        tmp.write_bytes(data)
    return path


def rename(root: str | os.PathLike, output: str, to: str) -> None:
    """The thumbnail of ``output`` becomes ``to``'s (a volume's page, made under its waiting file's
    name, takes the name the report gives it); nothing happens when there is none."""
    folder = real_folder(Path(root) / FOLDER, root)
    try:
        os.replace(folder / f"{key(output)}.jpg", folder / f"{key(to)}.jpg")
    except FileNotFoundError:
        pass


def make(root: str | os.PathLike | None, output: str | os.PathLike, pixels: np.ndarray) -> None:
    """The worker's one call: the thumbnail of a page being written to ``output`` under ``root``
    (no ``root``: not a batch run, nothing kept). Never raises: a page never fails for its thumbnail."""
    if root is None:
        return
    try:
        save(root, str(output), thumbnail(pixels))
    except Exception:  # noqa: BLE001  (the report shows no thumbnail; the page is fine)
        pass
