"""Upscale one page: luminance through the SR network, everything else bicubic.

The network sees only Y (paper: luminance-only MCH-MC). Colour pages are split
into BT.601 Y, Cb, Cr (:mod:`mchmc.colour`); Y goes through the
:class:`~mchmc.engine.Engine`, Cb, Cr and alpha are upscaled with the
MATLAB-compatible bicubic (:mod:`mchmc.resize`) and merged back; on a page upscaled at a
JPEG noise level the chroma network (:mod:`mchmc.chroma`) adds its correction to Cb, Cr
(it reads the strip's Y, Cb, Cr with its own halo, so strips and bands stay exact). Gray pages stay
gray (their Y is the gray level), 16-bit pages are processed in float from
their 16-bit values and come back at 16 bits, 1-bit pages become 8-bit gray (a
2x bilevel page from a smooth upscale is a gray page; ``binarize=True``
thresholds it at 0.5 and keeps it 1-bit). The output is exactly sW x sH.

Memory: the page is processed in horizontal strips of about
:data:`STRIP_PIXELS` LR pixels. Each strip reads its rows plus the network's
halo (5 rows, which also covers the bicubic's +-2 taps) from the page, runs the
engine on that slice and the bicubic with the whole page's tap table (so the
mirroring happens only at the real page border), and writes integer pixels
into the preallocated output. No float copy of the whole page or of the whole
output exists; the result equals the whole-page computation (same windows, same
taps; GAP pooling too, because a slice's edge lies at least the halo away from
its strip, and the F2 positions the engine pools are the strip's own).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from mchmc import colour
from mchmc.chroma import ChromaEngine
from mchmc.engine import Engine, GapStats, Region, split
from mchmc.pages.category import band_category_stats, empty_stats, view_size
from mchmc.pages.meta import Page, PageMeta, UpscaledPage, scale_exif
from mchmc.resize import contributions, resize_axis

STRIP_PIXELS = 1 << 20  # LR pixels per strip: ~1 M keeps the float temporaries near 300 MB on any page


def _ycbcr_inverse() -> tuple[np.ndarray, np.ndarray]:
    """(base, M) with rgb = base + M @ (y, cb, cr), taken from :func:`colour.ycbcr_to_rgb`
    itself (one source of truth), so a merge can run channel by channel in place."""
    base = colour.ycbcr_to_rgb(np.zeros(3), np.float64)
    m = (colour.ycbcr_to_rgb(np.eye(3), np.float64) - base).T  # column i = response to unit plane i
    return base.astype(np.float32), m.astype(np.float32)


_BASE, _MINV = _ycbcr_inverse()


def _quantise_into(dst: np.ndarray, src01: np.ndarray) -> None:
    """[0, 1] floats -> ``dst``'s integer type (rounded, clipped), in place on ``src01``."""
    if dst.dtype == np.bool_:
        np.greater_equal(src01, 0.5, out=dst)
        return
    peak = np.float32(np.iinfo(dst.dtype).max)
    src01 *= peak
    np.rint(src01, out=src01)
    np.clip(src01, 0, peak, out=src01)
    dst[...] = src01


class _RowResizer:
    """MATLAB bicubic ``scale``x of row strips: the tap table is the whole page's, so a
    strip's output rows are exactly those of the whole-page :func:`imresize`."""

    def __init__(self, h: int, w: int, scale: int):
        self.w_rows, self.i_rows = contributions(h, scale * h, float(scale))
        self.w_rows = self.w_rows.astype(np.float32)
        self.scale, self.out_w = scale, scale * w

    def rows_needed(self, r0: int, r1: int) -> tuple[int, int]:
        idx = self.i_rows[self.scale * r0 : self.scale * r1]
        return int(idx.min()), int(idx.max()) + 1

    def __call__(self, plane: np.ndarray, a: int, r0: int, r1: int) -> np.ndarray:
        """``plane`` holds page rows [a, ...); returns output rows [s*r0, s*r1) at full output width."""
        o0, o1 = self.scale * r0, self.scale * r1
        rows = np.zeros((o1 - o0, plane.shape[1]), np.float32)
        for t in range(self.w_rows.shape[1]):
            rows += plane[self.i_rows[o0:o1, t] - a] * self.w_rows[o0:o1, t, None]
        return resize_axis(rows, 1, self.out_w, float(self.scale), dtype=np.float32)


