"""Read archive pages: pixels in one of five layouts plus a :class:`PageMeta`.

Pillow reads PNG, JPEG, WebP and BMP; tifffile reads TIFF (8/16-bit, multi-page,
compressed, tiled, planar, BigTIFF), with Pillow's libtiff as the fallback for
codecs tifffile needs the optional ``imagecodecs`` package for (LZW, JPEG, CCITT).

Rules, each because a peer got it wrong:
- Nothing silently changes pixels: no EXIF auto-rotation (the orientation tag
  is kept as is), no 16 -> 8-bit squeeze. Pillow reads 16-bit RGB(A)/LA PNGs as
  8-bit; we decode them at 16 bits (:func:`_png16`).
- The header is checked *before* decoding (:class:`Limits`, :mod:`mchmc.pages.limits`):
  pixels against ``max_pixels``, pixels against the bytes that could hold them
  (a 2.9 KB JPEG claiming 9000 x 9000), the memory the page needs against
  the worker's ``max_bytes``; so a bomb costs a header read, not the machine's
  memory. Pillow's own bomb check (other limit, other exception) is switched
  off while we open.
- Every failure is one typed :class:`~mchmc.errors.PageError` naming the file
  (fuzzed: tests/fuzz/); running out of memory is :func:`out_of_memory`, not
  "corrupt".
- Palette pages become L (gray palette) or RGB/RGBA here, because a numpy array
  carries no palette; CMYK becomes RGB (through its ICC profile when it has a
  CMYK one, and the output is then tagged sRGB; naively otherwise, and a
  profile that does not describe CMYK is dropped: it no longer applies).
"""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from mchmc.errors import (EmptyFileError, NotAnImageError, PageError, PageTooLargeError, TruncatedPageError,
                     UnsupportedPageError)
from mchmc.pages.jpegscan import file_dc_scan_bytes
from mchmc.pages.limits import DENSITY_FLOOR_PIXELS, check_density, check_memory, check_pixels
from mchmc.pages.meta import DEFAULT_MAX_PIXELS, READ_FORMATS, Page, PageMeta
from mchmc.pages.modes import _key_alpha, _png16, _png_ihdr, cmyk_to_rgb, expand_palette, pillow_open

# "MM*\0" and "II\0*" are byte-order-confused TIFF signatures Pillow accepts: they
# go to tifffile too, which refuses them in one line (Pillow opens them, then fails with a TypeError).
_SIGNATURES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"II*\0", "TIFF"), (b"MM\0*", "TIFF"),
               (b"II+\0", "TIFF"), (b"MM\0+", "TIFF"), (b"MM*\0", "TIFF"), (b"II\0*", "TIFF"), (b"BM", "BMP"),
               (b"GIF8", "GIF"))
# What Pillow's and tifffile's parsers and codecs raise on bad bytes (imagecodecs'
# errors are RuntimeErrors). MemoryError is not here: running out of memory is
# not a corrupt file (:func:`out_of_memory`).
DECODE_ERRORS = (OSError, EOFError, SyntaxError, ValueError, struct.error, zlib.error, IndexError, KeyError,
                 TypeError, RuntimeError, ZeroDivisionError, OverflowError)


def codec_says(err: BaseException) -> str:
    """What a codec said about bad bytes, in brackets after our words: its message, not its
    exception's type (a page error names the problem, issue 28 B6); "" when it said nothing."""
    said = str(err).strip()
    return f" ({said})" if said else ""


def sniff(head: bytes) -> str | None:
    """Format from the first bytes (what the file *is*, whatever its name says)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for sig, fmt in _SIGNATURES if head.startswith(sig)), None)


def out_of_memory(path, width: int, height: int) -> PageTooLargeError:
    """The error for a decoder that ran out of memory (the budget, ``max_bytes``,
    is meant to refuse such a page before; without one, this is what is left)."""
    return PageTooLargeError(path, f"ran out of memory decoding {width} x {height} pixels; give this worker more "
                                   "memory or run fewer workers (--max-memory refuses such pages up front)")


def check_file(path: Path) -> bytes:
    """Exists, is a file, is not empty: returns its first 16 bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        raise PageError(path, "no such file") from None
    except IsADirectoryError:
        raise PageError(path, "is a folder, not an image file") from None
    except OSError as err:
        raise PageError(path, f"cannot read: {err.strerror or err}") from None
    if not head:
        raise EmptyFileError(path, "empty file (0 bytes)")
    return head


