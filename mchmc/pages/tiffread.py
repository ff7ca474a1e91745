"""TIFF pages with tifffile: 1 to 16-bit, gray / RGB / palette / CMYK, alpha,
multi-page, strips or tiles, contiguous or planar, classic or BigTIFF.

tifffile reads every header without decoding, so all pages are checked
(:mod:`mchmc.pages.tiffhead`: limits, and what we cannot handle) before any pixel is
decoded; reading all N pages is O(N) (:class:`~mchmc.pages.tiffhead.TiffPages`).
Codecs tifffile needs the optional ``imagecodecs`` package for (LZW, JPEG,
CCITT G3/G4 ...) fall back to Pillow's libtiff, which covers 1-bit, 8-bit and
16-bit gray pages; 16-bit colour pages in such codecs need imagecodecs and say so.
The TIFF layout (compression, predictor, photometric, planar configuration,
tiles, extra samples, byte order, BigTIFF, resolution and its unit, descriptive
tags) goes into :class:`TiffInfo`, so the writer can return the same kind of TIFF.
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
import tifffile
from PIL import Image

from mchmc.errors import TruncatedPageError, UnsupportedPageError
from mchmc.pages.meta import Page, PageMeta, TiffInfo
from mchmc.pages.modes import cmyk_to_rgb, expand_palette
from mchmc.pages.read import (DECODE_ERRORS, codec_says, decode_pillow, make_page,
                       out_of_memory, pillow_open)
from mchmc.pages.tiffhead import Header, TiffPages, open_tiff, page_header, tiff_headers

__all__ = ["TiffPages", "open_tiff", "page_header", "read_tiff_page", "tiff_headers", "tiff_info"]

# descriptive tags carried to the output; structural ones are rebuilt by the writer
TIFF_KEEP_TAGS = (269, 270, 271, 272, 274, 285, 297, 305, 306, 315, 316, 700, 33432, 33723, 34377)
EXIF_IFD0_TAGS = (270, 271, 272, 274, 305, 306, 315, 33432)


def _rational(v) -> float:
    return float(v[0]) / float(v[1]) if isinstance(v, tuple) else float(v)


_TAG_ERRORS = (*DECODE_ERRORS, AttributeError, tifffile.TiffFileError)


def _kept(get, default, notes: list, what: str):
    """``get()``, or ``default`` and a note when the file's tag is unreadable:
    the layout and descriptive tags only shape the output, so a damaged one is
    dropped (the page is not lost for it)."""
    try:
        return get()
    except _TAG_ERRORS:
        notes.append(f"unreadable TIFF {what} ignored")
        return default


def _blob(v) -> bytes | None:
    """A tag value that must be bytes (ICC, XMP): bytes or text, else None
    (``bytes(n)`` of a forged integer would allocate n bytes)."""
    if isinstance(v, str):
        return v.encode("utf-8", "replace")
    return bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else None


def tiff_info(tif: tifffile.TiffFile, p, photometric: str | None = None, notes: list | None = None) -> TiffInfo:
    """The page's layout and descriptive tags (:class:`TiffInfo`); what cannot be
    read is left at its default and listed in ``notes``."""
    notes = [] if notes is None else notes
    tags = []
    for code in TIFF_KEEP_TAGS:
        tag = p.tags.get(code)
        if tag is None or (code == 270 and (p.is_shaped or p.is_imagej or str(tag.value).startswith("{"))):
            continue  # tifffile / ImageJ shape descriptions would be wrong after 2x
        value = tag.value.encode("utf-8", "replace") if isinstance(tag.value, str) else tag.value
        tags.append((code, int(tag.dtype), int(tag.count), value))
    resolution = None
    if 282 in p.tags and 283 in p.tags:
        resolution = _kept(lambda: (_rational(p.tags[282].value), _rational(p.tags[283].value)), None, notes,
                           "resolution")
    return TiffInfo(
        compression=int(p.compression), predictor=_kept(lambda: int(p.predictor), 1, notes, "predictor"),
        photometric=photometric or p.photometric.name.lower(),
        planarconfig=_kept(lambda: int(p.planarconfig), 1, notes, "planar configuration"),
        tile=_kept(lambda: (int(p.tilelength), int(p.tilewidth)) if p.is_tiled else None, None, notes, "tile size"),
        extrasamples=_kept(lambda: tuple(int(e) for e in p.extrasamples), (), notes, "extra samples"),
        subfiletype=_kept(lambda: int(p.subfiletype), 0, notes, "subfile type"),
        byteorder=tif.byteorder, bigtiff=tif.is_bigtiff, resolution=resolution,
        resolution_unit=_kept(lambda: int(p.tags[296].value) if 296 in p.tags else 2, 2, notes, "resolution unit"),
        tags=tuple(tags))


def _dpi(info: TiffInfo) -> tuple[float, float] | None:
    if info.resolution is None or info.resolution_unit not in (2, 3) or not all(info.resolution):
        return None
    k = 1.0 if info.resolution_unit == 2 else 2.54
    return info.resolution[0] * k, info.resolution[1] * k


def _exif(path, index: int, p, pages: list) -> bytes | None:
    """EXIF block (IFD0 descriptive tags + Exif and GPS IFDs), so formats that
    carry EXIF (JPEG, PNG, WebP) get the TIFF's; built by Pillow's header-only parser."""
    if not any(c in p.tags for c in (34665, 34853, *EXIF_IFD0_TAGS)):
        return None
    try:
        with _pillow_at(path, pages, index) as im, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's complaints about odd tags: the TIFF's own are kept anyway
            src, ex = im.getexif(), Image.Exif()
            for code in EXIF_IFD0_TAGS:
                if code in src:
                    ex[code] = src[code]
            for ifd in (0x8769, 0x8825):
                sub = src.get_ifd(ifd)
                if sub:
                    ex.get_ifd(ifd).update(sub)
            return ex.tobytes()
    except Exception:  # a courtesy copy for other formats: the TIFF's own tags are kept regardless
        return None


@contextmanager
def _pillow_at(path, pages: list, index: int):
    """Pillow's view of page ``index``: the shared handle of :class:`TiffPages`
    (kept open), or a fresh one closed after (a plain list of pages)."""
    if isinstance(pages, TiffPages):
        try:
            yield pages.pillow(index)
        except BaseException:
            pages.close()  # a handle whose decode failed is not reused for the next page
            raise
        return
    with pillow_open(str(path)) as im:
        im.seek(index)
        yield im


def read_tiff_page(path, tif: tifffile.TiffFile, index: int, pages: list) -> Page:
    """Decode page ``index`` (headers already checked by :func:`tiff_headers`)."""
    p, notes = pages[index], []
    if isinstance(pages, TiffPages):
        header, total = pages.headers[index], pages.decoded_bytes
    else:
        header, total = page_header(path, p), sum(page_header(path, q).decoded_bytes() for q in pages)
    info = tiff_info(tif, p, header.photometric, notes)
    photo = info.photometric
    icc = _blob(p.tags[34675].value) if 34675 in p.tags else None
    ctx = {"index": index, "count": len(pages), "tiff": info, "dpi": _dpi(info), "exif": _exif(path, index, p, pages),
           "xmp": _blob(p.tags[700].value) if 700 in p.tags else None, "file_bytes": total, "notes": notes}
    try:
        if photo == "ycbcr":
            raise KeyError("YCbCr pages are converted to RGB by libtiff")
        data = p.asarray()
    except KeyError:  # a codec tifffile has no decoder for, or YCbCr: Pillow's libtiff decodes it
        return _via_pillow(path, index, p, ctx, icc, pages, header)
    except MemoryError:
        raise out_of_memory(path, p.imagewidth, p.imagelength) from None
    except (tifffile.TiffFileError, *DECODE_ERRORS) as err:
        if "imagecodecs" in str(err):
            return _via_pillow(path, index, p, ctx, icc, pages, header)
        raise TruncatedPageError(path, f"page {index + 1}: truncated or corrupt image data ({err})") from None
    data, b = np.ascontiguousarray(_as_layout(path, index, p, data, header)), header.bits
    if photo == "palette":
        cmap = np.asarray(p.colormap if p.colormap is not None else (), np.float64)
        if cmap.ndim != 2 or cmap.shape[0] != 3 or cmap.shape[1] < 1:
            raise TruncatedPageError(path, f"page {index + 1}: palette page without a valid ColorMap tag")
        if cmap.shape[1] > 256:
            raise UnsupportedPageError(path, f"page {index + 1}: {b}-bit palette is not supported")
        lut = np.rint(cmap / 257.0 if cmap.max() > 255 else cmap).astype(np.uint8).T
        im = Image.fromarray(data.astype(np.uint8))
        im.putpalette(lut.tobytes())
        pixels, mode = expand_palette(im)
        return make_page(path, "TIFF", pixels, mode, 8, "P", b, {**ctx, "icc": icc})
    if data.dtype == np.bool_:
        return make_page(path, "TIFF", ~data if photo == "miniswhite" else data, "1", 1, "1", 1, {**ctx, "icc": icc})
    if b not in (8, 16):  # 2/4/12-bit samples: scale to the full range of their container
        data = _rescale(data, b)
        notes.append(f"{b}-bit samples scaled to {8 * data.itemsize} bits")
    bits, peak = 8 * data.itemsize, np.iinfo(data.dtype).max
    if photo == "miniswhite":
        if data.ndim == 2:
            data = peak - data
        else:
            data[..., 0] = peak - data[..., 0]
    if photo == "separated":
        cmyk8 = data if bits == 8 else (data >> 8).astype(np.uint8)
        rgb, icc, note = cmyk_to_rgb(Image.fromarray(np.ascontiguousarray(cmyk8[..., :4]), "CMYK"), icc)
        notes.append(note + ("" if bits == 8 else "; 16-bit CMYK reduced to 8 bits first"))
        pixels, mode = np.asarray(rgb), "RGB"
        if data.shape[-1] == 5:
            pixels, mode = np.dstack([pixels, cmyk8[..., 4]]), "RGBA"
        return make_page(path, "TIFF", pixels, mode, 8, "CMYK", b, {**ctx, "icc": icc, "notes": notes})
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[1 if data.ndim == 2 else data.shape[-1]]
    return make_page(path, "TIFF", data, mode, bits, mode + (";16" if bits == 16 else ""), b,
                 {**ctx, "icc": icc, "notes": notes})


def _as_layout(path, index: int, p, data: np.ndarray, header: Header) -> np.ndarray:
    """tifffile's array as (H, W) or (H, W, samples); any other shape means the
    header's fields contradict each other (a damaged file), said in one line."""
    want = (header.height, header.width) + ((header.samples,) if header.samples > 1 else ())
    planar = isinstance(p.planarconfig, (int, np.integer)) and int(p.planarconfig) == 2
    if planar and data.ndim == 3 and data.shape == (header.samples,) + want[:2]:
        data = np.moveaxis(data, 0, -1)  # (samples, H, W)
    elif data.ndim == 3 and data.shape[-1] == 1 and header.samples == 1:
        data = data[..., 0]
    if data.shape != want:
        raise TruncatedPageError(path, f"page {index + 1}: decoded pixels of shape {data.shape} do not match the "
                                       f"header's {header.width} x {header.height} with {header.samples} samples; "
                                       "corrupt header")
    return data


