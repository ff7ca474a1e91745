"""Write upscaled pages: same format as the input unless told otherwise, nothing
a user cares about lost, and never a file that looks finished but is not.

- Format: ``format`` if given, else the destination's extension, else the
  source's format (PNG for one we cannot write).
- Metadata: DPI (already doubled by the upscaler, so the printed size is
  unchanged), ICC profile bytes unchanged, EXIF (resolution and pixel size
  patched, the rest byte-identical), XMP, PNG text chunks, TIFF descriptive
  tags and layout (compression where we can encode it losslessly, predictor,
  photometric, planar configuration, tiles, extra samples, byte order); in
  TIFF output the EXIF's IFD0 tags become TIFF tags and its Exif / GPS
  sub-IFDs are appended (:mod:`mchmc.pages.tiffexif`; classic TIFF only).
- Multi-page TIFF is written page by page (an iterator of pages is never held
  whole); BigTIFF when the input was BigTIFF or the raw output would pass
  :data:`BIGTIFF_THRESHOLD`.
- Atomic: the file is written under a temporary name in the destination folder
  (:func:`mchmc.fsutil.atomic_write`, whose leftovers an interrupted run's
  next scan removes), flushed to disk (fsync) and renamed with ``os.replace``;
  on any failure the temporary file is removed and nothing appears.

What a target format cannot hold is converted and listed in ``notes``: JPEG, WebP and BMP hold 8 bits (16-bit pages are rounded to 8), JPEG has
no alpha (composited over white), WebP has no gray (stored as RGB by the codec),
BMP has no ICC profile or EXIF.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from mchmc.fsutil import atomic_write
from mchmc.errors import MchmcError, PageWriteError
from mchmc.pages.meta import WRITE_FORMATS, UpscaledPage, format_of_name, normalise_format
from mchmc.pages.png import DEFAULT_PNG_LEVEL, write_png
from mchmc.pages.tiffexif import append_sub_ifds, stand_in_tags, sub_ifds

# Classic TIFF offsets are 32-bit: switch to BigTIFF a margin below 4 GiB (tags, strip tables).
BIGTIFF_THRESHOLD = 2**32 - 2**26
_LOSSLESS_TIFF = (1, 5, 8, 32773, 32946, 34925, 50000)  # none, LZW, deflate, packbits, deflate, LZMA, ZSTD
_MAX_SIDE = {"JPEG": 65535, "WEBP": 16383, "PNG": 2**31 - 1, "TIFF": 2**32 - 1, "BMP": 2**31 - 1}


def resolve_format(dest: str | os.PathLike, format: str | None, source_format: str) -> str:
    """Explicit format > destination extension > source format > PNG."""
    fmt = normalise_format(format) or format_of_name(dest) or ("JPEG" if source_format == "MPO" else source_format)
    return fmt if fmt in WRITE_FORMATS else "PNG"


def write_page(page: UpscaledPage, dest: str | os.PathLike, format: str | None = None, **options) -> Path:
    """One page to ``dest``; see :func:`write_pages` for the options."""
    return write_pages([page], dest, format, **options)


def write_pages(pages: Iterable[UpscaledPage], dest: str | os.PathLike, format: str | None = None, *,
                quality: int | None = None, png_level: int = DEFAULT_PNG_LEVEL, webp_lossless: bool = False,
                bigtiff: bool | None = None, tiff_compression: int | str | None = None,
                notes: list[str] | None = None, commit: bool = True, root: str | os.PathLike | None = None) -> Path:
    """Write ``pages`` (several only for TIFF) to ``dest`` atomically; returns ``dest``.
    ``commit=False`` leaves the finished file under its temporary name beside
    ``dest`` and returns that name (the batch driver renames it once recorded).

    ``quality`` is JPEG/WebP quality (None: a JPEG source's estimated quality,
    else :data:`DEFAULT_QUALITY`: re-saving a q75 scan at q95 only makes it larger); ``png_level`` the zlib level of PNG output
    (1: see :mod:`mchmc.pages.png`); ``bigtiff`` None decides by size;
    ``tiff_compression`` overrides the kept TIFF compression (e.g. "zlib", 1).
    Conversions the target format forced are appended to ``notes`` if given.
    ``root`` (a batch run's DST): no folder below it that is a link is written through.
    """
    dest = Path(dest)
    it = iter(pages)
    try:
        first = next(it)
    except StopIteration:
        raise PageWriteError(dest, "no pages to write") from None
    fmt = resolve_format(dest, format, first.source.format)
    notes = notes if notes is not None else []
    try:
        with atomic_write(dest, commit=commit, root=root) as tmp, open(tmp, "w+b") as f:  # w+: the TIFF EXIF pass reads back
            if fmt == "TIFF":
                _write_tiff(f, first, it, pages, bigtiff, tiff_compression, notes)
            else:
                if next(it, None) is not None:
                    raise PageWriteError(dest, f"the input has several pages but {fmt} holds one; "
                                               "write multi-page files as TIFF (--format tiff)")
                _write_single(f, first, fmt, quality, png_level, webp_lossless, notes)
            f.flush()
            os.fsync(f.fileno())  # the data is on disk before the rename makes it look finished
    except MchmcError:
        raise
    except OSError as err:
        raise PageWriteError(dest, f"cannot write: {err.strerror or err}") from err
    except Exception as err:
        raise PageWriteError(dest, f"writing {fmt} failed ({type(err).__name__}: {err})") from err
    return dest if commit else tmp


DEFAULT_QUALITY = 95  # JPEG / WebP output of a source that was not a JPEG


def _over_white(px: np.ndarray, rows: int = 256) -> np.ndarray:
    """8-bit colour + alpha composited over white, in row strips: float copies of a
    strip only, never of the whole 2x page (mchmc.pages.limits budgets two copies)."""
    out = np.empty(px.shape[:2] + (px.shape[2] - 1,), np.uint8)
    for r in range(0, px.shape[0], rows):
        strip = px[r : r + rows]
        a = strip[..., -1:].astype(np.float32) / 255.0
        out[r : r + rows] = np.rint(strip[..., :-1] * a + 255.0 * (1.0 - a))
    return out


def _to8(pixels: np.ndarray, notes: list[str], fmt: str) -> np.ndarray:
    if pixels.dtype == np.uint16:
        notes.append(f"{fmt} holds 8 bits per sample: 16-bit page rounded to 8 bits")
        return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    return pixels


def _check_size(page: UpscaledPage, fmt: str) -> None:
    side = _MAX_SIDE[fmt]
    if page.meta.width > side or page.meta.height > side:
        raise PageWriteError(page.meta.path, f"{fmt} cannot hold {page.meta.width}x{page.meta.height} pixels "
                                             f"(at most {side} a side); choose PNG or TIFF")


def _write_single(f, page: UpscaledPage, fmt: str, quality: int, png_level: int, webp_lossless: bool,
                  notes: list[str]) -> None:
    m, px = page.meta, page.pixels
    _check_size(page, fmt)
    if fmt == "PNG":
        text = m.text  # a PNG source's text chunks already hold its XMP
        if m.format != "PNG" and m.xmp:
            text += (("XML:com.adobe.xmp", m.xmp.decode("utf-8", "replace")),)
        write_png(f, px, bits=m.bits, icc=m.icc, dpi=m.dpi, exif=m.exif, text=text, level=png_level)
        return
    px = _to8(px, notes, fmt)
    if fmt == "JPEG" and px.ndim == 3 and px.shape[2] in (2, 4):
        notes.append("JPEG has no alpha: page composited over white")
        px = _over_white(px)
    if fmt == "BMP" and px.ndim == 3 and px.shape[2] == 2:
        px = np.dstack([px[..., 0]] * 3 + [px[..., 1]])
    im = Image.fromarray(px[..., 0] if px.ndim == 3 and px.shape[2] == 1 else px)
    if fmt == "JPEG" and im.mode == "1":
        im = im.convert("L")
    kw: dict = {}
    if m.dpi:
        kw["dpi"] = m.dpi
    if fmt in ("JPEG", "WEBP"):
        kw.update(quality=quality or m.jpeg_quality or DEFAULT_QUALITY, icc_profile=m.icc, exif=m.exif or b"",
                  xmp=m.xmp or b"")
        kw = {k: v for k, v in kw.items() if v is not None}
        if fmt == "WEBP":
            kw["lossless"] = webp_lossless
            if m.gray:
                notes.append("WebP has no gray mode: stored as RGB")
    elif m.icc or m.exif:
        notes.append("BMP holds no ICC profile or EXIF: dropped")
    im.save(f, fmt, **kw)


def _tiff_compression(page: UpscaledPage, override, notes: list[str]) -> int:
    if override is not None:
        return int(tifffile.COMPRESSION[str(override).upper()] if isinstance(override, str) and
                   not str(override).isdigit() else override)
    t = page.source.tiff
    want = t.compression if t is not None else 8
    if want in _LOSSLESS_TIFF and want in tifffile.TIFF.COMPRESSORS:
        return want
    name = tifffile.COMPRESSION(want).name if want in tifffile.COMPRESSION._value2member_map_ else str(want)
    notes.append(f"TIFF {name} compression not re-encoded (lossy or needs imagecodecs): written with deflate")
    return 8


def _tiff_kwargs(page: UpscaledPage, override, notes: list[str]) -> tuple[np.ndarray, dict]:
    m, t, px = page.meta, page.meta.tiff, page.pixels  # meta.tiff: the source layout, resolution scaled
    photometric = "rgb" if m.mode in ("RGB", "RGBA") else "minisblack"
    if t is not None and t.photometric == "miniswhite" and m.gray:
        photometric = "miniswhite"
        px = px.copy()
        gray = px if px.ndim == 2 else px[..., 0]
        gray[...] = ~gray if px.dtype == np.bool_ else np.iinfo(px.dtype).max - gray
    if t is not None and t.photometric in ("palette", "separated", "ycbcr"):
        notes.append(f"TIFF {t.photometric} page written as {photometric}")
    comp = _tiff_compression(page, override, notes)
    kw = dict(photometric=photometric, compression=comp, metadata=None, software=False, iccprofile=m.icc,
              subfiletype=t.subfiletype if t is not None else 0)
    if m.alpha:
        kw["extrasamples"] = t.extrasamples if t is not None and t.extrasamples else (2,)
    if comp in (5, 8, 32946, 34925) and px.dtype != np.bool_ and (t is None or t.predictor == 2):
        kw["predictor"] = 2
    if t is not None and t.resolution is not None:
        kw.update(resolution=t.resolution, resolutionunit=t.resolution_unit)
    elif m.dpi:
        kw.update(resolution=m.dpi, resolutionunit=2)
    if t is not None and t.tile and t.tile[0] % 16 == 0 and t.tile[1] % 16 == 0:
        kw["tile"] = t.tile
    if t is not None and t.planarconfig == 2 and px.ndim == 3:
        px, kw["planarconfig"] = np.ascontiguousarray(np.moveaxis(px, -1, 0)), "separate"
    tags = list(t.tags) if t is not None else _exif_tags(m.exif)
    kw["extratags"] = [_extratag(*tag) for tag in tags]
    return px, kw


def _extratag(code: int, dtype: int, count: int, value) -> tuple:
    """A kept tag as tifffile's extratag; packed bytes of a numeric type give their item count."""
    if isinstance(value, bytes) and dtype not in (1, 2, 7):
        count = len(value) // {3: 2, 4: 4, 5: 8, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 16: 8}.get(dtype, 1)
    elif isinstance(value, (str, bytes)):
        count = 0  # tifffile counts strings and byte blobs itself
    return code, dtype, count, value, False


def _exif_tags(exif: bytes | None) -> list[tuple[int, int, int, object]]:
    """IFD0 descriptive EXIF tags (Make, Model, Orientation, Artist, Copyright,
    DateTime, Software, ImageDescription) of a non-TIFF source as TIFF tags."""
    if not exif:
        return []
    ex = Image.Exif()
    try:
        ex.load(exif[6:] if exif.startswith(b"Exif\0\0") else exif)
    except Exception:  # unreadable EXIF: the TIFF goes without it
        return []
    tags = []
    for code in (270, 271, 272, 274, 305, 306, 315, 33432):
        v = ex.get(code)
        if isinstance(v, str) and v:
            tags.append((code, 2, 0, v.encode("utf-8", "replace")))
        elif isinstance(v, int) and 0 <= v < 65536:
            tags.append((code, 3, 1, v))
    return tags


def _estimate(first: UpscaledPage, pages) -> int:
    """Raw bytes of the output, from the pages when they are a list, else from
    the source file's decoded size (every page scaled like the first)."""
    if isinstance(pages, (list, tuple)):
        return sum(p.pixels.nbytes for p in pages)
    scale = first.pixels.nbytes / max(1, first.source.width * first.source.height * first.source.channels *
                                       (2 if first.source.bits > 8 else 1))
    return max(first.pixels.nbytes * first.source.page_count, int(first.source.file_bytes * scale))


def _write_tiff(f, first: UpscaledPage, rest, pages, bigtiff: bool | None, override, notes: list[str]) -> None:
    src_tiff = first.source.tiff
    if bigtiff is None:
        bigtiff = bool(src_tiff and src_tiff.bigtiff) or _estimate(first, pages) > BIGTIFF_THRESHOLD
    byteorder = src_tiff.byteorder if src_tiff is not None and src_tiff.byteorder in "<>" else "<"
    per_page = []  # Exif / GPS sub-IFDs, appended once tifffile is done (mchmc.pages.tiffexif)
    with tifffile.TiffWriter(f, bigtiff=bigtiff, byteorder=byteorder) as tw:
        for page in itertools.chain([first], rest):
            px, kw = _tiff_kwargs(page, override, notes)
            subs = sub_ifds(page.meta.exif)
            if subs and bigtiff:
                notes.append("BigTIFF output: EXIF/GPS sub-IFDs not written (IFD0 tags kept)")
                subs = {}
            kw["extratags"] += stand_in_tags(subs)
            per_page.append(subs)
            tw.write(px, **kw)
    if any(per_page):
        append_sub_ifds(f, byteorder, per_page)