def output_layout(meta: PageMeta, binarize: bool = False) -> tuple[str, int]:
    """(mode, bits) of the upscaled page: the input's, except 1-bit -> 8-bit gray."""
    if meta.mode == "1":
        return ("1", 1) if binarize else ("L", 8)
    return meta.mode, meta.bits


def upscale_page(page: Page, engine: Engine, *, then: Engine | None = None, binarize: bool = False,
                 classify: bool = True, strip_pixels: int = STRIP_PIXELS, chroma: ChromaEngine | None = None,
                 head_stats: GapStats | None = None) -> UpscaledPage:
    """``page`` -> its sW x sH version (s = the model's scale, 2 for MCH-MC).

    ``engine`` runs the model (tiles, device, precision are its business; pass
    one built from ``mchmc.modelfile.load_model()`` or any MCH model).
    ``then``: a second pass (``--scale 4``: two exact 2x passes), run on the
    first pass's integer output exactly as if that had been written and read
    back; the category comes from the first pass. ``classify`` also pools the
    GAP statistics of Y and returns the category probabilities (models with a
    classifier only). ``strip_pixels`` bounds the LR pixels processed at once
    (memory), not the result. ``chroma``: the chroma network at the page's JPEG level
    (:mod:`mchmc.chroma`), whose correction is added to a colour page's bicubic Cb, Cr (first pass only);
    None keeps the bicubic chroma. ``head_stats``: the page's GAP statistics as the head reads it
    (:func:`mchmc.pages.category.page_category_stats`), when the caller has them already (it routed the
    page on them, :mod:`mchmc.routing`): they are not computed again.
    """
    t0 = time.perf_counter()
    band = upscale_band(page, engine, 0, page.pixels.shape[0], then=then, binarize=binarize, classify=classify,
                        strip_pixels=strip_pixels, chroma=chroma, head_stats=head_stats)
    return finish_page(page.meta, [band], engine, binarize=binarize, seconds=time.perf_counter() - t0)


@dataclass
class Band:
    """Output rows ``[s*r0, s*r1)`` of a page, final integer pixels, and the GAP
    statistics of the F2 positions of page rows ``[r0, r1)`` (None: not classified).

    Bands of one page computed anywhere (different processes, machines) and
    stitched by :func:`finish_page` equal the whole-page result exactly: each
    band reads its rows plus the halo from the whole page and uses the whole
    page's bicubic taps, and GAP sums over disjoint row ranges add up."""

    r0: int
    r1: int
    pixels: np.ndarray
    gap: GapStats | None
    routed: str | None = None  # the category whose specialist made the pixels (mchmc.routing); None: none did


