"""RGB <-> YCbCr with the BT.601 "studio swing" coefficients SR research uses
(MATLAB's ``rgb2ycbcr``): for R, G, B in [0, 1],

    Y  =  16/255 + ( 65.481 R + 128.553 G +  24.966 B) / 255      in [16/255, 235/255]
    Cb = 128/255 + (-37.797 R -  74.203 G + 112.000 B) / 255
    Cr = 128/255 + (112.000 R -  93.786 G -  18.214 B) / 255

Everything here works on *normalised* floats: a page of bit depth ``d`` is
divided by ``2**d - 1`` first, so 8-bit and 16-bit pages land on the same Y
scale the network was trained on (8-bit Y / 255). The inverse is the exact
matrix inverse (float64), so a round trip is exact to float error.

A grayscale page is its own luminance: it is treated as R = G = B = g, which
gives ``Y = 16/255 + 219/255 * g`` (the coefficients of a row sum to 219); the
peer benchmark and SR papers score gray images the same way.

A page's Y has one path (issue 30): :func:`page_ycc` on the page's [0, 1] pixels, wrapped by
:func:`luminance` / :func:`luminance_rows` for integer pixels in any page layout and by
:func:`y_8bit` for the metrics. The upscaler, the category head's view, training and test images
and the benchmarks all read it, so they all see the same float32 numbers.
"""
from __future__ import annotations

import numpy as np

_M = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]], dtype=np.float64
) / 255.0
_OFFSET = np.array([16.0, 128.0, 128.0]) / 255.0
_M_INV = np.linalg.inv(_M)
Y_BLACK, Y_WHITE = 16.0 / 255.0, 235.0 / 255.0


def rgb_to_ycbcr(rgb: np.ndarray, dtype=np.float32) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> (..., 3) YCbCr in normalised units."""
    rgb = np.asarray(rgb)
    m, off = _M.astype(dtype), _OFFSET.astype(dtype)
    return rgb.astype(dtype, copy=False) @ m.T + off


def ycbcr_to_rgb(ycc: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (not clipped: callers clip when quantising)."""
    ycc = np.asarray(ycc)
    m, off = _M_INV.astype(dtype), _OFFSET.astype(dtype)
    return (ycc.astype(dtype, copy=False) - off) @ m.T


def rgb_to_y(rgb: np.ndarray, dtype=np.float32) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> Y plane, without computing Cb/Cr."""
    rgb = np.asarray(rgb)
    w = _M[0].astype(dtype)
    return rgb[..., 0].astype(dtype) * w[0] + rgb[..., 1].astype(dtype) * w[1] + rgb[..., 2].astype(dtype) * w[2] + dtype(_OFFSET[0])


def gray_to_y(gray: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Gray in [0, 1] -> Y (as R = G = B = gray)."""
    return np.asarray(gray, dtype=dtype) * dtype(Y_WHITE - Y_BLACK) + dtype(Y_BLACK)


def y_to_gray(y: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Inverse of :func:`gray_to_y` (not clipped)."""
    return (np.asarray(y, dtype=dtype) - dtype(Y_BLACK)) / dtype(Y_WHITE - Y_BLACK)


def to_unit(a: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Integer pixels -> [0, 1] by their type's full range (uint8 / 255, uint16 / 65535)."""
    a = np.asarray(a)
    if a.dtype.kind in "ui":
        return a.astype(dtype) / dtype(np.iinfo(a.dtype).max)
    if a.dtype == np.bool_:
        return a.astype(dtype)
    return a.astype(dtype, copy=False)


def from_unit(a: np.ndarray, out_dtype=np.uint8) -> np.ndarray:
    """[0, 1] floats -> integers of ``out_dtype``, rounded to nearest and clipped."""
    peak = np.iinfo(out_dtype).max
    return np.clip(np.rint(np.asarray(a, dtype=np.float32) * peak), 0, peak).astype(out_dtype)


# ---------------------------------------------------------------- a page's luminance: the one path

def is_gray(pixels: np.ndarray) -> bool:
    """Whether pixels in a page's layout (:mod:`mchmc.pages.meta`) are gray: (H, W) for "1" / "L",
    (H, W, 2) for "LA" (or (H, W, 1)); (H, W, 3 or 4) are RGB(A)."""
    return pixels.ndim == 2 or pixels.shape[-1] < 3


def page_ycc(unit: np.ndarray) -> np.ndarray:
    """Pixels in a page's layout, already in [0, 1] (:func:`to_unit`), -> (..., 3) YCbCr of a colour page
    or (..., 1) Y of a gray one (its first channel through :func:`gray_to_y`), float32.

    The one place a page's Y is computed: :func:`luminance` is this function's channel 0, and the upscaler
    takes Y, Cb and Cr from it in one pass, so the Y the network is fed and the Y every other reader
    (the category head's view, training and test images, metrics) sees are the same float32 numbers.
    (Colour pages: one (3, 3) matrix product, whose fp32 rounding differs in the last bit from an
    elementwise ``rgb_to_y`` on about 18 % of 8-bit colours.)"""
    if is_gray(unit):
        return gray_to_y(unit if unit.ndim == 2 else unit[..., 0])[..., None]
    return rgb_to_ycbcr(unit[..., :3])


def luminance_rows(pixels: np.ndarray, r0: int, r1: int) -> np.ndarray:
    """Y (float32, in [0, 1] network units) of rows ``[r0, r1)`` of integer pixels in a page's layout:
    bool, uint8 or uint16, gray (+alpha) or RGB(A)."""
    return page_ycc(to_unit(pixels[r0:r1]))[..., 0]


def luminance(pixels: np.ndarray, rows: int = 1024) -> np.ndarray:
    """The Y plane (float32, [0, 1] network units) of an image in a page's layout, computed as the
    upscaler computes it (:func:`page_ycc`), ``rows`` rows at a time (no float copy of a whole colour page)."""
    pixels = np.asarray(pixels)
    h = pixels.shape[0]
    y = np.empty(pixels.shape[:2], np.float32)
    for r0 in range(0, h, rows):
        y[r0 : r0 + rows] = luminance_rows(pixels, r0, min(h, r0 + rows))
    return y


def y_8bit(img: np.ndarray) -> np.ndarray:
    """Y on the 0..255 scale (float64) of an 8/16-bit RGB or gray image (the metrics' convention):
    :func:`luminance` x 255."""
    return luminance(img).astype(np.float64) * 255.0
