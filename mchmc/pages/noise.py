"""Which JPEG noise level a page is upscaled at (``--noise auto|none|0|1|2|3``).

An archive mixes clean masters with JPEGs of every quality, so ``auto`` (the
default) decides per page: a JPEG's quality is estimated from its quantisation
tables (:mod:`mchmc.pages.jpegquality`, as ImageMagick does) and mapped to a
level by :data:`AUTO_LEVELS`; a page with no tables (PNG, TIFF, WebP, a JPEG
already re-saved losslessly) is upscaled with the clean model, so ``auto``
never smooths a clean page. The thresholds were chosen on validation images
carved from the training folds (``bench/noise_levels.py``; the figures are
in the model card), never on the test fold.

A choice carries its reason, which the report keeps per page
(``jpeg q=78 -> 1``, ``none: lossless source``, ``--noise 2``).
"""
from __future__ import annotations

from dataclasses import dataclass

from mchmc.pages.meta import PageMeta

LEVELS = (0, 1, 2, 3)
NOISE_CHOICES = ("auto", "none", *map(str, LEVELS))

# (lowest estimated quality, level), highest first. Chosen on the validation images
# (bench/noise_levels.py, 15 images carved from the training folds; the table is in
# docs/noise.md): the best level by mean PSNR-Y was 0 at q98-90, 1 at q85-80, a tie
# of 1 and 2 at q75 (1 kept: better on nature and text), 2 at q70-60 and 3 at q50
# and below; the boundaries sit between the measured qualities. Above q98 (near
# lossless) the clean model, as for a PNG, where level 0 lost 0.05 dB.
AUTO_LEVELS: tuple[tuple[int, int | None], ...] = ((99, None), (86, 0), (73, 1), (55, 2), (0, 3))


@dataclass(frozen=True)
class NoiseChoice:
    level: int | None  # None: the clean model
    reason: str

    @property
    def label(self) -> str:
        return "none" if self.level is None else str(self.level)


def check_setting(setting: str) -> str:
    """``--noise``'s value, normalised; ValueError names the choices."""
    s = str(setting).strip().lower()
    if s not in NOISE_CHOICES:
        raise ValueError(f"--noise must be one of {', '.join(NOISE_CHOICES)}, not {setting!r}")
    return s


def level_for_quality(quality: int) -> int | None:
    for lowest, level in AUTO_LEVELS:
        if quality >= lowest:
            return level
    return AUTO_LEVELS[-1][1]  # pragma: no cover  (the last threshold is 0)


def choose(setting: str, meta: PageMeta, available: frozenset[int] = frozenset(LEVELS)) -> NoiseChoice:
    """The level ``meta``'s page is upscaled at under ``--noise setting``. ``available``: the levels the
    model has noise variants for; ``auto`` falls back to the clean model, with the reason, without one."""
    if setting == "none":
        return NoiseChoice(None, "none: --noise none")
    if setting != "auto":
        return NoiseChoice(int(setting), f"--noise {setting}")
    q = meta.jpeg_quality
    if q is None:
        return NoiseChoice(None, "none: lossless source")
    level = level_for_quality(q)
    if level is not None and level not in available:
        return NoiseChoice(None, f"jpeg q={q} -> {level}, but the model has no level-{level} variant: none")
    return NoiseChoice(level, f"jpeg q={q} -> {'none' if level is None else level}")
