"""A page's category at any pixel size: the head reads a view of the page no larger than the pages it learned on.

The category head learned from LR patches of pages at benchmark size (a BSDS100 photo at 240 x 160,
a Hradis text crop at 256 x 256, a Manga109 page at 413 x 585). Archive pages arrive at scan
resolution, two to four times larger, where a manga page's lines are four times thicker and
its screentone dots are blobs: pooled over such a page, F2 looked like a photo's, and the
shipped head called full-size manga pages nature (issue 19: 41% right at 4x, 82% at 1x). So the
category of a page above :data:`VIEW_PIXELS` LR pixels comes from a *view*: its Y plane reduced
(MATLAB bicubic with antialiasing, the aspect kept) to about that many pixels, then the same
conv1, conv2 and GAP as always. Pages at or below that size are pooled whole, from the upscaling
pass itself, exactly as before. :data:`VIEW_PIXELS` was chosen on the validation images carved
from the training folds (``bench/category_scales.py --split val --view ...``); the test fold's
top-1 at 1x / 2x / 4x is in the model card.

The view's GAP sums stand in for the page's, so they ride in the same :class:`~mchmc.engine.GapStats`
a band returns: the band that holds row 0 carries them, every other band an empty sum, and the
stitched page's summed statistics are the view's, whatever the banding. The reduction runs in
row strips (columns first, then rows), so no float copy of a big page is made.

One rule for every reader of the head (issue 30): :func:`head_plane` is the only place that decides
whether the head reads a page whole or through its view (:func:`view_size`), and every consumer
takes its plane or statistics from it: ``upscale`` (whole or in bands, :func:`band_category_stats`),
``classify`` (:func:`page_category_stats`), ``explain`` (the Grad-CAM plane), the K-fold
experiment's per-image scores (:mod:`mchmc.experiment.evaluate`, Tables 9 and 10) and validation
during training (:mod:`mchmc.train.validate`, ``val_acc``). Before, the experiment and validation
pooled every image whole, so a test image above the threshold (a Manga109 page: 413 x 585 LR
pixels; a Hradis crop: 256 x 256) was scored by a different rule than ``mchmc classify`` applies
to the same page. The head learned on 30 x 30 LR patches; read through the view, a big page stays
in the distribution it was trained on, and the experiment now reports the category a user gets.
Images at or below :data:`VIEW_PIXELS` (a BSDS100 photo, a 256 px validation crop) are unchanged.
"""
from __future__ import annotations

import math

import numpy as np

from mchmc import colour
from mchmc.engine import GapStats, Region
from mchmc.resize import resize_axis

VIEW_PIXELS = 40_000  # LR pixels the head reads at most (chosen on validation: bench/category_scales.py --split val)


def view_size(height: int, width: int, max_pixels: int | None = None) -> tuple[int, int] | None:
    """(rows, columns) of the page's category view, or None when the page is pooled whole
    (``max_pixels``: :data:`VIEW_PIXELS` unless given)."""
    max_pixels = VIEW_PIXELS if max_pixels is None else max_pixels
    if height * width <= max_pixels:
        return None
    f = math.sqrt(height * width / max_pixels)
    return max(1, int(height / f)), max(1, int(width / f))


def _pixels(image) -> np.ndarray:
    """A :class:`~mchmc.pages.meta.Page`'s pixels, or the array itself."""
    return np.asarray(getattr(image, "pixels", image))


def _y_rows(px: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """Y of rows ``[r0, r1)``: integer pixels through :func:`colour.luminance_rows`; a float array is
    a Y plane already (what :func:`mchmc.train.data.hr_lr_y` returns: ``colour.luminance`` of the pixels)."""
    if px.dtype.kind == "f":
        if px.ndim != 2:
            raise ValueError(f"a float image must be a Y plane (H, W), not {px.shape}")
        return px[r0:r1]
    return colour.luminance_rows(px, r0, r1)


def view_plane(image, max_pixels: int | None = None, rows: int = 1024) -> np.ndarray | None:
    """The reduced Y plane the head reads for ``image`` (a :class:`~mchmc.pages.meta.Page` holding the
    whole page, its pixels, or its Y plane as a float array), float32; None when the page is small
    enough to be pooled whole.

    Reduced by ``f`` >= 4, the page is first box-averaged by ``k = f // 2`` (the last ``h % k`` rows and
    ``w % k`` columns dropped), then resized by the bicubic: the bicubic's antialiased taps grow with
    the factor (70 per pixel at f = 17), a box's cost does not."""
    px = _pixels(image)
    max_pixels = VIEW_PIXELS if max_pixels is None else max_pixels
    h, w = px.shape[:2]
    size = view_size(h, w, max_pixels)
    if size is None:
        return None
    oh, ow = size
    k = max(1, int(math.sqrt(h * w / max_pixels) // 2))
    hk, wk = h // k, w // k
    step = k * max(1, rows // k)
    cols = np.empty((ow, hk), np.float32)  # transposed: each resize gathers whole rows, not strided columns
    for r0 in range(0, hk * k, step):
        r1 = min(hk * k, r0 + step)
        y = _y_rows(px, r0, r1)[:, : wk * k]
        if k > 1:
            y = y.reshape((r1 - r0) // k, k, wk, k).mean(axis=(1, 3), dtype=np.float32)
        cols[:, r0 // k : r1 // k] = resize_axis(np.ascontiguousarray(y.T), 0, ow, ow / wk, dtype=np.float32)
    return np.ascontiguousarray(resize_axis(np.ascontiguousarray(cols.T), 0, oh, oh / hk, dtype=np.float32))


def head_plane(image, view_pixels: int | None = None) -> np.ndarray:
    """The Y plane (float32) the category head reads for a whole page: its view when the page is above
    the view's size (:func:`view_size`), else the page's whole Y (:func:`colour.luminance`). ``image``:
    a :class:`~mchmc.pages.meta.Page`, its pixels, or its Y plane as a float array. The one rule
    every reader of the head follows (see the module doc)."""
    view = view_plane(image, view_pixels)
    if view is not None:
        return view
    px = _pixels(image)
    return np.ascontiguousarray(px, np.float32) if px.dtype.kind == "f" else colour.luminance(px)


def empty_stats(engine) -> GapStats:
    """The GAP sum of no positions: what every band but the first carries for a page read through its view."""
    return GapStats(np.zeros(engine.config.channels[1], np.float64), 0)


def page_category_stats(engine, image, view_pixels: int | None = None, whole: GapStats | None = None) -> GapStats:
    """The GAP statistics the head reads for a whole page (``mchmc classify``, the experiment, validation):
    those of :func:`head_plane`. ``whole``: the page's own statistics, when the caller pooled them already
    in its upscaling pass (used only when the head reads the page whole, which they then equal)."""
    if whole is not None and view_size(*_pixels(image).shape[:2], view_pixels) is None:
        return whole
    return engine.gap_stats(head_plane(image, view_pixels))


def band_category_stats(engine, page, r0: int, r1: int, y: np.ndarray | None = None,
                        view_pixels: int | None = None) -> GapStats:
    """The GAP statistics page rows ``[r0, r1)`` contribute to the page's category (``page`` holds the
    whole page): its own F2 positions for a small page, the view's (row 0's band) or none for a big one.
    ``y``: the page's Y plane if the caller has it already."""
    h, w = _pixels(page).shape[:2]
    if view_size(h, w, view_pixels) is not None:
        return page_category_stats(engine, page, view_pixels) if r0 == 0 else empty_stats(engine)
    return engine.gap_stats(head_plane(page, view_pixels) if y is None else y, Region(r0, r1, 0, w))
