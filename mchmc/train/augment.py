"""D4 training augmentation: each patch of a batch turned by one of the eight flips and rotations.

Why (issue 27, item 2): the shipped models were trained on upright, unmirrored pages only, so
test-time augmentation (``--tta``, the mean over the same eight transforms) costs 1.25 dB on text:
the network never learned what a mirrored glyph looks like. Trained on all eight, every transform of
a page is an input it knows, for every category. Off by default (``train.augment_d4``): the paper's
protocol has no augmentation, and configs without the key keep their run identity.

Exact: the LR input (square, ``lr`` x ``lr``) and the HR target (the square centre the unpadded net
predicts) are turned by the same element g. The net is unpadded with a square, centred receptive
field, so the centre of g(LR) is g of the centre of LR: the target of g(LR) is g(target). The element
of each patch is a pure function of (seed, phase, step), so a resumed run draws the same ones.
"""
from __future__ import annotations

import numpy as np

from mchmc.engine import D4  # (quarter turns, flip), identity first: the group --tta averages over


def d4_choices(seed: int, phase_id: int, step: int, batch: int) -> np.ndarray:
    """The D4 element (0..7, an index into :data:`D4`) of each patch of the batch at ``step``."""
    return np.random.default_rng([seed, phase_id, step, 0xD4]).integers(0, len(D4), batch)


def d4_apply(x: np.ndarray, g: int) -> np.ndarray:
    """g(x) on the last two axes (the same convention as the engine's TTA)."""
    k, flip = D4[g]
    if flip:
        x = x[..., ::-1]
    return np.rot90(x, k, axes=(-2, -1))


def d4_batch(lr: np.ndarray, hr: np.ndarray, choices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, 1, n, n) inputs and (B, 1, m, m) targets, patch i turned by element ``choices[i]``."""
    if lr.shape[-1] != lr.shape[-2] or hr.shape[-1] != hr.shape[-2]:
        raise ValueError(f"D4 augmentation needs square patches, got {lr.shape} and {hr.shape}")
    lr_out, hr_out = np.empty_like(lr), np.empty_like(hr)
    for g in range(len(D4)):
        idx = np.flatnonzero(choices == g)
        if len(idx):
            lr_out[idx] = d4_apply(lr[idx], g)
            hr_out[idx] = d4_apply(hr[idx], g)
    return lr_out, hr_out
