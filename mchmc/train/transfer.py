"""Fine-tuning from a model whose categories differ (issue 29, item 4: ``--init srformc`` on an archive).

The upscaler (conv1-conv3) does not depend on the categories: it transfers
whole whenever the two networks have the same widths, kernels and scale. The
head's first layer (GAP(F2) -> hidden) describes a page's texture, not its
category, so it transfers too where both have a head of the same width; only
the last layer (hidden -> K) is new, since its rows *are* the categories.
A plain MCH gives only its convolutions; a plain MCH run from an MCH-MC model
takes them and leaves the head behind. What moved is returned, for the run's
provenance.
"""
from __future__ import annotations

import torch

from mchmc.model import MCH

SR_LAYERS = ("conv1", "conv2", "conv3")


def transfers(start: MCH, model: MCH) -> bool:
    """Whether ``start``'s upscaler fits ``model`` as it is (same convolution shapes)."""
    a, b = start.config, model.config
    return (a.channels, a.kernels, a.scale, a.tail) == (b.channels, b.kernels, b.scale, b.tail)


@torch.no_grad()
def transfer(start: MCH, model: MCH) -> list[str]:
    """Copy into ``model`` every layer of ``start`` that means the same there; the names of what was copied."""
    if not transfers(start, model):
        raise ValueError(f"{start.config.arch} {start.config.channels} does not fit {model.config.arch} "
                         f"{model.config.channels}")
    copied = []
    for name in SR_LAYERS:
        getattr(model, name).load_state_dict(getattr(start, name).state_dict())
        copied.append(name)
    for i, conv in enumerate(model.tail):  # the quality tier's extra layers (issue 27) are upscaler too
        conv.load_state_dict(start.tail[i].state_dict())
        copied.append(f"tail.{i}")
    if start.head is not None and model.head is not None and start.config.hidden == model.config.hidden:
        model.head[0].load_state_dict(start.head[0].state_dict())
        copied.append("head.0")
    if start.head is not None and model.head is not None and start.config.categories == model.config.categories:
        model.head[2].load_state_dict(start.head[2].state_dict())
        copied.append("head.2")
    return copied
