"""Pilot (issue 27): does the quality tier gain on JPEG pages when the network knows where the 8 x 8 blocks lie?

Why: manga trails waifu2x-upconv7-art-noise2 by 0.15 dB at q50 on fold 1's test images and by 0.02 at q75
(docs/quality-tier.md). A JPEG's artefacts sit on a grid fixed to the page's top-left pixel, and a convolution
does not know its own position: the network has to infer the grid from the artefacts, which at q50 are what
it is trying to remove. This pilot tells it, and measures what that is worth before the product is changed.

The grid is given as a **periodic bias**: a learned table of (channels, 8, 8) per layer, added to the layer's
output at each pixel by the pixel's (row mod 8, column mod 8) in the LR page. That is exactly what a 5 x 5
convolution over one-hot phase planes would add, at no multiply-add cost. The tables start at zero, so every
variant starts exactly at the start model:

- ``y``: no table (the control: what more steps alone give);
- ``conv1``: a table on conv1's output only;
- ``all``: a table on every layer's output (conv1, conv2, each tail layer, conv3's sub-pixels);
- ``quality``: no grid; instead every layer's output gets ``c * v`` (``v`` a learned vector per layer, zero at
  the start), ``c = (q - 50) / 25`` from the quality the page's last JPEG pass used: what
  ``mchmc.pages.jpegquality`` reads from a page's tables. The levels bucket qualities (level 3 is q20-55, one
  to three passes); this tells the network where in its bucket a page lies.

The D4 augmentation turns the grid with the patch: the phase is recomputed in the turned frame, so the
network always reads "block starts at phase 0" the way the page's own grid would be read. Each variant trains
``--steps`` on random patches of one category's training images, each degraded ``--copies`` times at the
config's level (mchmc/train/degrade.py: JPEG on the whole LR image, on its real grid), and is scored on that
category's validation images (carved from the training folds) stored as JPEG q``--jpeg`` 4:2:0 as the peer
benchmark stores them; PSNR-Y, 2 px border. Not a shipped model: a measurement.

    OMP_NUM_THREADS=1 .venv/bin/python bench/grid_pilot.py --config quality-noise3-manga-fp32 \\
        --start mchmc/weights/srformc-quality-noise3-for-manga.pt --jpeg 50 --variants y --out runs/grid-pilot-y
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ycc_pilot import (
    category_images,
    pilot_parser,
    psnr_y,
    run_variants,
    validation_images,
    ycc_planes,
)

from mchmc.modelfile import load_model
from mchmc.train.config import load_config
from mchmc.train.degrade import degrade_as

BLOCK = 8  # JPEG's luminance block, in LR pixels


class WithGrid(nn.Module):
    """The start model plus zero-initialised periodic bias tables on the layers ``where`` names."""

    def __init__(self, base, where: str):
        super().__init__()
        self.base, self.where = base, where
        convs = [base.conv1, base.conv2, *base.tail, base.conv3]
        chosen = {"y": 0, "conv1": 1, "all": len(convs)}.get(where, 0)
        self.tables = nn.ParameterList(nn.Parameter(torch.zeros(c.out_channels, BLOCK * BLOCK)) for c in convs[:chosen])
        self.by_quality = nn.ParameterList(nn.Parameter(torch.zeros(c.out_channels)) for c in convs
                                           if where == "quality")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 4, s, s) LR Y, row phase, column phase (in the patch's own frame), quality code -> SR Y."""
        b = self.base
        h, phase, c = x[:, :1], (x[:, 1] * BLOCK + x[:, 2]).long(), x[:, 3, :1, :1][:, None]
        convs = [b.conv1, b.conv2, *b.tail, b.conv3]
        offset = 0
        for i, conv in enumerate(convs):
            h = conv(h)
            offset += conv.kernel_size[0] // 2
            if i < len(self.tables):
                s = phase.shape[-1] - 2 * offset
                idx = phase[:, offset : offset + s, offset : offset + s]
                h = h + self.tables[i][:, idx].permute(1, 0, 2, 3)
            if i < len(self.by_quality):
                h = h + c * self.by_quality[i][None, :, None, None]
            if i < len(convs) - 1:
                h = F.relu(h)
        return F.pixel_shuffle(h, b.config.scale)


