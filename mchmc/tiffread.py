"""TIFF pages with tifffile: 1 to 16-bit, gray / RGB / palette / CMYK, alpha,
multi-page, strips or tiles, contiguous or planar, classic or BigTIFF.

tifffile reads every header without decoding, so all pages are checked against
``max_pixels`` (and for what we cannot handle) before any pixel is decoded.
Codecs tifffile needs the optional ``imagecodecs`` package for (LZW, JPEG,
CCITT G3/G4 ...) fall back to Pillow's libtiff, which covers 1-bit, 8-bit and
16-bit gray pages; 16-bit colour pages in such codecs need imagecodecs and say so.
The TIFF layout (compression, predictor, photometric, planar configuration,
tiles, extra samples, byte order, BigTIFF, resolution and its unit, descriptive
tags) goes into :class:`TiffInfo`, so the writer can return the same kind of TIFF.
"""
from __future__ import annotations

import numpy as np
import tifffile
from PIL import Image

from .errors import TruncatedPageError, UnsupportedPageError
from .pagemeta import Page, PageMeta, TiffInfo
from .pageread import (DECODE_ERRORS, as_bytes, check_pixels, cmyk_to_rgb, decode_pillow, expand_palette, make_page,
                       pillow_open)

# descriptive tags carried to the output; structural ones are rebuilt by the writer
TIFF_KEEP_TAGS = (269, 270, 271, 272, 274, 285, 297, 305, 306, 315, 316, 700, 33432, 33723, 34377)
EXIF_IFD0_TAGS = (270, 271, 272, 274, 305, 306, 315, 33432)
_PHOTOMETRICS = ("minisblack", "miniswhite", "rgb", "palette", "separated", "ycbcr")


def open_tiff(path) -> tifffile.TiffFile:
    try:
        return tifffile.TiffFile(path)
    except (tifffile.TiffFileError, *DECODE_ERRORS) as err:
        raise TruncatedPageError(path, f"TIFF structure is truncated or corrupt ({err})") from None


def tiff_headers(path, tif: tifffile.TiffFile, max_pixels) -> list:
    """Every page's header, checked before any pixels are decoded."""
    try:
        pages = [tif.pages[i] for i in range(len(tif.pages))]
    except (tifffile.TiffFileError, *DECODE_ERRORS) as err:
        raise TruncatedPageError(path, f"TIFF page directory is truncated or corrupt ({err})") from None
    if not pages:
        raise TruncatedPageError(path, "TIFF file has no pages")
    for i, p in enumerate(pages):
        what = f"page {i + 1} of {len(pages)}: " if len(pages) > 1 else ""
        check_pixels(path, p.imagewidth, p.imagelength, max_pixels, what)
        if p.imagedepth > 1:
            raise UnsupportedPageError(path, f"{what}volumetric TIFF (depth {p.imagedepth}) is not supported")
        if int(p.sampleformat) != 1 or p.bitspersample > 16:
            raise UnsupportedPageError(path, f"{what}{p.bitspersample}-bit {p.sampleformat.name.lower()} samples are "
                                             "not supported (1 to 16-bit unsigned integers are)")
        photo = p.photometric.name.lower()
        if photo not in _PHOTOMETRICS:
            raise UnsupportedPageError(path, f"{what}TIFF photometric {photo!r} is not supported")
        extra = p.samplesperpixel - {"rgb": 3, "separated": 4, "ycbcr": 3}.get(photo, 1)
        if extra not in (0, 1):
            raise UnsupportedPageError(path, f"{what}{p.samplesperpixel} samples per pixel ({photo}) is not supported")
    return pages


def _rational(v) -> float:
    return float(v[0]) / float(v[1]) if isinstance(v, tuple) else float(v)


def tiff_info(tif: tifffile.TiffFile, p) -> TiffInfo:
    tags = []
    for code in TIFF_KEEP_TAGS:
        tag = p.tags.get(code)
        if tag is None or (code == 270 and (p.is_shaped or p.is_imagej or str(tag.value).startswith("{"))):
            continue  # tifffile / ImageJ shape descriptions would be wrong after 2x
        value = tag.value.encode("utf-8", "replace") if isinstance(tag.value, str) else tag.value
        tags.append((code, int(tag.dtype), int(tag.count), value))
    resolution = None
    if 282 in p.tags and 283 in p.tags:
        resolution = (_rational(p.tags[282].value), _rational(p.tags[283].value))
    return TiffInfo(
        compression=int(p.compression), predictor=int(p.predictor), photometric=p.photometric.name.lower(),
        planarconfig=int(p.planarconfig), tile=(p.tilelength, p.tilewidth) if p.is_tiled else None,
        extrasamples=tuple(int(e) for e in p.extrasamples), subfiletype=int(p.subfiletype),
        byteorder=tif.byteorder, bigtiff=tif.is_bigtiff, resolution=resolution,
        resolution_unit=int(p.tags[296].value) if 296 in p.tags else 2, tags=tuple(tags))


