"""``bench/grid_pilot.py``: after any D4 turn of a patch the phase planes still say where a JPEG block starts
(phase 0, reading down / right), and every variant starts exactly at its start model (zero tables). What
the variants gain is the pilot's measurement (docs/quality-tier.md), never asserted here."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from grid_pilot import BLOCK, WithGrid, frame_phase, phase_planes

from mchmc.model import build_model

D4 = [(k, flip) for k in range(4) for flip in (False, True)]


@pytest.mark.parametrize(("y0", "x0"), [(0, 0), (3, 5), (13, 2), (-9, -9)])
@pytest.mark.parametrize(("k", "flip"), D4)
def test_turned_phase_marks_the_block_edges_of_the_turned_patch(y0, x0, k, flip):
    h, w = 29, 37
    block = ((y0 + np.arange(h)) // BLOCK)[:, None] * 1000 + ((x0 + np.arange(w)) // BLOCK)[None, :]
    planes = np.stack([block.astype(np.float64), *phase_planes(h, w, y0, x0)])
    planes = np.rot90(planes, k, (1, 2))
    if flip:
        planes = planes[:, :, ::-1]
    rows, cols = frame_phase(planes[1], planes[2])
    turned = planes[0]
    assert np.array_equal(turned[:, 1:] == turned[:, :-1], cols[:, :-1] != BLOCK - 1)  # a block ends at 7
    assert np.array_equal(turned[1:] == turned[:-1], rows[:-1] != BLOCK - 1)
    assert ((cols[:, 1:] - cols[:, :-1]) % BLOCK == 1).all() and ((rows[1:] - rows[:-1]) % BLOCK == 1).all()


@pytest.mark.parametrize("where", ["y", "conv1", "all", "quality"])
def test_every_variant_starts_at_its_start_model(where):
    torch.manual_seed(0)
    base = build_model("mch-mc-quality").eval()
    for p in base.parameters():
        p.data.normal_(0, 0.05)
    y = torch.rand(2, 1, 30, 30)
    extra = np.stack([*phase_planes(30, 30, 3, 1), np.full((30, 30), 0.7, np.float32)])
    x = torch.cat([y, torch.from_numpy(extra)[None].expand(2, -1, -1, -1)], 1)
    with torch.no_grad():
        want = base.reconstruct(base.features(y))
        got = WithGrid(base, where).eval()(x)
    assert torch.equal(got, want)
