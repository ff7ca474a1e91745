"""What a page is: pixels plus everything about the file a user would miss if
it were lost (bit depth, alpha, ICC profile, DPI, EXIF, TIFF layout, page
index). The reader fills it, the upscaler derives the output's record from it,
the writer honours it. Style after nagadomi/nunif (waifu2x): the loader returns
pixels + a metadata record and the saver takes both back.

Pixels are always one of five layouts (``PageMeta.mode``), so the upscaler
deals with five cases, not Pillow's twenty modes:

    "1"     bool (H, W)                 bilevel, True = white
    "L"     uint8/uint16 (H, W)         gray
    "LA"    uint8/uint16 (H, W, 2)      gray + alpha
    "RGB"   uint8/uint16 (H, W, 3)
    "RGBA"  uint8/uint16 (H, W, 4)      unassociated (straight) alpha unless the
                                        TIFF said otherwise (``TiffInfo.extrasamples``)

What the file really held is in ``source_mode`` / ``source_bits`` ("P",
"CMYK", "I;16", "RGB;16", ...); conversions made on the way in are listed in
``notes`` so the batch report can say why an output differs from its source.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mchmc.modelconfig import top_category

# 500 MP: a 25000 x 20000 scan still passes; a header claiming more is refused
# before any decoding (its 2x output alone would need > 6 GB as 8-bit RGBA).
DEFAULT_MAX_PIXELS = 500_000_000

# Formats mchmc reads and writes, by Pillow's names ("MPO" is how Pillow names
# camera JPEGs with an embedded preview; they are JPEG pages).
READ_FORMATS = ("PNG", "JPEG", "MPO", "TIFF", "WEBP", "BMP")
WRITE_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "BMP")

# file extension -> format, and the extension written for each format
EXTENSIONS = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG",
    ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP", ".bmp": "BMP", ".dib": "BMP",
}
DEFAULT_EXTENSION = {"PNG": ".png", "JPEG": ".jpg", "TIFF": ".tif", "WEBP": ".webp", "BMP": ".bmp"}

MODES = ("1", "L", "LA", "RGB", "RGBA")
_CHANNELS = {"1": 1, "L": 1, "LA": 2, "RGB": 3, "RGBA": 4}


@dataclass(frozen=True)
class TiffInfo:
    """The TIFF layout of one page, kept so a TIFF comes back as the same kind of TIFF.

    ``tags`` are descriptive IFD tags (Make, Artist, Copyright, XMP, IPTC,
    Photoshop, Orientation, PageNumber ...) as tifffile extratags
    ``(code, datatype, count, value)``; structural tags are rebuilt by the writer.
    """

    compression: int = 1
    predictor: int = 1
    photometric: str = "minisblack"  # minisblack | miniswhite | rgb | palette | separated | ycbcr
    planarconfig: int = 1  # 1 contiguous, 2 separate planes
    tile: tuple[int, int] | None = None
    extrasamples: tuple[int, ...] = ()
    subfiletype: int = 0
    byteorder: str = "<"
    bigtiff: bool = False
    resolution: tuple[float, float] | None = None  # as stored, in ``resolution_unit``
    resolution_unit: int = 2  # 1 none, 2 inch, 3 centimetre
    tags: tuple[tuple[int, int, int, object], ...] = ()


@dataclass(frozen=True)
class PageMeta:
    """Everything about a page except its pixels."""

    path: str
    format: str  # Pillow's format name: PNG, JPEG, TIFF, WEBP, BMP
    mode: str  # layout of the pixels, one of MODES
    bits: int  # bits per sample of the pixels: 1, 8 or 16
    width: int
    height: int
    source_mode: str = ""  # what the file held: "P", "PA", "CMYK", "I;16", "RGB;16", "YCbCr", ...
    source_bits: int = 0
    icc: bytes | None = None  # ICC profile, byte for byte
    dpi: tuple[float, float] | None = None  # pixels per inch (x, y)
    exif: bytes | None = None  # b"Exif\0\0" + TIFF-structured EXIF block, as in JPEG APP1
    xmp: bytes | None = None
    text: tuple[tuple[str, str], ...] = ()  # PNG text chunks (tEXt, zTXt, iTXt)
    page_index: int = 0
    page_count: int = 1
    file_bytes: int = 0  # decoded size of all pages of the source file (BigTIFF estimate)
    tiff: TiffInfo | None = None
    notes: tuple[str, ...] = ()
    jpeg_quality: int | None = None  # a JPEG source's estimated quality (mchmc.pages.jpegquality)

    @property
    def channels(self) -> int:
        return _CHANNELS[self.mode]

    @property
    def alpha(self) -> bool:
        return self.mode in ("LA", "RGBA")

    @property
    def gray(self) -> bool:
        return self.mode in ("1", "L", "LA")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), Pillow's order."""
        return self.width, self.height