def _dpi(info: TiffInfo) -> tuple[float, float] | None:
    if info.resolution is None or info.resolution_unit not in (2, 3) or not all(info.resolution):
        return None
    k = 1.0 if info.resolution_unit == 2 else 2.54
    return info.resolution[0] * k, info.resolution[1] * k


def _exif(path, index: int, p) -> bytes | None:
    """EXIF block (IFD0 descriptive tags + Exif and GPS IFDs), so formats that
    carry EXIF (JPEG, PNG, WebP) get the TIFF's; built by Pillow's header-only parser."""
    if not any(c in p.tags for c in (34665, 34853, *EXIF_IFD0_TAGS)):
        return None
    try:
        with pillow_open(str(path)) as im:
            im.seek(index)
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


def read_tiff_page(path, tif: tifffile.TiffFile, index: int, pages: list) -> Page:
    """Decode page ``index`` (headers already checked by :func:`tiff_headers`)."""
    p = pages[index]
    info = tiff_info(tif, p)
    photo = info.photometric
    icc = bytes(p.tags[34675].value) if 34675 in p.tags else None
    ctx = {"index": index, "count": len(pages), "tiff": info, "dpi": _dpi(info), "exif": _exif(path, index, p),
           "xmp": as_bytes(p.tags[700].value) if 700 in p.tags else None,
           "file_bytes": sum(q.imagewidth * q.imagelength * max(q.samplesperpixel, 3 if int(q.photometric) == 3 else 1)
                             * (2 if q.bitspersample > 8 else 1) for q in pages)}
    try:
        if photo == "ycbcr":
            raise KeyError("YCbCr pages are converted to RGB by libtiff")
        data = p.asarray()
    except KeyError:  # codec missing (no imagecodecs), or YCbCr
        return _via_pillow(path, index, p, ctx, icc)
    except (tifffile.TiffFileError, *DECODE_ERRORS) as err:
        if "imagecodecs" in str(err):
            return _via_pillow(path, index, p, ctx, icc)
        raise TruncatedPageError(path, f"page {index + 1}: truncated or corrupt image data ({err})") from None
    if p.planarconfig == 2 and data.ndim == 3:
        data = np.moveaxis(data, 0, -1)
    data, b, notes = np.ascontiguousarray(data), p.bitspersample, []
    if photo == "palette":
        cmap = np.asarray(p.colormap, np.float64)
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
        peak = np.iinfo(data.dtype).max
        data = np.rint(data.astype(np.float64) * (peak / (2**b - 1))).astype(data.dtype)
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


def _via_pillow(path, index: int, p, ctx: dict, icc: bytes | None) -> Page:
    """libtiff (through Pillow) for codecs tifffile cannot decode without imagecodecs."""
    codec = p.compression.name
    if p.bitspersample > 8 and p.samplesperpixel > 1:
        raise UnsupportedPageError(path, f"page {index + 1}: {p.bitspersample}-bit {p.photometric.name} TIFF with "
                                         f"{codec} compression needs the 'imagecodecs' package")
    try:
        with pillow_open(str(path)) as im:
            im.seek(index)
            page = decode_pillow(path, im, {}, fmt="TIFF")
    except UnsupportedPageError:
        raise
    except Exception as err:
        raise UnsupportedPageError(path, f"page {index + 1}: TIFF with {codec} compression cannot be decoded "
                                         f"({type(err).__name__}: {err}); installing 'imagecodecs' may help") from None
    m = page.meta
    # Pillow converted CMYK / YCbCr itself; the file's profile still applies unless CMYK was converted
    keep_icc = icc if m.source_mode not in ("CMYK",) else m.icc
    meta = PageMeta(**{**m.__dict__, **{k: v for k, v in ctx.items() if k in ("dpi", "exif", "xmp", "tiff")},
                       "page_index": index, "page_count": ctx["count"], "file_bytes": ctx["file_bytes"],
                       "icc": keep_icc, "source_bits": p.bitspersample})
    return Page(page.pixels, meta)
