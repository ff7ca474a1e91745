"""Which specialist upscales a page: a linear router over the head's features and the page's colour and edges.

Why (issue 27, session 11): the quality tier upscales a page with the specialist of its category
(:mod:`mchmc.routing`). The head that names the category reads only F2 of the page's Y plane, and it
learned from 30 x 30 LR patches. On whole pages at JPEG level 3 it is unsure between photographs and
manga: validation photographs at p_nature 0.54-0.59, one manga cover at 0.50, which went to the nature
specialist and lost 0.35 dB. A page's colour and edges tell the two apart where F2's mean does not:
drawn art has flat, saturated areas and few colours; a photograph has continuous tones. A linear model
over both, fitted on the whole training pages at the level's JPEG qualities (:mod:`mchmc.train.router`),
names the category of 96-99% of them in cross-validation, against 91% for the head
(docs/quality-tier.md, "Session 11").

What: :func:`page_features` is the head's pooled F2 mean (the GAP statistics the page's pass takes
anyway) followed by :data:`STATISTICS`, 14 numbers from the Y plane the head reads
(:func:`mchmc.pages.category.head_plane`) and from the page's chroma. They are standardised, then fed to
a linear layer and a softmax. The router only chooses the specialist. The page's category and its
probabilities in the report stay the head's: the paper's category.

File: ``router/<level model's stem>.pt`` beside the model, as ``chroma/`` is. It is a torch archive of
plain tensors, read with ``weights_only``. It names the sha256 of the level file it was fitted on, and a
router beside a different file is refused in one line (its features would be another network's).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mchmc import colour
from mchmc.errors import ModelFileError
from mchmc.fsutil import atomic_write, file_sha256
from mchmc.modelcheck import read_checked

FORMAT, VERSION = "mchmc-router", 1
STATISTICS = ("chroma_mean", "chroma_std", "gray_share", "saturated_share", "dark_share", "light_share",
              "luma_entropy", "luma_std", "flat_share", "smooth_share", "edge_share", "strong_edge_share",
              "log_gradient", "colour_count")
CHROMA_PIXELS = 250_000  # pixels the chroma statistics read at most (a strided sample of a bigger page)
STATS_PIXELS = 1 << 18  # LR pixels of the Y plane the statistics read: a Manga109 page whole, a bigger page reduced


def router_file(model_file: str | os.PathLike) -> Path:
    """Where the router of ``model_file`` (one level's file) lives: ``router/<stem>.pt`` beside it."""
    model_file = Path(model_file)
    return model_file.parent / "router" / f"{model_file.stem}.pt"


def page_statistics(pixels: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:data:`STATISTICS` (float64) of a page: ``y`` is its Y plane as :func:`route_inputs` reads it (float32,
    network units), ``pixels`` the page's integer pixels in any layout (gray, RGB, with alpha; 8 or 16 bits)."""
    y = np.asarray(y, np.float32)
    hist = np.histogram(y, bins=16, range=(0.0, 1.0))[0] / max(1, y.size)
    nz = hist[hist > 0]
    grad = np.concatenate([np.abs(np.diff(y, axis=1)).ravel(), np.abs(np.diff(y, axis=0)).ravel()])
    if grad.size == 0:
        grad = np.zeros(1, np.float32)
    px = np.asarray(pixels)
    step = max(1, math.ceil(math.sqrt(px.shape[0] * px.shape[1] / CHROMA_PIXELS)))
    ycc = colour.page_ycc(colour.to_unit(px[::step, ::step]))
    if ycc.shape[-1] == 3:
        chroma = np.hypot(ycc[..., 1] - colour._OFFSET[1], ycc[..., 2] - colour._OFFSET[2]).ravel()
        levels = np.minimum((ycc * 32).astype(np.int64), 31)
        codes = levels[..., 0] * 1024 + levels[..., 1] * 32 + levels[..., 2]
    else:
        chroma = np.zeros(ycc[..., 0].size, np.float32)
        codes = np.minimum((ycc[..., 0] * 32).astype(np.int64), 31)
    colours = np.count_nonzero(np.bincount(codes.ravel(), minlength=1)) / min(32768, max(1, codes.size))  # distinct
    return np.array([chroma.mean(), chroma.std(), (chroma < 0.02).mean(), (chroma > 0.15).mean(),
                     (y < 0.15).mean(), (y > 0.85).mean(), -(nz * np.log(nz)).sum(), y.std(),
                     (grad < 2 / 255).mean(), (grad < 6 / 255).mean(), (grad > 0.12).mean(), (grad > 0.3).mean(),
                     math.log(float(grad.mean()) + 1e-4), colours], np.float64)


def page_features(gap_mean: np.ndarray, pixels: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The router's input for a page: the head's pooled F2 mean, then :func:`page_statistics`."""
    return np.concatenate([np.asarray(gap_mean, np.float64).ravel(), page_statistics(pixels, y)])


def route_inputs(engine, page) -> tuple[np.ndarray, object]:
    """(the router's features, the head's GAP statistics) of ``page`` (a Page or its pixels), read by
    ``engine``'s conv1 and conv2. The head's plane follows :func:`mchmc.pages.category.head_plane` (the
    page whole, or its 40,000-pixel view); the statistics read the page's Y up to :data:`STATS_PIXELS`
    (edges and screen tones at the size the tier learned on; the head's view would blur them), reduced
    by the same rule above it."""
    from mchmc.pages.category import head_plane, view_size

    pixels = np.asarray(getattr(page, "pixels", page))
    y = head_plane(pixels)
    stats = engine.gap_stats(y)
    y_stats = y if view_size(*pixels.shape[:2]) is None else head_plane(pixels, STATS_PIXELS)
    return page_features(stats.total / max(1, stats.count), pixels, y_stats), stats


@dataclass(frozen=True)
class Router:
    """Standardise (``mean``, ``scale``), then ``weight`` @ x + ``bias`` -> softmax over ``categories``."""

    categories: tuple[str, ...]
    mean: np.ndarray  # (n,) float64
    scale: np.ndarray  # (n,) float64, > 0
    weight: np.ndarray  # (k, n) float64
    bias: np.ndarray  # (k,) float64
    model_sha256: str  # the level file whose head features it reads
    provenance: dict = field(default_factory=dict)

    @property
    def features(self) -> int:
        return int(self.mean.shape[0])

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """Category probabilities of one page's features (n,), or of many pages' (m, n) row by row."""
        z = ((np.asarray(features, np.float64) - self.mean) / self.scale) @ self.weight.T + self.bias
        e = np.exp(z - z.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def category(self, features: np.ndarray) -> str:
        return self.categories[int(np.argmax(self.probabilities(features)))]


def save_router(router: Router, path: str | os.PathLike) -> Path:
    import torch

    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float64))
    payload = {"format": FORMAT, "version": VERSION, "categories": json.dumps(list(router.categories)),
               "statistics": json.dumps(list(STATISTICS)), "model_sha256": router.model_sha256,
               "provenance": json.dumps(router.provenance, default=str),
               "mean": t(router.mean), "scale": t(router.scale), "weight": t(router.weight), "bias": t(router.bias)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_router(path: str | os.PathLike, model_file: str | os.PathLike | None = None,
                categories: tuple[str, ...] | None = None, gap_channels: int | None = None) -> Router:
    """A router file, checked: no code runs; a wrong header, shape, value, category list, F2 width or
    model (the sha256 of ``model_file``, when given) is refused in one :class:`ModelFileError` line."""
    path = Path(path)
    payload = read_checked(path, kind="mchmc router")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or payload.get("version") != VERSION:
        raise ModelFileError(path, f"not an mchmc router (no '{FORMAT}' version {VERSION} header)")
    try:
        cats = tuple(json.loads(payload["categories"]))
        stats = tuple(json.loads(payload["statistics"]))
        arrays = [np.asarray(payload[k].numpy(), np.float64) for k in ("mean", "scale", "weight", "bias")]
        sha, provenance = str(payload["model_sha256"]), json.loads(payload["provenance"])
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as err:  # missing, not a tensor, bad JSON
        raise ModelFileError(path, f"bad router: {str(err).splitlines()[0][:200] if str(err) else type(err).__name__}") from None
    mean, scale, weight, bias = arrays
    k, n = len(cats), mean.shape[0] if mean.ndim == 1 else -1
    if stats != STATISTICS or not cats or not all(isinstance(c, str) for c in cats) or len(set(cats)) != k:
        raise ModelFileError(path, "bad router: its categories or page statistics are not this version's")
    if n <= len(STATISTICS) or scale.shape != (n,) or weight.shape != (k, n) or bias.shape != (k,):
        raise ModelFileError(path, f"bad router: tensor shapes do not fit {k} categories")
    if not all(np.isfinite(a).all() for a in arrays) or not (scale > 0).all():
        raise ModelFileError(path, "bad router: a weight is not finite, or a scale is not positive")
    if gap_channels is not None and n != gap_channels + len(STATISTICS):
        raise ModelFileError(path, f"bad router: it reads {n - len(STATISTICS)} F2 channels, its model has {gap_channels}")
    if categories is not None and cats != tuple(categories):
        raise ModelFileError(path, f"router's categories {', '.join(cats)} are not its model's "
                                   f"({', '.join(categories)})")
    if model_file is not None and sha != file_sha256(model_file):
        raise ModelFileError(path, f"router was fitted on another model file than {Path(model_file).name}; "
                                   "fit it again with mchmc train-router")
    return Router(cats, mean, scale, weight, bias, sha, provenance if isinstance(provenance, dict) else {})