class Limits(NamedTuple):
    """What a page's header is checked against before decoding (:mod:`mchmc.pages.limits`)."""

    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_bytes: int | None = None  # memory budget of the worker, bytes
    check_density: bool = True  # pixels claimed against the bytes that could hold them


def open_checked(path: Path, fmt: str | None, max_pixels, max_bytes: int | None = None,
                 check_density: bool = True) -> tuple[Image.Image, dict]:
    """Open with Pillow (header only) and check it against the limits; typed
    errors for what fails. Returns the open image (close it: ``with im:``) and
    what the header told."""
    if fmt == "GIF":
        raise UnsupportedPageError(path, "GIF files are not supported (PNG, JPEG, TIFF, WebP, BMP are)")
    try:
        im = pillow_open(str(path))
    except UnidentifiedImageError:
        if fmt:
            raise TruncatedPageError(path, f"starts like a {fmt} file but its header is truncated or corrupt") from None
        raise NotAnImageError(path, "not an image file (no PNG, JPEG, TIFF, WebP or BMP signature)") from None
    except DECODE_ERRORS as err:
        raise TruncatedPageError(path, f"truncated or corrupt image header{codec_says(err)}") from None
    try:
        return im, _pillow_header(path, im, Limits(max_pixels, max_bytes, check_density))
    except BaseException:
        im.close()
        raise


# ---------------------------------------------------------------- Pillow formats
def pillow_layout(path, im: Image.Image) -> tuple[int, int, int]:
    """(channels, bytes per sample, bits) of the page :func:`decode_pillow` will
    make of ``im``, from the header: a palette page expands to RGB(A), CMYK
    becomes RGB, a 16-bit PNG stays 16-bit, a 1-bit page is one byte a pixel."""
    mode = im.mode
    if mode == "1":
        return 1, 1, 1
    if mode.startswith("I"):
        return 1, 2, 16
    channels = {"L": 1, "LA": 2, "La": 2, "P": 3, "PA": 4, "RGB": 3, "YCbCr": 3, "RGBX": 3}.get(mode, 4)
    if mode == "P" and "transparency" in im.info:
        channels = 4
    if im.format == "PNG" and mode in ("RGB", "RGBA", "LA") and _png_ihdr(path)[0] == 16:
        return channels, 2, 16
    return channels, 1, 8


def _pillow_header(path, im: Image.Image, limits: Limits) -> dict:
    if im.format not in READ_FORMATS:
        raise UnsupportedPageError(path, f"{im.format} files are not supported (PNG, JPEG, TIFF, WebP, BMP are)")
    check_pixels(path, im.width, im.height, limits.max_pixels)
    jpeg = im.format in ("JPEG", "MPO")
    if limits.check_density:
        big = im.width * im.height > DENSITY_FLOOR_PIXELS  # a JPEG's scans are walked only where it matters
        coded = file_dc_scan_bytes(path) if jpeg and big else os.path.getsize(path)
        check_density(path, im.width, im.height, coded, "JPEG" if jpeg else im.format)
    channels, nbytes, bits = pillow_layout(path, im)
    planes = len(im.getbands()) if jpeg and im.info.get("progressive") else 0
    check_memory(path, im.width, im.height, channels, nbytes, limits.max_bytes, bits=bits, coefficient_planes=planes)
    try:
        frames = getattr(im, "n_frames", 1)
    except DECODE_ERRORS as err:
        raise TruncatedPageError(path, f"{im.format} file's frame list is truncated or corrupt"
                                       f"{codec_says(err)}") from None
    notes = []
    if frames > 1 and im.format == "WEBP":
        raise UnsupportedPageError(path, f"animated WebP ({frames} frames) is not supported")
    if frames > 1:  # MPO: a camera JPEG with an embedded preview / stereo frame
        notes.append(f"{im.format} with {frames} frames: only the primary image is kept")
    return {"notes": notes}


