"""Grad-CAM on F2 (Selvaraju et al.; the paper's Fig. 13): where MCH-MC sees each category.

For category c with logit y_c (before the softmax) and the feature maps
A_k = F2 channel k, Grad-CAM weighs each channel by its averaged gradient and
keeps the positive part:

    alpha_k^c = (1/Z) sum_ij dy_c / dA_k(i, j)        L^c = ReLU(sum_k alpha_k^c A_k)

MCH-MC's classifier sees F2 only through global average pooling, p = (1/Z)
sum_ij A(i, j) over the Z pooled positions, so dy_c/dA_k(i, j) = (1/Z)
dy_c/dp_k at every pooled position: alpha^c = (1/Z) dy_c/dp, the gradient of
the head alone (computed here with autograd on the pooled vector, evaluated at
the page's exact pooled F2 from :meth:`Engine.gap_stats`, the same numbers the
category comes from). That is why a page of any size costs one F2 pass, done
in row bands so memory stays bounded.

The map has one value per page pixel: F2 at position (y, x) is the feature
centred on pixel (y, x), computed on the page with its border replicated (the
engine's convention), so the heat map is exactly H x W and lies on the page.
Values are raw (not normalised); :func:`normalised` scales one map to [0, 1]
for display, as Grad-CAM figures do (the figures use its 99.5th percentile).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from .engine import Engine, split
from .model import MCH

BAND_PIXELS = 1 << 18  # F2 positions per band (F1 of a band: 64 x 4 B x this = 64 MB)


@dataclass(frozen=True)
class GradCam:
    """Heat maps of one page: ``maps[d]`` is category ``categories[d]``'s Grad-CAM, H x W, >= 0."""

    categories: tuple[str, ...]
    probs: np.ndarray  # (D,) the model's probabilities for the page
    weights: np.ndarray  # (D, n2) alpha^c
    maps: np.ndarray  # (D, H, W) float32

    @property
    def predicted(self) -> str:
        return self.categories[int(np.argmax(self.probs))]

    def map(self, category: str) -> np.ndarray:
        return self.maps[self.categories.index(category)]


def normalised(heat: np.ndarray, percentile: float = 100.0) -> np.ndarray:
    """A map scaled to [0, 1] by its maximum, or by a high percentile and clipped (so a few hot
    pixels do not darken the rest of a display); all zeros stays all zeros."""
    peak = float(np.percentile(heat, percentile)) if heat.size else 0.0
    peak = peak if peak > 0 else (float(heat.max()) if heat.size else 0.0)
    return np.clip(heat / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(heat)


def head_weights(model: MCH, pooled: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(alpha (D, n2), probabilities (D,)) at the pooled F2 vector ``pooled`` of ``count`` positions."""
    p = torch.tensor(pooled, dtype=torch.float32, requires_grad=True)
    logits = model.classify(p[None])[0]
    grads = [torch.autograd.grad(logits[d], p, retain_graph=True)[0] for d in range(len(logits))]
    alpha = torch.stack(grads).double().numpy() / max(count, 1)
    return alpha, torch.softmax(logits.detach(), 0).double().numpy()


@torch.inference_mode()
def _f2_band(model: MCH, plane: np.ndarray, y0: int, y1: int, radius: int) -> torch.Tensor:
    """F2 (n2, y1-y0, W) of page rows [y0, y1), each position centred on its pixel (border replicated)."""
    h, w = plane.shape
    rows = np.clip(np.arange(y0 - radius, y1 + radius), 0, h - 1)
    cols = np.clip(np.arange(-radius, w + radius), 0, w - 1)
    x = torch.from_numpy(np.ascontiguousarray(plane[rows[:, None], cols[None, :]], np.float32))[None, None]
    return model.features(x)[0]


def grad_cam(model: MCH, plane: np.ndarray, tile: int | None = 256) -> GradCam:
    """Grad-CAM of every category of an MCH-MC ``model`` on the Y ``plane`` (normalised, H x W)."""
    if not model.config.has_classifier:
        raise ValueError(f"architecture {model.config.arch!r} has no classifier: Grad-CAM needs MCH-MC")
    plane = np.asarray(plane, np.float32)
    if plane.ndim != 2 or min(plane.shape) < 1:
        raise ValueError(f"expected a 2-D plane, got shape {plane.shape}")
    net = copy.deepcopy(model).eval()
    net.to(memory_format=torch.contiguous_format)
    stats = Engine(copy.deepcopy(net), tile=tile).gap_stats(plane)
    alpha, probs = head_weights(net, stats.total / max(stats.count, 1), stats.count)
    h, w = plane.shape
    maps = np.empty((len(alpha), h, w), np.float32)
    a = torch.from_numpy(alpha).float()
    for y0, y1 in split(h, max(1, BAND_PIXELS // w)):
        f2 = _f2_band(net, plane, y0, y1, net.config.feature_halo)
        maps[:, y0:y1] = torch.relu(torch.einsum("dk,khw->dhw", a, f2)).numpy()
    return GradCam(tuple(net.config.categories), probs, alpha, maps)
