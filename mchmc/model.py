"""The MCH and MCH-MC networks (Kuroki et al., "MCH-MC"), in one short file.

    MCH    : Y(LR) -conv1 5x5,64,ReLU- F1 -conv2 5x5,32,ReLU- F2 -conv3 3x3,4- pixel shuffle -> 2x Y
    MCH-MC : MCH plus a classifier branch on F2: GAP -> FC 256 -> ReLU -> FC 3 -> softmax
             over (nature, manga, text). Super-resolution inference is exactly MCH.
    tail   : (quality tier, issue 27) extra 3x3 conv + ReLU layers between F2 and conv3; the head
             still reads F2, so the category is computed as in the paper whatever the depth.

No layer is padded, so the network shrinks its input by ``2 * halo`` per axis;
the halo and the scale are derived from the layer definitions (``MCHConfig``, in
:mod:`mchmc.modelconfig`: plain data without torch, so the driver can check a
model file without importing torch) and every other module (tiler, trainer,
evaluation) reads them from there.

    >>> from mchmc.model import build_model
    >>> m = build_model("mch-mc"); m.config.halo, m.config.scale, m.num_parameters()
    (5, 2, 63271)
"""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from mchmc.modelconfig import ARCHITECTURES, CATEGORIES, TAIL_KERNEL, MCHConfig

__all__ = ["ARCHITECTURES", "CATEGORIES", "MCH", "MCHConfig", "build_model", "gap_probabilities"]


class MCH(nn.Module):
    """MCH, or MCH-MC when ``config.categories`` is non-empty."""

    def __init__(self, config: MCHConfig):
        super().__init__()
        self.config = config
        (n1, n2), (f1, f2, f3), s = config.channels, config.kernels, config.scale
        self.conv1 = nn.Conv2d(1, n1, f1)
        self.conv2 = nn.Conv2d(n1, n2, f2)
        self.conv3 = nn.Conv2d(config.tail[-1] if config.tail else n2, s * s, f3)  # reads the tail's last layer
        self.head = (
            nn.Sequential(nn.Linear(n2, config.hidden), nn.ReLU(), nn.Linear(config.hidden, len(config.categories)))
            if config.has_classifier
            else None
        )
        # Registered after the head and empty for the paper's networks: their parameters, state-dict keys
        # and initialisation draws are exactly what they were before tails existed.
        widths = (n2, *config.tail)
        self.tail = nn.ModuleList(nn.Conv2d(a, b, TAIL_KERNEL) for a, b in zip(widths, widths[1:]))
        self.dropout = 0.0  # the trainer sets its phase's dropout (Phase 1: 0.5); inference never drops
        self.reset_parameters()

    def reset_parameters(self, std: float = 1e-3) -> None:
        """Paper init: weights N(0, std), biases 0."""
        for mod in self.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)) and not mod.weight.is_meta:  # meta: shapes only (1.7 s)
                nn.init.normal_(mod.weight, 0.0, std)
                nn.init.zeros_(mod.bias)

    def features(self, y: torch.Tensor) -> torch.Tensor:
        """F2: conv1 -> ReLU -> (dropout) -> conv2 -> ReLU -> (dropout). Shrinks by 2*feature_halo."""
        inplace = not torch.is_grad_enabled()  # inference: no graph needs the pre-ReLU values (saves a pass)
        f1 = F.dropout(F.relu(self.conv1(y), inplace), self.dropout, self.training and self.dropout > 0)
        return F.dropout(F.relu(self.conv2(f1), inplace), self.dropout, self.training and self.dropout > 0)

    def reconstruct(self, f2: torch.Tensor) -> torch.Tensor:
        """(tail,) conv3 + pixel shuffle: channel k*s+l is sub-pixel (row k, column l)."""
        inplace = not torch.is_grad_enabled()
        for conv in self.tail:
            f2 = F.relu(conv(f2), inplace)
        return F.pixel_shuffle(self.conv3(f2), self.config.scale)

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        """Logits from GAP(F2) vectors (N, n2)."""
        if self.head is None:
            raise ValueError(f"architecture {self.config.arch!r} has no classifier")
        return self.head(pooled)

    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(N,1,H,W) -> SR (N,1,s(H-2h),s(W-2h)) and logits (N,D) over the whole F2 (or None)."""
        f2 = self.features(y)
        logits = self.classify(f2.mean(dim=(2, 3))) if self.head is not None else None
        return self.reconstruct(f2), logits

    def num_parameters(self, part: str = "all") -> int:
        """Parameter count of 'sr' (conv1-3), 'head' or 'all'."""
        mods = {"sr": [self.conv1, self.conv2, *self.tail, self.conv3], "head": [self.head] if self.head else []}
        mods["all"] = mods["sr"] + mods["head"]
        return sum(p.numel() for m in mods[part] for p in m.parameters())


def build_model(name: str = "mch-mc", **overrides) -> MCH:
    """Build a registered architecture by name, optionally overriding config fields."""
    if name not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    return MCH(replace(ARCHITECTURES[name], **overrides))


def gap_probabilities(model: MCH, gap_sum: torch.Tensor, count: int) -> torch.Tensor:
    """Category probabilities from the F2 sum over the pooling region and its pixel count."""
    pooled = (gap_sum.double() / max(count, 1)).to(torch.float32).reshape(1, -1)
    return torch.softmax(model.classify(pooled.to(next(model.parameters()).device)), dim=1)[0]