def decode_pillow(path, im: Image.Image, ctx: dict, fmt: str | None = None) -> Page:
    """Decode an opened Pillow image into one of the five layouts. ``ctx`` carries
    what the caller already knows (notes, page index/count, TIFF layout)."""
    fmt = fmt or ("JPEG" if im.format == "MPO" else im.format)
    notes = list(ctx.get("notes", ()))
    src_mode, src_bits, icc = im.mode, 8, im.info.get("icc_profile") or None
    key = im.info.get("transparency")
    try:
        if fmt == "PNG":
            src_bits, ctype = _png_ihdr(path)
            if src_bits == 16 and ctype in (2, 4, 6):
                pixels = _png16(path, im, ctype)
                src_mode = mode = {2: "RGB", 4: "LA", 6: "RGBA"}[ctype]
                if key is not None and ctype == 2:  # tRNS colour key -> alpha
                    pixels, mode = _key_alpha(pixels, key), "RGBA"
                return make_page(path, fmt, pixels, mode, 16, src_mode + ";16", 16,
                                 {**_pillow_info(im, fmt), "icc": icc, **ctx, "notes": notes})
        im.load()
    except MemoryError:
        raise out_of_memory(path, im.width, im.height) from None
    except DECODE_ERRORS as err:
        raise TruncatedPageError(path, f"truncated or corrupt image data{codec_says(err)}") from None
    mode, bits = im.mode, 8
    if mode == "1":
        pixels, bits, src_bits = np.asarray(im), 1, 1
    elif mode in ("L", "LA", "RGB", "RGBA"):
        pixels = np.asarray(im)
    elif mode.startswith("I;16") or (mode == "I" and fmt == "PNG" and src_bits == 16):  # "I": older Pillow
        pixels, mode, bits, src_bits, src_mode = np.asarray(im).astype(np.uint16), "L", 16, 16, "I;16"
    elif mode == "P":
        pixels, mode = expand_palette(im)
        key = None
    elif mode == "CMYK":
        rgb, icc, note = cmyk_to_rgb(im, icc)
        pixels, mode = np.asarray(rgb), "RGB"
        notes.append(note)
    elif mode in ("RGBX", "YCbCr", "RGBa", "La", "PA"):
        target = {"RGBX": "RGB", "YCbCr": "RGB", "RGBa": "RGBA", "La": "LA", "PA": "RGBA"}[mode]
        pixels, mode = np.asarray(im.convert(target)), target
    else:
        raise UnsupportedPageError(path, f"{fmt} image mode {mode!r} is not supported")
    if key is not None and mode in ("L", "RGB"):
        pixels, mode = _key_alpha(pixels, key), mode + "A"
    return make_page(path, fmt, pixels, mode, bits, src_mode, src_bits,
                     {**_pillow_info(im, fmt), "icc": icc, **ctx, "notes": notes})


def _pillow_info(im: Image.Image, fmt: str) -> dict:
    from mchmc.pages.jpegquality import estimate_quality

    dpi = im.info.get("dpi")
    return {
        "jpeg_quality": estimate_quality(getattr(im, "quantization", None)) if fmt == "JPEG" else None,
        "dpi": (float(dpi[0]), float(dpi[1])) if dpi and dpi[0] and dpi[1] else None,
        "exif": _exif_bytes(im.info.get("exif")), "xmp": as_bytes(im.info.get("xmp")),
        "text": tuple((str(k), str(v)) for k, v in getattr(im, "text", {}).items()) if fmt == "PNG" else (),
    }


def _exif_bytes(raw) -> bytes | None:
    if not raw:
        return None
    raw = bytes(raw)
    return raw if raw.startswith(b"Exif\0\0") else b"Exif\0\0" + raw


def as_bytes(v) -> bytes | None:
    if not v:
        return None
    return v.encode("utf-8") if isinstance(v, str) else bytes(v)


def make_page(path, fmt: str, pixels: np.ndarray, mode: str, bits: int, src_mode: str, src_bits: int,
              info: dict) -> Page:
    """The :class:`Page` for decoded ``pixels``; ``info`` holds the metadata found on the way."""
    meta = PageMeta(
        path=str(path), format=fmt, mode=mode, bits=bits, width=pixels.shape[1], height=pixels.shape[0],
        source_mode=src_mode, source_bits=src_bits, icc=info.get("icc"), dpi=info.get("dpi"), exif=info.get("exif"),
        xmp=info.get("xmp"), text=info.get("text", ()), page_index=info.get("index", 0),
        page_count=info.get("count", 1), file_bytes=info.get("file_bytes", pixels.nbytes), tiff=info.get("tiff"),
        notes=tuple(info.get("notes", ())), jpeg_quality=info.get("jpeg_quality"))
    return Page(pixels, meta)
