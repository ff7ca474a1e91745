"""MATLAB-compatible bicubic ``imresize`` (what SR research uses to make LR inputs).

MATLAB's algorithm, re-implemented in numpy:
- Keys cubic kernel with a = -0.5;
- when shrinking by ``s < 1`` the kernel is stretched by ``1/s`` (antialiasing)
  and scaled by ``s``, so a 1/2 downscale averages over 8 taps, not 4;
- output pixel ``x`` (1-based) samples input coordinate ``x/s + (1 - 1/s)/2``;
- indices outside the image mirror symmetrically (``... 2 1 1 2 ... n n n-1 ...``);
- weights are normalised to sum to 1 per output pixel;
- the axis with the smaller scale is resized first; integer input is rounded
  and clipped back to its type.

PIL's bicubic differs (no symmetric border, other support), which shifts PSNR
by tenths of a dB, hence this module.  The resize is separable, done one tap
at a time so the peak memory is the output plus one gathered slice.
"""
from __future__ import annotations

import math

import numpy as np


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel, a = -0.5."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


def contributions(in_len: int, out_len: int, scale: float, antialias: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Weights (out_len, taps) and 0-based source indices (out_len, taps) for one axis."""
    shrink = antialias and scale < 1
    width = 4.0 / scale if shrink else 4.0
    u = np.arange(1, out_len + 1, dtype=np.float64) / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based
    dist = u[:, None] - idx
    w = scale * cubic(dist * scale) if shrink else cubic(dist)
    w = w / w.sum(axis=1, keepdims=True)
    # symmetric mirror of out-of-range indices: -1 -> 0, n -> n-1 (0-based)
    i0 = np.mod(idx.astype(np.int64) - 1, 2 * in_len)
    i0 = np.where(i0 >= in_len, 2 * in_len - 1 - i0, i0)
    keep = np.any(w != 0, axis=0)
    return w[:, keep], i0[:, keep]


def resize_axis(a: np.ndarray, axis: int, out_len: int, scale: float, antialias: bool = True, dtype=np.float64) -> np.ndarray:
    """Resize float array ``a`` along one axis; accumulates tap by tap in ``dtype``.

    An integer upscale (the chroma of every colour page) takes :func:`_upsample_slices`,
    which gives the same bits ten times faster."""
    w, idx = contributions(a.shape[axis], out_len, scale, antialias)
    a = np.moveaxis(a, axis, 0)
    s = int(round(scale))
    out = None
    if s > 1 and s == scale and out_len == s * a.shape[0] and a.shape[0] >= 8:
        out = _upsample_slices(a, s, w, idx, dtype)
    if out is None:
        bshape = (out_len,) + (1,) * (a.ndim - 1)
        out = np.zeros((out_len,) + a.shape[1:], dtype=dtype)
        for t in range(w.shape[1]):
            out += np.take(a, idx[:, t], axis=0) * w[:, t].astype(dtype).reshape(bshape)
    return np.moveaxis(out, 0, axis)


def _upsample_slices(a: np.ndarray, s: int, w: np.ndarray, idx: np.ndarray, dtype) -> np.ndarray | None:
    """Integer ``s``x along axis 0 with the tap table ``(w, idx)`` of :func:`contributions`.

    For an integer upscale, output ``s*i + p`` reads inputs ``i + offset[p, t]``
    with weights that depend only on the phase ``p``, and MATLAB's mirrored
    indices are exactly numpy's ``symmetric`` padding. So each phase is a sum
    of shifted slices of the padded input (no gather): the same products added
    in the same order as the tap loop, hence the same bits. That holds when the
    weights repeat exactly from one period to the next (s = 2, 4: the sample
    positions are binary fractions); otherwise, e.g. s = 3 where they differ in
    the last bit, returns None and the caller uses the tap loop."""
    n = a.shape[0]
    mid = (n // 2) * s  # an interior output: its indices are not mirrored
    offsets = idx[mid : mid + s] - (np.arange(mid, mid + s) // s)[:, None]
    pad = int(np.abs(offsets).max())
    phase = np.arange(s * n) % s
    mirrored = np.arange(s * n)[:, None] // s + offsets[phase]
    mirrored = np.mod(mirrored, 2 * n)
    mirrored = np.where(mirrored >= n, 2 * n - 1 - mirrored, mirrored)
    if not (np.array_equal(w, w[mid + phase]) and np.array_equal(idx, mirrored)):
        return None
    padded = np.pad(a, [(pad, pad)] + [(0, 0)] * (a.ndim - 1), mode="symmetric")
    out = np.empty((s * n,) + a.shape[1:], dtype=dtype)
    for p in range(s):
        weights = w[mid + p].astype(dtype)
        acc = None
        for t, off in enumerate(offsets[p]):
            term = padded[pad + off : pad + off + n] * weights[t]
            if acc is None:
                acc = term.astype(dtype, copy=False)
            else:
                acc += term
        out[p::s] = acc
    return out


def output_size(h: int, w: int, scale: float) -> tuple[int, int]:
    return int(math.ceil(h * scale)), int(math.ceil(w * scale))


def imresize(img: np.ndarray, scale: float | None = None, output_shape: tuple[int, int] | None = None,
             antialias: bool = True, dtype=np.float64) -> np.ndarray:
    """Resize an HxW or HxWxC array like MATLAB ``imresize(img, scale, 'bicubic')``.

    Integer input returns the same integer type (rounded, clipped); float input
    returns ``dtype`` (not clipped, as MATLAB does for doubles).
    """
    if (scale is None) == (output_shape is None):
        raise ValueError("give exactly one of scale and output_shape")
    a = np.asarray(img)
    h, w = a.shape[:2]
    if output_shape is None:
        sh = sw = float(scale)
        oh, ow = output_size(h, w, sh)
    else:
        oh, ow = output_shape
        sh, sw = oh / h, ow / w
    out = a.astype(dtype, copy=False)
    for axis, n, s in sorted([(0, oh, sh), (1, ow, sw)], key=lambda t: t[2]):
        out = resize_axis(out, axis, n, s, antialias, dtype)
    if a.dtype.kind in "ui":
        info = np.iinfo(a.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(a.dtype)
    return out
