"""PSNR and SSIM on Y, the way SR papers compute them.

Both take Y planes on the 0..255 scale (``colour.y_8bit``) and a border crop:
the default, ``NET_BORDER``, is the 10 HR px (halo x scale) the unpadded
network cannot predict, as the paper evaluates; ``crop=2`` matches the
literature and the peer benchmark.

SSIM: Wang et al. with an 11x11 Gaussian window (sigma 1.5, normalised over
the window), population statistics, C1 = (0.01 L)^2, C2 = (0.03 L)^2, averaged
over the positions where the whole window fits (as skimage's
``structural_similarity(gaussian_weights=True)`` and MATLAB's ``ssim_index``).
"""
from __future__ import annotations

import numpy as np

from mchmc.model import ARCHITECTURES

NET_BORDER = ARCHITECTURES["mch"].halo * ARCHITECTURES["mch"].scale


def crop(a: np.ndarray, border: int) -> np.ndarray:
    return a[border:-border, border:-border] if border > 0 else a


def psnr(sr_y: np.ndarray, hr_y: np.ndarray, border: int = NET_BORDER, peak: float = 255.0) -> float:
    a, b = crop(np.asarray(sr_y, np.float64), border), crop(np.asarray(hr_y, np.float64), border)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation with the 1-D kernel g on both axes."""
    n = len(g)
    rows = sum(g[i] * a[i : a.shape[0] - n + 1 + i, :] for i in range(n))
    return sum(g[i] * rows[:, i : a.shape[1] - n + 1 + i] for i in range(n))


def ssim(sr_y: np.ndarray, hr_y: np.ndarray, border: int = NET_BORDER, peak: float = 255.0) -> float:
    x, y = crop(np.asarray(sr_y, np.float64), border), crop(np.asarray(hr_y, np.float64), border)
    g = gaussian_window()
    if min(x.shape) < len(g):
        raise ValueError(f"image {x.shape} too small for an {len(g)}x{len(g)} SSIM window")
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mx, my = _filter_valid(x, g), _filter_valid(y, g)
    sxx = _filter_valid(x * x, g) - mx * mx
    syy = _filter_valid(y * y, g) - my * my
    sxy = _filter_valid(x * y, g) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())
