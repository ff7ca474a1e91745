"""Grad-CAM on F2 (Selvaraju et al.; the paper's Fig. 13): where MCH-MC sees each category.

Standard Grad-CAM, for category c with logit y_c (before the softmax) and the
feature maps A_k = F2 channel k, weighs each channel by its averaged gradient:

    alpha_k^c = (1/Z) sum_ij dy_c / dA_k(i, j)        L^c = ReLU(sum_k alpha_k^c A_k)

MCH-MC's classifier sees F2 only through global average pooling, p = (1/Z)
sum_ij A(i, j) over the Z pooled positions, so dy_c/dA_k(i, j) = (1/Z)
dy_c/dp_k at every pooled position: alpha^c = (1/Z) g^c with g^c = dy_c/dp,
the gradient of the head alone (autograd on the pooled vector, at the page's
exact pooled F2 from :meth:`Engine.gap_stats`, the same numbers the category
comes from). A page of any size costs one F2 pass, done in row bands.

Why not L^c as it stands: it drops the head's offset. The head is piecewise
linear, y_c = g^c . p + b_c, and on the shipped model the offsets b_c are as
large as the logits (text: g.p = +64, b = -70 on a manga page at 99.5%), and
opposite in sign to g.p, so L^c says the opposite of the classifier: the
top-1 map is blank (nature at 85% on a landscape: exactly 0 everywhere) while
a 0% category lights up the whole page; no scaling of the maps repairs that.
So this module keeps Grad-CAM's weights and restores the offset:

    l_c(i, j) = y_c + g^c . (A(i, j) - p) = Z sum_k alpha_k^c A_k(i, j) + b_c

the local logit: the head's first-order answer for a page made everywhere of
the features at (i, j). Its mean over the pooled positions is exactly y_c, so
the maps decompose the page's logits over its pixels. The softmax only reads
differences of logits, so the map shown is contrastive, in probability units:

    P_c(i, j) = softmax_c(l(i, j))        map_c = ReLU(P_c - 1/D) / (1 - 1/D)

the local probability's excess over chance (D categories): 0 where the spot
is no evidence for c over a uniform guess (the analogue of Grad-CAM's ReLU),
1 where it is all evidence for c. Every map of every page shares this one
absolute [0, 1] scale, so the maps of one page are comparable (at each pixel
at most one category exceeds 1/2) and nothing is stretched per map: a category
with little evidence stays dark instead of being scaled up to full brightness.

The map has one value per page pixel: F2 at position (y, x) is the feature
centred on pixel (y, x), computed on the page with its border replicated (the
engine's convention), so the heat map is exactly H x W and lies on the page.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from mchmc.engine import Engine, split
from mchmc.model import MCH
from mchmc.modelconfig import top_category

BAND_PIXELS = 1 << 18  # F2 positions per band (F1 of a band: 64 x 4 B x this = 64 MB)


@dataclass(frozen=True)
class GradCam:
    """Heat maps of one page: ``maps[d]`` is category ``categories[d]``'s evidence, H x W, in [0, 1]."""

    categories: tuple[str, ...]
    probs: np.ndarray  # (D,) the model's probabilities for the page
    logits: np.ndarray  # (D,) the page's logits y
    weights: np.ndarray  # (D, n2) Grad-CAM's alpha^c
    maps: np.ndarray  # (D, H, W) float32, evidence() of the local logits

    @property
    def predicted(self) -> str:
        return top_category(self.probs, self.categories)

    def map(self, category: str) -> np.ndarray:
        return self.maps[self.categories.index(category)]


