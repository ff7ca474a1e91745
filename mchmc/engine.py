"""Exact tiled inference: a luminance plane H x W -> exactly (sH) x (sW).

Border: the image is extended by the network's halo with **replicate** padding
(edge pixels repeated). Replicate works for every size down to 1x1 (reflect
needs the image to be wider than the halo) and never invents structure that
is not in the page. The padding is never materialised for the whole image:
each tile gathers its own input window with clamped indices, so memory grows
with the tile, not with the page (the only whole-page arrays are the caller's
input plane and the output plane).

Tiles: the region to compute is cut into cores of at most ``tile`` x ``tile``
LR px (near-equal sizes, so there is no sliver tile); each core is fed with
its halo and its SR output written to ``out[s*y0:s*y1, s*x0:s*x1]``. Because
every output pixel sees exactly the same 11x11 input window either way, tiled
output equals whole-image output up to float rounding.

Category statistics (MCH-MC): the classifier pools F2 = conv2(conv1(Y)). The
pooling region is the set of F2 positions whose receptive field lies inside
the image, i.e. F2 of the *unpadded* image, exactly what training sees on a
patch (paper-faithful: padding never influences the category). Each F2
position belongs to the tile whose core holds its centre pixel, so the sums
over tiles add up to the whole-image sum with no overlap; the engine returns
the float64 sum and the count, and probabilities are computed once, from the
total. Pages smaller than the F2 receptive field (under 9 px on a side) have
no such positions; for them the region falls back to the F2 positions centred
on every image pixel.

Test-time augmentation (``tta=True``; nunif's ``--tta``, waifu2x-ncnn-vulkan's
``-x``): each tile's input window, *halo included*, is put through the 8
elements g of the dihedral group D4 (rotations by 0, 90, 180, 270 degrees,
each with and without a left-right flip), the network runs on g(window), its
SR output is transformed back with g's inverse, and the 8 float32 outputs are
summed in a fixed order (identity first) and multiplied by 1/8, before any
clipping or quantisation. This stays exact under tiling because the network is
unpadded with a square, centred receptive field: g maps the window's
11 x 11 neighbourhood of each core pixel onto the 11 x 11 neighbourhood of
the corresponding pixel of g(window), the unpadded output of g(window) is
exactly g applied to the 2x grid of the core (a 90-degree turn of a
th x tw core gives a 2tw x 2th output; g^-1 brings it back to 2th x 2tw, the
pixel-shuffle sub-pixels included), and the border replication commutes with
g (clamped indices are taken before transforming). So every output pixel is
the mean of the same 8 numbers whatever the tiling, up to the float rounding
the convolutions already have without TTA. It costs 8 forward passes per tile
(~8x the network time, ~6.7x a whole page's with the colour work that is not
repeated; memory per tile unchanged but for one accumulator). What it gains
depends on the model: the shipped ones, trained on upright unmirrored pages,
gain on photos and manga but lose on text (``bench/tta.py``).

The category is NOT augmented: the GAP statistics are pooled once, from F2 of
the untransformed window (the same identity pass TTA starts with), so the
probabilities and the report are those of ``tta=False`` exactly.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from mchmc.model import MCH, gap_probabilities

from mchmc.precision import PRECISION_CHOICES, resolve_precision


@dataclass
class GapStats:
    """Sum of F2 over (part of) the pooling region, and how many positions it covers."""

    total: np.ndarray  # float64, (n2,)
    count: int = 0

    def __add__(self, other: "GapStats") -> "GapStats":
        return GapStats(self.total + other.total, self.count + other.count)


@dataclass
class Region:
    """A rectangle of LR pixels ``[y0, y1) x [x0, x1)`` of a plane."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


@dataclass
class EngineResult:
    sr: np.ndarray | None  # float32 (s*h, s*w) for the region, None when only classifying
    gap: GapStats | None = field(default=None)


def split(n: int, tile: int | None) -> list[tuple[int, int]]:
    """Cut [0, n) into ceil(n / tile) near-equal intervals (one interval if tile is None/0)."""
    parts = 1 if not tile or tile >= n else math.ceil(n / tile)
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def pool_interval(n: int, radius: int) -> tuple[int, int]:
    """Centres (along one axis of length n) of F2 positions in the pooling region."""
    return (radius, n - radius) if n >= 2 * radius + 1 else (0, n)


