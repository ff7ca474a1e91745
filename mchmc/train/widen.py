"""Warm-start a wider MCH from a narrower one without changing what it computes (Net2WiderNet).

Why: issue 14 allows a wider MCH-MC variant for the JPEG noise levels where the paper's width
falls short (manga at q75). Trained from scratch it would cost CPU hours per level; started from the
shipped model of the same level, widened so that it computes exactly the same function, it only
has to learn what the extra channels add (Chen, Goodfellow and Shlens, "Net2Net", ICLR 2016).

How: each new channel of conv1 (or conv2) copies an existing one, chosen by a seeded generator;
the layer that reads those channels (conv2, or conv3 and the head's first layer) splits each
copied channel's outgoing weights equally among the copies. ReLU(copy) = ReLU(original), so every
sum downstream is unchanged. A small noise (``noise`` x the weights' standard deviation) is added
to the copies' incoming weights to break the symmetry, so the output differs by that much only
(0 gives exactly the same output; tested).
"""
from __future__ import annotations

import torch

from mchmc.model import MCH


def _mapping(old: int, new: int, gen: torch.Generator) -> torch.Tensor:
    """For each of the ``new`` channels, the old channel it copies: the old ones first, then random picks."""
    if new < old:
        raise ValueError(f"cannot widen {old} channels to {new}")
    return torch.cat([torch.arange(old), torch.randint(0, old, (new - old,), generator=gen)])


@torch.no_grad()
def widen(narrow: MCH, wide: MCH, seed: int = 0, noise: float = 0.0) -> MCH:
    """Fill ``wide`` (same kernels, scale and categories; at least as many channels per layer) from
    ``narrow`` so that it computes the same SR and logits (up to ``noise``); returns ``wide``."""
    a, b = narrow.config, wide.config
    if (a.kernels, a.scale, a.categories, a.hidden) != (b.kernels, b.scale, b.categories, b.hidden):
        raise ValueError(f"{a.arch} and {b.arch} differ in more than their widths")
    gen = torch.Generator().manual_seed(seed)
    m1 = _mapping(a.channels[0], b.channels[0], gen)
    m2 = _mapping(a.channels[1], b.channels[1], gen)
    share1 = torch.bincount(m1, minlength=a.channels[0]).float()[m1]  # how many channels each copy shares with
    share2 = torch.bincount(m2, minlength=a.channels[1]).float()[m2]

    def jitter(w: torch.Tensor, copies: torch.Tensor) -> torch.Tensor:
        if noise > 0:
            w[copies] += torch.randn(w[copies].shape, generator=gen) * noise * w.std()
        return w

    new1, new2 = torch.arange(len(m1)) >= a.channels[0], torch.arange(len(m2)) >= a.channels[1]
    wide.conv1.weight.copy_(jitter(narrow.conv1.weight[m1].clone(), new1))
    wide.conv1.bias.copy_(narrow.conv1.bias[m1])
    w2 = narrow.conv2.weight[m2][:, m1] / share1[None, :, None, None]
    wide.conv2.weight.copy_(jitter(w2, new2))
    wide.conv2.bias.copy_(narrow.conv2.bias[m2])
    wide.conv3.weight.copy_(narrow.conv3.weight[:, m2] / share2[None, :, None, None])
    wide.conv3.bias.copy_(narrow.conv3.bias)
    if wide.head is not None:
        wide.head[0].weight.copy_(narrow.head[0].weight[:, m2] / share2[None, :])
        wide.head[0].bias.copy_(narrow.head[0].bias)
        wide.head[2].load_state_dict(narrow.head[2].state_dict())
    return wide