def evidence(local: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Local logits (D, ...) -> each category's local probability in excess of chance, in [0, 1]."""
    local = torch.as_tensor(local)
    d = local.shape[0]
    return ((torch.softmax(local, 0) - 1.0 / d) * (d / (d - 1.0))).clamp_(0.0, 1.0)


def head_weights(model: MCH, pooled: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(alpha (D, n2), probabilities (D,), logits (D,)) at the pooled F2 vector ``pooled`` of ``count`` positions."""
    p = torch.tensor(pooled, dtype=torch.float32, requires_grad=True)
    logits = model.classify(p[None])[0]
    grads = [torch.autograd.grad(logits[d], p, retain_graph=True)[0] for d in range(len(logits))]
    alpha = torch.stack(grads).double().numpy() / max(count, 1)
    y = logits.detach()
    return alpha, torch.softmax(y, 0).double().numpy(), y.double().numpy()


@torch.inference_mode()
def _f2_band(model: MCH, plane: np.ndarray, y0: int, y1: int, radius: int) -> torch.Tensor:
    """F2 (n2, y1-y0, W) of page rows [y0, y1), each position centred on its pixel (border replicated)."""
    h, w = plane.shape
    rows = np.clip(np.arange(y0 - radius, y1 + radius), 0, h - 1)
    cols = np.clip(np.arange(-radius, w + radius), 0, w - 1)
    x = torch.from_numpy(np.ascontiguousarray(plane[rows[:, None], cols[None, :]], np.float32))[None, None]
    return model.features(x)[0]


def _page(model: MCH, plane: np.ndarray, tile: int | None):
    """(the model's eval copy, the checked plane, the page's GAP statistics): what both kinds of maps start from."""
    if not model.config.has_classifier:
        raise ValueError(f"architecture {model.config.arch!r} has no classifier: the maps need MCH-MC")
    plane = np.asarray(plane, np.float32)
    if plane.ndim != 2 or min(plane.shape) < 1:
        raise ValueError(f"expected a 2-D plane, got shape {plane.shape}")
    net = copy.deepcopy(model).eval()
    net.to(memory_format=torch.contiguous_format)
    return net, plane, Engine(net, tile=tile).gap_stats(plane)


def _banded(plane: np.ndarray, categories: int, band) -> np.ndarray:
    """(D, H, W) maps filled band by band (``band(y0, y1)`` -> that band's maps), so memory follows the band."""
    h, w = plane.shape
    maps = np.empty((categories, h, w), np.float32)
    for y0, y1 in split(h, max(1, BAND_PIXELS // w)):
        maps[:, y0:y1] = band(y0, y1)
    return maps


def grad_cam(model: MCH, plane: np.ndarray, tile: int | None = 256) -> GradCam:
    """Grad-CAM of every category of an MCH-MC ``model`` on the Y ``plane`` (normalised, H x W)."""
    net, plane, stats = _page(model, plane, tile)
    pooled = stats.total / max(stats.count, 1)
    alpha, probs, logits = head_weights(net, pooled, stats.count)
    g = alpha * max(stats.count, 1)  # dy/dp
    offset = torch.from_numpy(logits - g @ pooled).float()[:, None, None]  # b = y - g.p
    gt = torch.from_numpy(g).float()

    def band(y0: int, y1: int) -> np.ndarray:
        f2 = _f2_band(net, plane, y0, y1, net.config.feature_halo)
        return evidence(torch.einsum("dk,khw->dhw", gt, f2) + offset).numpy()

    return GradCam(tuple(net.config.categories), probs, logits, alpha, _banded(plane, len(alpha), band))


def window_cam(model: MCH, plane: np.ndarray, tile: int | None = 256, patch_lr: int = 30) -> GradCam:
    """The same maps' scale, read without linearising the head: at each pixel, the head's own answer
    for the mean of F2 over a training patch's window centred there (``patch_lr`` LR px, whose F2 is
    ``patch_lr - 2 * halo`` wide, made odd to have a centre; truncated at the page border), through
    :func:`evidence`. This is the view Phase 1 trained the head on (patches), so it stays meaningful
    for a head refitted on other sizes (``mchmc train-head``), where the first-order maps of
    :func:`grad_cam` can light a category over a page's margins. Probabilities, logits and the
    Grad-CAM weights are those of :func:`grad_cam` (the whole page's)."""
    net, plane, stats = _page(model, plane, tile)
    alpha, probs, logits = head_weights(net, stats.total / max(stats.count, 1), stats.count)
    k = patch_lr - 2 * net.config.feature_halo
    k += 1 - k % 2
    r, h, w = k // 2, *plane.shape

    def band(y0: int, y1: int) -> np.ndarray:
        a, b = max(0, y0 - r), min(h, y1 + r)  # the rows the band's windows reach
        f2 = _f2_band(net, plane, a, b, net.config.feature_halo)
        mean = torch.nn.functional.avg_pool2d(f2[None], k, stride=1, padding=r, count_include_pad=False)[0]
        mean = mean[:, y0 - a : y1 - a]
        with torch.inference_mode():
            local = net.classify(mean.permute(1, 2, 0).reshape(-1, mean.shape[0])).T.reshape(-1, y1 - y0, w)
        return evidence(local).numpy()

    return GradCam(tuple(net.config.categories), probs, logits, alpha, _banded(plane, len(alpha), band))