# D4 as (quarter turns k, flip): g(x) = rot90(fliplr(x) if flip else x, k) on the last two axes; identity first
D4: tuple[tuple[int, bool], ...] = tuple((k, flip) for flip in (False, True) for k in range(4))


def d4_apply(x: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    """g(x) for g = (k, flip) on the last two axes (a 90/270-degree turn swaps height and width)."""
    if flip:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, k, dims=(-2, -1)) if k % 4 else x


def d4_invert(y: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    """g^-1(y): undo :func:`d4_apply` (turn back first, then flip)."""
    if k % 4:
        y = torch.rot90(y, -k, dims=(-2, -1))
    return torch.flip(y, dims=(-1,)) if flip else y


def tiles(region: Region, tile: int | None) -> list[Region]:
    """The region's tile cores, row-major."""
    return [
        Region(region.y0 + a, region.y0 + b, region.x0 + c, region.x0 + d)
        for a, b in split(region.y1 - region.y0, tile)
        for c, d in split(region.x1 - region.x0, tile)
    ]


def window(plane: np.ndarray, t: Region, halo: int) -> np.ndarray:
    """Tile ``t`` of ``plane`` with its halo, border pixels replicated (clamped indices); any dtype
    (the network service gathers 8-bit code windows with it, :mod:`mchmc.batch.network.service`)."""
    h, w = plane.shape
    if t.y0 >= halo and t.x0 >= halo and t.y1 + halo <= h and t.x1 + halo <= w:
        return plane[t.y0 - halo : t.y1 + halo, t.x0 - halo : t.x1 + halo]
    rows = np.clip(np.arange(t.y0 - halo, t.y1 + halo), 0, h - 1)
    cols = np.clip(np.arange(t.x0 - halo, t.x1 + halo), 0, w - 1)
    return plane[rows[:, None], cols[None, :]]


def add_tile_gap(stats: GapStats, f2: torch.Tensor, t: Region, py: tuple[int, int], px: tuple[int, int],
                 ring: int) -> None:
    """Add to ``stats`` the F2 (C x h x w, one tile's) of the pooling region's positions centred in
    tile ``t``'s core; ``ring``: how far F2 extends beyond the core."""
    a0, a1 = max(t.y0, py[0]), min(t.y1, py[1])
    b0, b1 = max(t.x0, px[0]), min(t.x1, px[1])
    if a1 > a0 and b1 > b0:
        part = f2[:, a0 - t.y0 + ring : a1 - t.y0 + ring, b0 - t.x0 + ring : b1 - t.x0 + ring]
        # each row summed in fp32 (a few hundred values), the rows in float64: ~1e-8
        # relative, without a float64 copy of the tile. Summed as (H, W, C), the
        # channels_last layout F2 is in, so a row is one contiguous block: 15x faster
        # than reducing across the layout (that cost MCH-MC 6% over MCH per image).
        stats.total += part.permute(1, 2, 0).sum(dim=1).double().sum(dim=0).cpu().numpy()
        stats.count += (a1 - a0) * (b1 - b0)


class Engine:
    """Runs a model over planes in tiles. Holds no per-page state between calls.

    ``tta=True`` averages the SR output over the 8 flips/rotations of D4 (see the
    module docstring: exact under tiling, ~8x slower, the category unchanged)."""

    def __init__(self, model: MCH, tile: int | None = 256, device: str | torch.device = "cpu", precision: str = "fp32",
                 tta: bool = False):
        if precision not in PRECISION_CHOICES:
            raise ValueError(f"precision must be one of {PRECISION_CHOICES}, not {precision!r}")
        precision = resolve_precision(precision, device)
        if tile is not None and tile < 1:
            raise ValueError(f"tile must be >= 1 px, not {tile}")
        self.device = torch.device(device)
        if self.device.type == "cuda":  # fp32 means fp32: cuDNN runs convolutions in TF32 by default, and the
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False  # policy decides
        # its own copy: eval mode, channels-last and the device would otherwise change the caller's model
        self.model = copy.deepcopy(model).eval().to(self.device, memory_format=torch.channels_last)
        self.config = model.config
        self.tile, self.precision, self.tta = tile, precision, bool(tta)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        """F2 of a window. bf16 policy: only conv2 (95% of the FLOPs) runs in
        bf16; the input, conv1, F2 and conv3 stay fp32, so bf16's 2^-8 relative
        rounding never lands on pixel values themselves (rounding an output of
        0.9 to bf16 alone would cost up to 2e-3)."""
        m = self.model
        if self.precision == "fp32":
            return m.features(x)
        f1 = torch.relu_(m.conv1(x))
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            f2 = torch.relu_(m.conv2(f1))
        return f2.float()

    def _window(self, plane: np.ndarray, t: Region, halo: int) -> torch.Tensor:
        """The tile's input with its halo, border pixels replicated (clamped indices)."""
        x = torch.from_numpy(np.ascontiguousarray(window(plane, t, halo), dtype=np.float32))[None, None]
        return x.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)

    def _augmented(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """TTA of one window ``x`` (halo included) whose identity output is ``y``: the mean
        over D4 of g^-1(net(g(x))), summed in D4's order in float32, then times 1/8 (exact)."""
        acc = y.clone()
        for k, flip in D4[1:]:
            xg = d4_apply(x, k, flip).contiguous(memory_format=torch.channels_last)
            acc += d4_invert(self.model.reconstruct(self._features(xg))[0, 0].float(), k, flip)
        return acc.mul_(1.0 / len(D4))

    @torch.inference_mode()
    def run(self, plane: np.ndarray, region: Region | None = None, sr: bool = True, gap: bool = False,
            out: np.ndarray | None = None) -> EngineResult:
        """Compute the SR output (and/or GAP statistics) of ``region`` of ``plane``.

        ``plane`` is the whole page's Y (float, H x W) so that tiles at the
        region's edge see real neighbours; the padding applies only at the
        plane's border. ``out`` may be a preallocated (s*h, s*w) float32 array.
        """
        plane = np.asarray(plane)
        if plane.ndim != 2 or min(plane.shape) < 1:
            raise ValueError(f"expected a 2-D plane with H, W >= 1, got shape {plane.shape}")
        if gap and not self.config.has_classifier:
            raise ValueError(f"architecture {self.config.arch!r} has no classifier to pool for")
        h, w = plane.shape
        region = region or Region(0, h, 0, w)
        s, halo, fh = self.config.scale, self.config.halo, self.config.feature_halo
        r3 = halo - fh  # conv3's radius: F2 of a tile extends r3 px beyond its core
        rh, rw = region.shape
        if sr and out is None:
            out = np.empty((s * rh, s * rw), dtype=np.float32)
        stats = GapStats(np.zeros(self.config.channels[1], np.float64), 0) if gap else None
        py, px = pool_interval(h, fh), pool_interval(w, fh)
        # classifying only: conv3's extra ring is not needed
        halo_in = halo if sr else fh
        ring = r3 if sr else 0
        for t in tiles(region, self.tile):
            x = self._window(plane, t, halo_in)
            f2 = self._features(x)  # the identity pass: its F2 alone feeds the GAP statistics, TTA or not
            if gap:
                add_tile_gap(stats, f2[0], t, py, px, ring)
            if sr:
                y = self.model.reconstruct(f2)[0, 0].float()
                if self.tta:
                    y = self._augmented(x, y)
                y = y.cpu().numpy()
                oy, ox = s * (t.y0 - region.y0), s * (t.x0 - region.x0)
                out[oy : oy + y.shape[0], ox : ox + y.shape[1]] = y
        return EngineResult(out if sr else None, stats)

    def upscale(self, plane: np.ndarray, gap: bool = False) -> EngineResult:
        """Whole plane -> (sH, sW) float32, plus GAP statistics if asked."""
        return self.run(plane, sr=True, gap=gap)

    def gap_stats(self, plane: np.ndarray, region: Region | None = None) -> GapStats:
        """Classification only (conv1, conv2): the F2 sums over the pooling region."""
        return self.run(plane, region, sr=False, gap=True).gap

    def category_probs(self, stats: GapStats) -> dict[str, float] | None:
        """Category -> probability from (summed) GAP statistics; None for a model without a head."""
        if not self.config.has_classifier:
            return None
        return dict(zip(self.config.categories, map(float, self.probabilities(stats))))

    @torch.inference_mode()
    def probabilities(self, stats: GapStats) -> np.ndarray:
        """Category probabilities (float64, one per ``config.categories``) from total GAP statistics."""
        p = gap_probabilities(self.model, torch.from_numpy(stats.total), stats.count)
        return p.double().cpu().numpy()