def _rescale(data: np.ndarray, b: int) -> np.ndarray:
    """``b``-bit samples (b < 16) scaled to their container's full range, rounded:
    ``round(x * peak / (2**b - 1))`` in uint32 (4 bytes a sample, not float64's
    8). Never a tie (2**b - 1 is odd), so it equals ``np.rint`` of the real quotient."""
    peak, top = int(np.iinfo(data.dtype).max), 2**b - 1
    wide = data.astype(np.uint32)
    np.minimum(wide, top, out=wide)  # a corrupt file's stray high bits
    wide *= 2 * peak
    wide += top
    wide //= 2 * top
    return wide.astype(data.dtype)


def _via_pillow(path, index: int, p, ctx: dict, icc: bytes | None, pages: list, header: Header) -> Page:
    """libtiff (through Pillow) for codecs tifffile cannot decode without imagecodecs."""
    codec = tifffile.COMPRESSION(header.compression).name  # a known code: checked with the header
    if header.bits > 8 and header.samples > 1:
        raise UnsupportedPageError(path, f"page {index + 1}: {header.bits}-bit {header.photometric} TIFF with "
                                         f"{codec} compression needs the 'imagecodecs' package")
    try:
        with _pillow_at(path, pages, index) as im:
            page = decode_pillow(path, im, {}, fmt="TIFF")
    except UnsupportedPageError:
        raise
    except MemoryError:
        raise out_of_memory(path, p.imagewidth, p.imagelength) from None
    except Exception as err:
        raise UnsupportedPageError(path, f"page {index + 1}: TIFF with {codec} compression cannot be decoded"
                                         f"{codec_says(err)}") from None
    m = page.meta
    # Pillow converted CMYK / YCbCr itself; the file's profile still applies unless CMYK was converted
    keep_icc = icc if m.source_mode not in ("CMYK",) else m.icc
    meta = PageMeta(**{**m.__dict__, **{k: v for k, v in ctx.items() if k in ("dpi", "exif", "xmp", "tiff")},
                       "page_index": index, "page_count": ctx["count"], "file_bytes": ctx["file_bytes"],
                       "notes": tuple(ctx["notes"]) + m.notes,
                       "icc": keep_icc, "source_bits": p.bitspersample})
    return Page(page.pixels, meta)