def frame_phase(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two phase planes after a D4 turn -> (row phase, column phase) in the turned frame, where a block
    starts at phase 0 reading down / right (a reversed axis reads ``7 - p``)."""
    out = []
    for axis in (0, 1):
        plane = rows if _varies_along(rows, axis) else cols
        step = np.take(plane, 1, axis=axis) - np.take(plane, 0, axis=axis)
        increasing = int(step.flat[0]) % BLOCK == 1
        out.append(plane if increasing else (BLOCK - 1) - plane)
    return out[0], out[1]


def _varies_along(plane: np.ndarray, axis: int) -> bool:
    return bool(np.take(plane, 1, axis=axis).flat[0] != np.take(plane, 0, axis=axis).flat[0])


def phase_planes(h: int, w: int, y0: int, x0: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column phase of an (h, w) window whose first pixel is the page's (y0, x0) (may be negative)."""
    rows = np.broadcast_to(((y0 + np.arange(h)) % BLOCK)[:, None], (h, w))
    cols = np.broadcast_to(((x0 + np.arange(w)) % BLOCK)[None, :], (h, w))
    return rows.astype(np.float32), cols.astype(np.float32)


def quality_code(q: int | None) -> float:
    """The conditioning scalar of a page whose last JPEG pass was at quality ``q`` (None: clean, as q100)."""
    return (100.0 if q is None else float(q)) / 25.0 - 2.0


def training_images(cfg, category: str, copies: int) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(LR Y, HR Y, quality code) of each training image of ``category``, ``copies`` JPEG draws per image, each
    as the config's ``data.noise`` says (its one-pass range and lower levels' share too)."""
    level, seed, *rest = cfg.data.noise
    out = []
    for name, hr, lr in category_images(cfg, category):
        hr_y = ycc_planes(hr)[0]
        for k in range(copies):
            lr_k, steps = degrade_as(lr, (level, seed + k, *rest), name)
            out.append((ycc_planes(lr_k)[0], hr_y, quality_code(steps.qualities[-1] if steps.qualities else None)))
    return out


def batch(images, rng: np.random.Generator, n: int, lr_side: int, out_side: int, halo: int):
    """Random (N, 3, lr_side, lr_side) Y + phase patches and HR Y targets, D4 turned together."""
    xs, ts = [], []
    for _ in range(n):
        lr, hr, code = images[rng.integers(len(images))]
        y0 = int(rng.integers(0, lr.shape[0] - lr_side + 1))
        x0 = int(rng.integers(0, lr.shape[1] - lr_side + 1))
        x = np.stack([lr[y0 : y0 + lr_side, x0 : x0 + lr_side], *phase_planes(lr_side, lr_side, y0, x0)])
        t = hr[2 * (y0 + halo) : 2 * (y0 + halo) + out_side, 2 * (x0 + halo) : 2 * (x0 + halo) + out_side][None]
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        x, t = np.rot90(x, k, (1, 2)), np.rot90(t, k, (1, 2))
        if flip:
            x, t = x[:, :, ::-1], t[:, :, ::-1]
        rows, cols = frame_phase(x[1], x[2])
        xs.append(np.ascontiguousarray(np.stack([x[0], rows, cols, np.full_like(rows, code)])))
        ts.append(np.ascontiguousarray(t))
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ts))


@torch.inference_mode()
def score(model: WithGrid, by_quality: dict[int, list], halo: int) -> dict[str, float]:
    """PSNR-Y (dB, 2 px border, 0..255 scale) per validation image at each JPEG quality (``q50/name``), each
    quality's mean (``q50``) and the mean over all; the page's grid starts at its first pixel, so the
    replicate-padded input's phase starts at -halo."""
    model.eval()
    out = {}
    for quality, images in by_quality.items():
        for name, lr, hr in images:
            y = F.pad(torch.from_numpy(lr[:1])[None], (halo,) * 4, mode="replicate")[0, 0].numpy()
            rows, cols = phase_planes(*y.shape, -halo, -halo)
            x = np.stack([y, rows, cols, np.full_like(rows, quality_code(quality))])
            out[f"q{quality}/{name}"] = psnr_y(model(torch.from_numpy(x)[None])[0, 0].float().numpy(), hr)
        out[f"q{quality}"] = float(np.mean([out[f"q{quality}/{name}"] for name, _, _ in images]))
    out["mean"] = float(np.mean([out[f"q{q}"] for q in by_quality]))
    model.train()
    return out


def main() -> int:
    ap = pilot_parser(__doc__, "y,conv1,all")
    ap.add_argument("--table-lr", type=float, default=1e-3, help="the tables' rate (they start at zero)")
    ap.add_argument("--copies", type=int, default=4, help="JPEG draws per training image")
    ap.add_argument("--jpeg", default="50", help="comma list: qualities of the validation LR JPEGs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(args.config)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    train = training_images(cfg, args.category, args.copies)
    val = {int(q): validation_images(cfg, args.category, int(q), args.crop) for q in args.jpeg.split(",")}
    run_variants(args, train, val, lambda where: WithGrid(load_model(args.start).model, where),
                 lambda model: [{"params": list(model.base.parameters()), "lr": args.lr},
                                {"params": [*model.tables.parameters(), *model.by_quality.parameters()],
                                 "lr": args.table_lr}],
                 batch, lambda model: score(model, val, model.base.config.halo))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
