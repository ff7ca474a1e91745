"""TIFF headers, checked before any pixel is decoded: every page's size, depth,
sample format, photometric and samples against what the reader handles, and
against the limits (:mod:`mchmc.pages.limits`: ``max_pixels``, the memory budget,
the density of pixels per byte of strip data).

tifffile parses any IFD it is given; a fuzzed or damaged file can make its
page attributes tuples (per-sample values that differ), plain numbers it has
no name for, or whatever bytes the tag held. :func:`page_header` turns each
into a validated :class:`Header` or a one-line typed error naming the field.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import tifffile
from PIL import Image

from mchmc.errors import TruncatedPageError, UnsupportedPageError
from mchmc.pages.limits import check_density, check_memory, check_pixels
from mchmc.pages.modes import pillow_open
from mchmc.pages.read import DECODE_ERRORS


def open_tiff(path) -> tifffile.TiffFile:
    try:
        return tifffile.TiffFile(path)
    except (tifffile.TiffFileError, *DECODE_ERRORS) as err:
        raise TruncatedPageError(path, f"TIFF structure is truncated or corrupt ({err})") from None


class TiffPages(list):
    """The checked page headers of one TIFF, plus what reading its pages shares,
    computed once so that reading all N pages is O(N), not O(N^2):
    ``headers`` (each page's validated :class:`Header`), ``decoded_bytes``
    (every page's decoded size, the writer's BigTIFF guess)
    and one Pillow handle of the file, moved forward page by page (a fresh
    Pillow open walks the IFD chain from page 1 each time). Close it (``with``)."""

    def __init__(self, path, pages: list, headers: list["Header"]):
        super().__init__(pages)
        self.path, self.headers, self._im = path, headers, None
        self.decoded_bytes = sum(h.decoded_bytes() for h in headers)

    def pillow(self, index: int) -> Image.Image:
        """The file opened with Pillow (header only) at page ``index``."""
        if self._im is None or index < self._im.tell():
            self.close()
            self._im = pillow_open(str(self.path))
        try:
            self._im.seek(index)
        except BaseException:
            self.close()  # a half-moved handle is never reused
            raise
        return self._im

    def close(self) -> None:
        if self._im is not None:
            im, self._im = self._im, None
            im.close()

    def __enter__(self) -> "TiffPages":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Header(NamedTuple):
    """The fields of a TIFF page header the reader relies on, validated."""

    width: int
    height: int
    samples: int
    bits: int
    photometric: str  # one of _PHOTOMETRIC_CODES' names
    compression: int
    data_bytes: int  # the page's strip / tile bytes as the header states them

    def layout(self) -> tuple[int, int, int]:
        """(channels, bytes per sample, bits) of the page :func:`read_tiff_page` makes:
        palette and CMYK become RGB (8-bit), an extra sample stays as alpha."""
        photo, spp, bits = self.photometric, self.samples, self.bits
        if bits == 1 and spp == 1 and photo in ("minisblack", "miniswhite"):
            return 1, 1, 1
        if photo in ("palette", "separated", "ycbcr"):
            return 3 + (spp > {"palette": 1, "separated": 4, "ycbcr": 3}[photo]), 1, 8
        return spp, (1 if bits <= 8 else 2), (8 if bits <= 8 else 16)

    def decoded_bytes(self) -> int:
        return (self.width * self.height * max(self.samples, 3 if self.photometric == "palette" else 1)
                * (2 if self.bits > 8 else 1))


def _number(path, p, attr: str, label: str, what: str) -> int:
    """``p.attr`` as an int; tifffile keeps per-sample values that differ as a
    tuple and values it has no name for as plain numbers (or whatever the tag held)."""
    v = getattr(p, attr)
    if isinstance(v, tuple):
        if len(set(v)) > 1:
            raise UnsupportedPageError(path, f"{what}samples with different {label} ({', '.join(map(str, v))}) "
                                             "are not supported")
        v = v[0] if v else None
    if v is None:
        raise TruncatedPageError(path, f"{what}TIFF {label} tag is missing or empty; corrupt header")
    try:
        return int(v)
    except (TypeError, ValueError, OverflowError):
        raise TruncatedPageError(path, f"{what}TIFF {label} tag holds {v!r:.40}, not a number; "
                                       "corrupt header") from None


_COMPRESSIONS = frozenset(int(c) for c in tifffile.COMPRESSION)
_PHOTOMETRIC_CODES = {0: "miniswhite", 1: "minisblack", 2: "rgb", 3: "palette", 5: "separated", 6: "ycbcr"}


def page_header(path, p, what: str = "", size: int | None = None) -> Header:
    """Validate one page's header (typed errors naming what is wrong); ``size``
    is the file's, which the page's data must lie within."""
    width, height = _number(path, p, "imagewidth", "ImageWidth", what), _number(path, p, "imagelength", "ImageLength",
                                                                                  what)
    depth = _number(path, p, "imagedepth", "ImageDepth", what)
    if depth > 1:
        raise UnsupportedPageError(path, f"{what}volumetric TIFF (depth {depth}) is not supported")
    bits = _number(path, p, "bitspersample", "BitsPerSample", what)
    fmt = _number(path, p, "sampleformat", "SampleFormat", what)
    if fmt != 1 or not 1 <= bits <= 16:
        kind = tifffile.SAMPLEFORMAT(fmt).name.lower() if fmt in set(tifffile.SAMPLEFORMAT) else f"sample format {fmt}"
        raise UnsupportedPageError(path, f"{what}{bits}-bit {kind} samples are not supported "
                                         "(1 to 16-bit unsigned integers are)")
    code = _number(path, p, "photometric", "PhotometricInterpretation", what)
    photo = _PHOTOMETRIC_CODES.get(code)
    if photo is None:
        name = tifffile.PHOTOMETRIC(code).name.lower() if code in set(tifffile.PHOTOMETRIC) else str(code)
        raise UnsupportedPageError(path, f"{what}TIFF photometric {name!r} is not supported")
    spp = _number(path, p, "samplesperpixel", "SamplesPerPixel", what)
    if spp - {"rgb": 3, "separated": 4, "ycbcr": 3}.get(photo, 1) not in (0, 1):
        raise UnsupportedPageError(path, f"{what}{spp} samples per pixel ({photo}) is not supported")
    tile_w = _number(path, p, "tilewidth", "TileWidth", what)
    tile_l = _number(path, p, "tilelength", "TileLength", what)
    if tile_w > 0 and tile_l > 0:  # tifffile allocates whole tiles: a forged size would exhaust memory
        tile_d = max(1, _number(path, p, "tiledepth", "TileDepth", what))
        if tile_w * tile_l * tile_d > max(4 * width * height, 1 << 20):
            raise TruncatedPageError(path, f"{what}TIFF tiles of {tile_w} x {tile_l} are far larger than the "
                                           f"{width} x {height} page; corrupt header")
    counts, offsets = p.databytecounts, p.dataoffsets
    if len(counts) != len(offsets) or not all(isinstance(n, (int, np.integer)) and n >= 0
                                              for n in (*counts, *offsets)):
        raise TruncatedPageError(path, f"{what}TIFF strip or tile offsets and byte counts are not numbers, or "
                                       "disagree; corrupt header")
    # tifffile reads each strip with one read(count): a forged count would allocate it whole
    end = max((int(o) + int(c) for o, c in zip(offsets, counts) if c), default=0)
    if size is not None and end > size:
        raise TruncatedPageError(path, f"{what}TIFF image data runs to byte {end:,} but the file has "
                                       f"{size:,}: truncated, or a corrupt header")
    compression = _number(path, p, "compression", "Compression", what)
    if compression not in _COMPRESSIONS:
        raise UnsupportedPageError(path, f"{what}TIFF compression {compression} is not a known codec; not supported")
    return Header(width, height, spp, bits, photo, compression, int(sum(int(n) for n in counts)))


def tiff_headers(path, tif: tifffile.TiffFile, max_pixels, max_bytes: int | None = None,
                 density: bool = True) -> TiffPages:
    """Every page's header, checked before any pixels are decoded (limits as
    :class:`~mchmc.pages.read.Limits`)."""
    try:
        pages = [tif.pages[i] for i in range(len(tif.pages))]
    except (tifffile.TiffFileError, *DECODE_ERRORS) as err:
        raise TruncatedPageError(path, f"TIFF page directory is truncated or corrupt ({err})") from None
    if not pages:
        raise TruncatedPageError(path, "TIFF file has no pages")
    size, headers = os.path.getsize(path), []
    for i, p in enumerate(pages):
        what = f"page {i + 1} of {len(pages)}: " if len(pages) > 1 else ""
        h = page_header(path, p, what, size)
        check_pixels(path, h.width, h.height, max_pixels, what)
        if density:
            check_density(path, h.width, h.height, min(size, h.data_bytes), "TIFF", h.compression, what)
        channels, nbytes, bits = h.layout()
        check_memory(path, h.width, h.height, channels, nbytes, max_bytes, what, bits)
        headers.append(h)
    return TiffPages(path, pages, headers)


