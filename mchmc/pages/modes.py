"""Pixel layouts Pillow cannot hand over as they are, turned into one of the
five the upscaler knows (:mod:`mchmc.pages.meta`): 16-bit PNG colour (Pillow
has no 16-bit RGB mode), palettes, colour-key transparency, CMYK (through its
ICC profile when there is one); and Pillow's opener without its own bomb
check (mchmc checks the header against its own limits right after)."""
from __future__ import annotations

import io
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image, ImageCms

_PIL_LOCK = threading.Lock()


def pillow_open(path) -> Image.Image:
    """``Image.open`` (lazy: header only) with Pillow's own bomb check off: it fires
    at another limit (89 / 179 MP) with another exception and would pre-empt or
    contradict ``max_pixels``, which the caller checks right after. The check
    lives in ``Image.open`` only, so the lock is held for the open alone.
    ``path``: a path, or an open binary file."""
    with pillow_unlimited():
        return Image.open(path)


@contextmanager
def pillow_unlimited(pdf: bool = False) -> Iterator[None]:
    """Pillow's own decompression-bomb check off for the block (with ``pdf``, pikepdf's too: a PDF page
    image decoded through pikepdf opens its codec's data with Pillow inside). Our limits decide, with
    our messages, checked before the block."""
    with _PIL_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        if pdf:
            from pikepdf import PdfImage

            saved_pdf, PdfImage.MAX_IMAGE_PIXELS = PdfImage.MAX_IMAGE_PIXELS, None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        finally:
            Image.MAX_IMAGE_PIXELS = saved
            if pdf:
                PdfImage.MAX_IMAGE_PIXELS = saved_pdf


def _png_ihdr(path) -> tuple[int, int]:
    """(bit depth, colour type) from the PNG header."""
    with open(path, "rb") as f:
        head = f.read(29)
    return head[24], head[25]


def _with_rawmode(im: Image.Image, rawmode: str) -> Image.Image:
    im.tile = [t._replace(args=rawmode) if hasattr(t, "_replace") else (t[0], t[1], t[2], rawmode) for t in im.tile]
    return im


def _png16(path, im: Image.Image, ctype: int) -> np.ndarray:
    """16-bit RGB / RGBA / LA PNG at full depth. Pillow unfilters the rows right
    (its raw mode has the 16-bit pixel size) but keeps only the high bytes; a
    second decode with the little-endian raw mode of the same pixel size yields
    the low bytes. LA is decoded once as 8-bit RGBA raw (same 4-byte pixel):
    hi(L), lo(L), hi(A), lo(A)."""
    if ctype == 4:
        _with_rawmode(im, "RGBA").load()
        b = np.asarray(im).astype(np.uint16)
        return np.ascontiguousarray(np.stack([b[..., 0] << 8 | b[..., 1], b[..., 2] << 8 | b[..., 3]], axis=-1))
    im.load()
    hi = np.asarray(im)
    with pillow_open(str(path)) as im2:
        _with_rawmode(im2, "RGB;16L" if ctype == 2 else "RGBA;16L").load()
        lo = np.asarray(im2)
    return hi.astype(np.uint16) << 8 | lo


def expand_palette(im: Image.Image) -> tuple[np.ndarray, str]:
    """Expand a palette page: L when every used colour is gray, else RGB; + alpha if transparent."""
    idx = np.asarray(im)
    pal = np.zeros((256, 3), np.uint8)
    raw = np.frombuffer(bytes(im.getpalette("RGB") or []), np.uint8).reshape(-1, 3)[:256]
    pal[: len(raw)] = raw
    used = np.flatnonzero(np.bincount(idx.ravel(), minlength=256))
    gray = bool(np.all(pal[used, 0] == pal[used, 1]) and np.all(pal[used, 1] == pal[used, 2]))
    colour = pal[idx, 0] if gray else pal[idx]
    t = im.info.get("transparency")
    if t is None:
        return colour, "L" if gray else "RGB"
    alut = np.full(256, 255, np.uint8)
    if isinstance(t, (bytes, bytearray)):
        alut[: len(t)] = np.frombuffer(bytes(t[:256]), np.uint8)
    else:
        alut[int(t)] = 0
    alpha = alut[idx]
    return np.dstack([colour, alpha]), "LA" if gray else "RGBA"


def _key_alpha(pixels: np.ndarray, key) -> np.ndarray:
    """tRNS colour key (L, RGB, 8 or 16-bit) -> an alpha channel appended."""
    key = np.asarray(key if isinstance(key, tuple) else (key,), dtype=np.int64)
    hit = np.all(pixels.reshape(pixels.shape[:2] + (-1,)) == key, axis=-1)
    alpha = np.where(hit, 0, np.iinfo(pixels.dtype).max).astype(pixels.dtype)
    return np.dstack([pixels, alpha])


def cmyk_to_rgb(cmyk: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None, str]:
    """CMYK -> RGB. With a CMYK ICC profile: colour-managed to sRGB (the profile's
    own rendering intent) and the output is tagged sRGB; otherwise Pillow's naive
    formula, and no profile (an RGB profile on CMYK data describes nothing)."""
    if icc:
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if src.profile.xcolor_space.strip() == "CMYK":
                dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
                rgb = ImageCms.profileToProfile(cmyk, src, dst, renderingIntent=ImageCms.getDefaultIntent(src),
                                                outputMode="RGB")
                return rgb, dst.tobytes(), "CMYK converted to sRGB through its ICC profile; output tagged sRGB"
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass
    return cmyk.convert("RGB"), None, "CMYK converted to RGB without colour management; ICC profile dropped"
