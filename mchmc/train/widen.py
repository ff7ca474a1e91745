"""Warm-start a wider (and deeper) MCH from a narrower one without changing what it computes.

Why: issue 14 allows a wider MCH-MC variant for the JPEG noise levels where the paper's width
falls short (manga at q75), and issue 27's quality tier adds 3x3 tail layers between F2 and conv3.
Trained from scratch either would cost CPU hours; started from a shipped model, grown so that it
computes exactly the same function, it only has to learn what the extra channels and layers add
(Chen, Goodfellow and Shlens, "Net2Net", ICLR 2016: Net2WiderNet and Net2DeeperNet).

Deeper (Net2DeeperNet): each tail layer the narrow model lacks is inserted as an identity 3x3
convolution (centre tap 1 from the same channel, every other weight and the bias 0) at the width of
the map it reads. It reads a ReLU output (F2 or an earlier tail layer), which is >= 0, so
ReLU(identity(x)) = x exactly; the unpadded layer only trims one more pixel of border, which the
model's halo (one more per tail layer) accounts for. Done on the narrow side first, the widening
below then treats the inserted layers like any other.

Wider (Net2WiderNet): each new channel of a hidden layer (conv1, conv2, each tail layer) copies an
existing one, chosen by a seeded generator; the layer that reads those channels (the next one, and
for conv2 also the head's first layer) splits each copied channel's outgoing weights equally among
the copies. ReLU(copy) = ReLU(original), so every sum downstream is unchanged. A small noise
(``noise`` x the weights' standard deviation) is added to the copies' incoming weights to break the
symmetry, so the output differs by that much only (0 gives exactly the same output; tested). For the
paper's two hidden layers the generator draws exactly what it drew before tails existed, so the
shipped wide noise models' configs still reproduce.
"""
from __future__ import annotations

from dataclasses import replace

import torch

from mchmc.model import MCH


def _mapping(old: int, new: int, gen: torch.Generator) -> torch.Tensor:
    """For each of the ``new`` channels, the old channel it copies: the old ones first, then random picks."""
    if new < old:
        raise ValueError(f"cannot widen {old} channels to {new}")
    return torch.cat([torch.arange(old), torch.randint(0, old, (new - old,), generator=gen)])


@torch.no_grad()
def deepen(narrow: MCH, layers: int) -> MCH:
    """A copy of ``narrow`` with ``layers`` identity 3x3 tail layers appended (each at the width of the
    map it reads), computing exactly what ``narrow`` computes on a window one pixel wider per layer."""
    cfg = narrow.config
    width = cfg.tail[-1] if cfg.tail else cfg.channels[1]
    deep = MCH(replace(cfg, tail=(*cfg.tail, *[width] * layers)))
    state = narrow.state_dict()
    for i in range(len(cfg.tail), len(cfg.tail) + layers):
        w = torch.zeros(width, width, 3, 3)
        w[torch.arange(width), torch.arange(width), 1, 1] = 1.0
        state[f"tail.{i}.weight"], state[f"tail.{i}.bias"] = w, torch.zeros(width)
    deep.load_state_dict(state)
    return deep.eval()


@torch.no_grad()
def widen(narrow: MCH, wide: MCH, seed: int = 0, noise: float = 0.0) -> MCH:
    """Fill ``wide`` (same kernels, scale and categories; at least as many channels per layer and at least
    as many tail layers) from ``narrow`` so that it computes the same SR and logits (up to ``noise``)."""
    a, b = narrow.config, wide.config
    if (a.kernels, a.scale, a.categories, a.hidden) != (b.kernels, b.scale, b.categories, b.hidden):
        raise ValueError(f"{a.arch} and {b.arch} differ in more than their widths and depth")
    if len(b.tail) < len(a.tail):
        raise ValueError(f"cannot shorten a tail of {len(a.tail)} layers to {len(b.tail)}")
    if len(b.tail) > len(a.tail):
        narrow, a = (deep := deepen(narrow, len(b.tail) - len(a.tail))), deep.config
    gen = torch.Generator().manual_seed(seed)
    hidden = [(narrow.conv1, wide.conv1), (narrow.conv2, wide.conv2), *zip(narrow.tail, wide.tail)]
    maps = [_mapping(n.out_channels, w.out_channels, gen) for n, w in hidden]
    shares = [torch.bincount(m, minlength=n.out_channels).float()[m] for m, (n, _) in zip(maps, hidden)]

    def jitter(w: torch.Tensor, copies: torch.Tensor) -> torch.Tensor:
        if noise > 0:
            w[copies] += torch.randn(w[copies].shape, generator=gen) * noise * w.std()
        return w

    for i, (n, w) in enumerate(hidden):  # conv1, conv2, tail: rows copied, inputs split among copies
        rows = n.weight[maps[i]]
        rows = rows.clone() if i == 0 else rows[:, maps[i - 1]] / shares[i - 1][None, :, None, None]
        w.weight.copy_(jitter(rows, torch.arange(len(maps[i])) >= n.out_channels))
        w.bias.copy_(n.bias[maps[i]])
    wide.conv3.weight.copy_(narrow.conv3.weight[:, maps[-1]] / shares[-1][None, :, None, None])
    wide.conv3.bias.copy_(narrow.conv3.bias)
    if wide.head is not None:
        wide.head[0].weight.copy_(narrow.head[0].weight[:, maps[1]] / shares[1][None, :])
        wide.head[0].bias.copy_(narrow.head[0].bias)
        wide.head[2].load_state_dict(narrow.head[2].state_dict())
    return wide
