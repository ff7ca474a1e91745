"""What an MCH network is, as plain data: the config (paper Table 4) and the
registry of architectures buildable by name. No torch here, so the batch
driver, the planner and the usage checks read and check a model file's config
without importing torch (the workers do that); the network itself is
:mod:`mchmc.model`, which re-exports these names.
"""
from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = ("nature", "manga", "text")


@dataclass(frozen=True)
class MCHConfig:
    """Architecture hyper-parameters (paper Table 4). ``categories`` empty = plain MCH."""

    arch: str = "mch"
    scale: int = 2
    channels: tuple[int, int] = (64, 32)  # n1, n2
    kernels: tuple[int, int, int] = (5, 5, 3)  # f1, f2, f3
    categories: tuple[str, ...] = ()
    hidden: int = 256  # n5, classifier FC width

    @property
    def halo(self) -> int:
        """LR pixels each output pixel needs on every side: sum of kernel radii."""
        return sum(k // 2 for k in self.kernels)

    @property
    def feature_halo(self) -> int:
        """Radius of conv1+conv2, i.e. the halo of F2 (what GAP statistics need)."""
        return sum(k // 2 for k in self.kernels[:2])

    @property
    def has_classifier(self) -> bool:
        return len(self.categories) > 0

    @property
    def flops_per_lr_pixel(self) -> int:
        """Multiply-adds x2 of the SR path per LR pixel (bench ceilings use it)."""
        n1, n2 = self.channels
        f1, f2, f3 = self.kernels
        return 2 * (f1 * f1 * n1 + f2 * f2 * n1 * n2 + f3 * f3 * n2 * self.scale**2)


# The registry: every architecture buildable by name. Tests are parametrised over it.
ARCHITECTURES: dict[str, MCHConfig] = {
    "mch": MCHConfig(arch="mch"),
    "mch-mc": MCHConfig(arch="mch-mc", categories=CATEGORIES),
    # Issue 14: the same design 1.5x wider (2.2x the FLOPs), allowed for the JPEG noise levels where the
    # paper's width falls short; warm-started from the paper's width by mchmc.train.widen.
    "mch-mc-wide": MCHConfig(arch="mch-mc-wide", channels=(96, 48), categories=CATEGORIES),
}
