"""What an MCH network is, as plain data: the config (paper Table 4) and the
registry of architectures buildable by name. No torch here, so the batch
driver, the planner and the usage checks read and check a model file's config
without importing torch (the workers do that); the network itself is
:mod:`mchmc.model`, which re-exports these names.
"""
from __future__ import annotations

from dataclasses import dataclass

CATEGORIES = ("nature", "manga", "text")
TAIL_KERNEL = 3  # every tail layer is 3x3 (radius 1), as in waifu2x's upconv / vgg7 stacks


def top_category(probs, categories=None) -> str | None:
    """The category a model's probabilities name: the most probable one; a tie goes to the first of the
    tied in order (np.argmax's rule on an array, ``max(probs, key=probs.get)``'s on a dict). ``probs``:
    category -> probability (in the model's category order, as ``Engine.category_probs`` gives it), or
    a sequence of probabilities with their ``categories``. None when there are none. The one place the
    top category is taken: the batch report, ``UpscaledPage.category``, the experiment's per-image
    scores, validation and Grad-CAM all use it."""
    pairs = probs.items() if categories is None else zip(categories, probs, strict=True)
    best, top = None, None
    for category, p in pairs:
        if best is None or p > top:
            best, top = category, p
    return best


@dataclass(frozen=True)
class MCHConfig:
    """Architecture hyper-parameters (paper Table 4). ``categories`` empty = plain MCH."""

    arch: str = "mch"
    scale: int = 2
    channels: tuple[int, int] = (64, 32)  # n1, n2
    kernels: tuple[int, int, int] = (5, 5, 3)  # f1, f2, f3
    categories: tuple[str, ...] = ()
    hidden: int = 256  # n5, classifier FC width
    # Issue 27 (quality tier): widths of extra 3x3 conv + ReLU layers between F2 and conv3, unpadded like the
    # rest. They deepen the reconstruction only: the category head still pools F2 (conv2's output), so the
    # classifier, the GAP statistics and the engine's split into features (conv1, conv2) and reconstruction
    # (tail, conv3, pixel shuffle) are those of the paper. Empty for the paper's networks.
    tail: tuple[int, ...] = ()

    @property
    def halo(self) -> int:
        """LR pixels each output pixel needs on every side: sum of kernel radii (a tail layer's is 1)."""
        return sum(k // 2 for k in self.kernels) + len(self.tail) * (TAIL_KERNEL // 2)

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
        return 2 * self.macs_per_lr_pixel

    @property
    def macs_per_lr_pixel(self) -> int:
        """Multiply-adds of the SR path per LR pixel (the issue 27 cost cap is stated in these)."""
        n1, n2 = self.channels
        f1, f2, f3 = self.kernels
        widths = (n2, *self.tail)
        tail = sum(TAIL_KERNEL**2 * a * b for a, b in zip(widths, widths[1:]))
        return f1 * f1 * n1 + f2 * f2 * n1 * n2 + tail + f3 * f3 * widths[-1] * self.scale**2


# The registry: every architecture buildable by name. Tests are parametrised over it.
ARCHITECTURES: dict[str, MCHConfig] = {
    "mch": MCHConfig(arch="mch"),
    "mch-mc": MCHConfig(arch="mch-mc", categories=CATEGORIES),
    # Issue 14: the same design 1.5x wider (2.2x the FLOPs), allowed for the JPEG noise levels where the
    # paper's width falls short; warm-started from the paper's width by mchmc.train.widen.
    "mch-mc-wide": MCHConfig(arch="mch-mc-wide", channels=(96, 48), categories=CATEGORIES),
    # Issue 27, the quality tier: the paper's design 1.5x wider (as mch-mc-wide) and 3 layers deeper (3x3, 64
    # channels, between F2 and conv3), 221k multiply-adds per LR pixel (4.1x the paper's, 0.40x waifu2x-upconv7's
    # 552k); halo 8. Warm-started from a shipped model by mchmc.train.widen (Net2Wider + identity tail layers).
    "mch-mc-quality": MCHConfig(arch="mch-mc-quality", channels=(96, 48), categories=CATEGORIES, tail=(64, 64, 64)),
    # Issue 27: the quality tier with a fourth 64-channel tail layer (258k multiply-adds, 0.47x upconv7, under the
    # cap of half its 552k; halo 9), for category specialists where the quality tier's capacity falls short
    # (manga at JPEG levels); grown from an mch-mc-quality model by an identity layer (mchmc.train.widen.deepen).
    "mch-mc-quality-deep": MCHConfig(arch="mch-mc-quality-deep", channels=(96, 48), categories=CATEGORIES,
                                     tail=(64, 64, 64, 64)),
}