def upscale_band(page: Page, engine: Engine, r0: int, r1: int, *, then: Engine | None = None,
                 binarize: bool = False, classify: bool = True, strip_pixels: int = STRIP_PIXELS,
                 first_row: int = 0, height: int | None = None, chroma: ChromaEngine | None = None,
                 head_stats: GapStats | None = None) -> Band:
    """Page rows ``[r0, r1)`` -> their upscaled :class:`Band` (strip by strip).

    ``page.pixels`` holds the whole page, or (``first_row``, ``height``) rows
    ``[first_row, first_row + len)`` of a page of ``height`` rows: enough when they
    cover the band's halo (the second of two passes reads only that much of the first's output).
    ``head_stats`` (:func:`upscale_page`): a viewed page's bands, or one band of the whole page, take
    them instead of pooling again; other bands pool their own rows."""
    if then is not None:
        return _two_passes(page, engine, then, r0, r1, binarize, classify, strip_pixels, chroma, head_stats)
    px, meta = page.pixels, page.meta
    h, w = height or px.shape[0], px.shape[1]
    if not 0 <= r0 < r1 <= h:
        raise ValueError(f"band rows [{r0}, {r1}) outside a page of {h} rows")
    s, halo = engine.config.scale, max(engine.config.halo, chroma.config.halo if chroma else 0)
    classify = classify and engine.config.has_classifier
    viewed = classify and first_row == 0 and height is None and view_size(h, w) is not None
    known = head_stats is not None and classify and first_row == 0 and height is None and (viewed or (r0, r1) == (0, h))
    pool = classify and not viewed and not known  # F2 sums of this band's rows, in its own pass
    mode, bits = output_layout(meta, binarize)
    dtype = np.bool_ if bits == 1 else np.uint16 if bits == 16 else np.uint8
    channels = {"1": 1, "L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    out = np.empty((s * (r1 - r0), s * w) + ((channels,) if channels > 1 else ()), dtype)
    gray, alpha = meta.mode in ("1", "L", "LA"), meta.mode in ("LA", "RGBA")
    rows = max(16, min(r1 - r0, strip_pixels // max(w, 1)))
    resizer = _RowResizer(h, w, s)
    stats = empty_stats(engine)
    ybuf = np.empty((s * min(rows * 2, r1 - r0), s * w), np.float32)
    for q0, q1 in split(r1 - r0, rows):
        q0, q1 = q0 + r0, q1 + r0
        a, b = needed_rows(h, halo, q0, q1, resizer.rows_needed(q0, q1))
        if a < first_row or b > first_row + len(px):
            raise ValueError(f"rows [{a}, {b}) needed but only [{first_row}, {first_row + len(px)}) held")
        lr = colour.to_unit(px[a - first_row : b - first_row])
        lr = lr[..., None] if lr.ndim == 2 else lr
        ycc = colour.page_ycc(lr)  # Y as colour.luminance computes it (the head's view, training, metrics)
        res = engine.run(np.ascontiguousarray(ycc[..., 0]), Region(q0 - a, q1 - a, 0, w), gap=pool,
                         out=ybuf[: s * (q1 - q0)])
        if pool:
            stats = stats + res.gap
        y_up, dst = res.sr, out[s * (q0 - r0) : s * (q1 - r0)]
        if gray:
            _quantise_into(dst[..., 0] if channels > 1 else dst, colour.y_to_gray(y_up))
        else:
            cb, cr = resizer(ycc[..., 1], a, q0, q1), resizer(ycc[..., 2], a, q0, q1)
            if chroma is not None:  # the JPEG's chroma cleaned, guided by its Y (mchmc.chroma)
                dcb, dcr = chroma.run(ycc, Region(q0 - a, q1 - a, 0, w))
                cb += dcb
                cr += dcr
            _quantise_rgb_into(dst, y_up, cb, cr)
        if alpha:
            _quantise_into(dst[..., -1], resizer(lr[..., -1], a, q0, q1))
    if known:  # the caller's: the view's (carried by the band of row 0) or the whole page's
        stats = head_stats if r0 == 0 else empty_stats(engine)
    elif viewed:  # a page above the category view's size: the head reads the view (mchmc.pages.category)
        stats = band_category_stats(engine, page, r0, r1)
    return Band(r0, r1, out, stats if classify else None)


def _quantise_rgb_into(dst: np.ndarray, y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> None:
    """The strip's RGB from its upscaled Y, Cb, Cr, rounded into ``dst``'s first three channels."""
    for c in range(3):
        v = _MINV[c, 0] * y + _MINV[c, 1] * cb
        v += _MINV[c, 2] * cr
        v += _BASE[c]
        _quantise_into(dst[..., c], v)


def needed_rows(h: int, halo: int, q0: int, q1: int, taps: tuple[int, int]) -> tuple[int, int]:
    """The page rows that output rows of page rows ``[q0, q1)`` read: the network's halo and the bicubic taps."""
    return max(0, min(q0 - halo, taps[0])), min(h, max(q1 + halo, taps[1]))


def _two_passes(page: Page, first: Engine, then: Engine, r0: int, r1: int, binarize: bool, classify: bool,
                strip_pixels: int, chroma: ChromaEngine | None, head_stats: GapStats | None = None) -> Band:
    """Rows ``[r0, r1)`` through ``first`` then ``then``. The first pass makes exactly the rows of
    its whole-page output that the second pass's rows need (their halo and taps, so bands and
    tiles stay exact), as integers (what a written 2x page holds); the GAP statistics are the
    first pass's over ``[r0, r1)`` only, so bands' sums still add up to the whole page's."""
    s = first.config.scale
    h, w = page.pixels.shape[:2]
    mode, bits = output_layout(page.meta)  # 1-bit pages pass as 8-bit gray; binarize on the last pass
    mid = replace(output_meta(page.meta, s, mode, bits), notes=())
    o0, o1 = needed_rows(s * h, then.config.halo, s * r0, s * r1, _RowResizer(s * h, s * w, then.config.scale)
                         .rows_needed(s * r0, s * r1))
    a, b = o0 // s, -(-o1 // s)
    parts = [upscale_band(page, first, q0, q1, classify=classify and (q0, q1) == (r0, r1), strip_pixels=strip_pixels,
                          chroma=chroma, head_stats=head_stats if (q0, q1) == (r0, r1) else None)
             for q0, q1 in ((a, r0), (r0, r1), (r1, b)) if q1 > q0]
    held = np.concatenate([p.pixels for p in parts]) if len(parts) > 1 else parts[0].pixels
    core = next(p for p in parts if (p.r0, p.r1) == (r0, r1))
    second = upscale_band(Page(held, mid), then, s * r0, s * r1, classify=False, strip_pixels=strip_pixels,
                          first_row=s * a, height=s * h).pixels
    if output_layout(page.meta, binarize)[1] == 1:  # binarize a 1-bit page once, at the end (>= 0.5)
        second = second >= 128
    return Band(r0, r1, second, core.gap)


def band_rows(height: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` near-equal row ranges covering a page (fewer when it has fewer rows)."""
    return split(height, -(-height // max(1, min(parts, height))))


def finish_page(meta: PageMeta, bands: list[Band], engine: Engine, *, binarize: bool = False,
                seconds: float = 0.0) -> UpscaledPage:
    """Stitch the bands covering every row of the page described by ``meta`` into
    its :class:`UpscaledPage`; the category comes from the bands' summed GAP
    statistics (exactly the whole-page pooling, not an average of band guesses)."""
    bands = sorted(bands, key=lambda b: b.r0)
    s = len(bands[0].pixels) // (bands[0].r1 - bands[0].r0)  # the model's scale, or its square after two passes
    if [b.r0 for b in bands] != [0] + [b.r1 for b in bands[:-1]] or bands[-1].r1 != meta.height:
        raise ValueError(f"bands {[(b.r0, b.r1) for b in bands]} do not tile the page's {meta.height} rows")
    mode, bits = output_layout(meta, binarize)
    if len(bands) == 1:
        out = bands[0].pixels
    else:
        out = np.empty((s * meta.height,) + bands[0].pixels.shape[1:], bands[0].pixels.dtype)
        for b in bands:
            out[s * b.r0 : s * b.r1] = b.pixels
    probs = None
    if all(b.gap is not None for b in bands) and engine.config.has_classifier:
        stats = bands[0].gap
        for b in bands[1:]:
            stats = stats + b.gap
        probs = engine.category_probs(stats)
    return UpscaledPage(out, output_meta(meta, s, mode, bits, binarize), meta, probs, seconds)


def output_meta(meta: PageMeta, s: int, mode: str, bits: int, binarize: bool = False) -> PageMeta:
    """The upscaled page's record: s times the size and the resolution (so the
    printed size stays the same), EXIF resolution and pixel size patched, the rest kept."""
    notes = list(meta.notes)
    if meta.mode == "1":
        notes.append("1-bit page re-binarised at 0.5 after upscaling" if binarize
                     else "1-bit page upscaled to 8-bit gray (binarize=True keeps it 1-bit)")
    tiff = meta.tiff
    if tiff is not None and tiff.resolution is not None:
        tiff = replace(tiff, resolution=(tiff.resolution[0] * s, tiff.resolution[1] * s))
    return replace(
        meta, mode=mode, bits=bits, width=meta.width * s, height=meta.height * s,
        dpi=(meta.dpi[0] * s, meta.dpi[1] * s) if meta.dpi else None,
        exif=scale_exif(meta.exif, s, meta.width * s, meta.height * s), tiff=tiff, notes=tuple(notes))