@dataclass(frozen=True, eq=False)
class Page:
    """One decoded page: ``pixels`` in the layout ``meta.mode`` / ``meta.bits`` says."""

    pixels: np.ndarray
    meta: PageMeta


@dataclass(frozen=True, eq=False)
class UpscaledPage:
    """A page's 2x version. ``meta`` describes the output (size, DPI doubled, mode);
    ``source`` is the input's record; ``probs`` maps category -> probability
    (None when the model has no classifier)."""

    pixels: np.ndarray
    meta: PageMeta
    source: PageMeta
    probs: dict[str, float] | None = None
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def category(self) -> str | None:
        """The most probable category, what the batch report shows per page."""
        return top_category(self.probs) if self.probs else None


def format_of_name(name: str | os.PathLike) -> str | None:
    """The format a file name's extension stands for (None when unknown)."""
    return EXTENSIONS.get(Path(name).suffix.lower())


def normalise_format(fmt: str | None) -> str | None:
    """'png' / 'jpg' / 'tif' / 'JPEG' ... -> Pillow's name; None stays None."""
    if fmt is None:
        return None
    key = fmt.strip().lower().lstrip(".")
    found = EXTENSIONS.get("." + key) or {"jpeg": "JPEG", "tiff": "TIFF", "mpo": "JPEG"}.get(key)
    if found is None:
        raise ValueError(f"unknown output format {fmt!r} (choose from png, tiff, jpeg, webp, bmp)")
    return found


def output_name(src: str | os.PathLike, format: str | None = None, page: int | None = None) -> str:
    """The output file's name for ``src``: the same name when the format is kept
    (``format`` None, or the one ``src``'s extension already stands for, so
    ``scan.jpeg`` stays ``scan.jpeg``), else the stem plus the format's extension
    (``scan.tif`` with ``format="png"`` -> ``scan.png``). ``page`` (0-based) names
    one page of a multi-page file written to a single-page format: ``scan_p0003.png``."""
    src = Path(src)
    fmt = normalise_format(format)
    stem = src.stem if page is None else f"{src.stem}_p{page + 1:04d}"
    if fmt is None or format_of_name(src) == fmt:
        return stem + src.suffix
    return stem + DEFAULT_EXTENSION[fmt]


def _fit_rational(num: int, den: int, scale: int) -> tuple[int, int]:
    """``num/den * scale`` as an unsigned 32-bit rational (exact when it fits)."""
    if den % scale == 0:
        return num, den // scale
    if num * scale < 2**32:
        return num * scale, den
    return min(round(num * scale / den * 1000), 2**32 - 1), 1000


def scale_exif(exif: bytes | None, scale: int, width: int, height: int) -> bytes | None:
    """EXIF for the upscaled page: IFD0 XResolution/YResolution times ``scale``
    (the printed size stays the same, as with the DPI) and the Exif IFD's
    PixelXDimension/PixelYDimension set to the new size. Patched in place at the
    same length, so every other byte (maker notes, GPS, thumbnail) is kept as is;
    a block we cannot parse is returned unchanged."""
    if not exif:
        return exif
    pre = 6 if exif.startswith(b"Exif\0\0") else 0
    buf = bytearray(exif)
    bo = {b"II": "<", b"MM": ">"}.get(bytes(buf[pre:pre + 2]))
    if bo is None:
        return exif

    def u(fmt: str, off: int):
        return struct.unpack_from(bo + fmt, buf, pre + off)

    def entries(ifd: int):
        (n,) = u("H", ifd)
        for k in range(n):
            e = ifd + 2 + 12 * k
            tag, typ, cnt = u("HHI", e)
            yield tag, typ, cnt, e

    try:
        exif_ifd = None
        for tag, typ, cnt, e in entries(u("I", 4)[0]):
            if tag in (282, 283) and typ == 5 and cnt == 1:
                (off,) = u("I", e + 8)
                num, den = u("II", off)
                if den:
                    struct.pack_into(bo + "II", buf, pre + off, *_fit_rational(num, den, scale))
            elif tag == 0x8769:
                (exif_ifd,) = u("I", e + 8)
        if exif_ifd:
            for tag, typ, cnt, e in entries(exif_ifd):
                if tag in (0xA002, 0xA003) and typ in (3, 4) and cnt == 1:
                    # SHORT -> LONG when the new size needs it; the 4-byte value field holds either
                    struct.pack_into(bo + "HHII", buf, pre + e, tag, 4, 1, width if tag == 0xA002 else height)
    except (struct.error, IndexError):
        return exif
    return bytes(buf)
