"""JPEG degradation of training LR images, per noise level (issue 14, step 1).

Archives are JPEG scans: a model taught only clean bicubic LR sharpens block
artefacts. For a noise level, each training image's LR side (the integer
bicubic 1/2 image, :func:`mchmc.train.data.hr_lr_y`) is JPEG-compressed as a
whole, on its real 8 x 8 grid, before any patch is cut, then decoded; the HR
side stays clean. The recipe follows nunif's waifu2x "art" training
(waifu2x/training/jpeg_noise.py: q85-95 for level 0, q65-85 for 1, q27-70
with second and third compressions for 2 and 3), with our own ranges:

    level 0   one pass, q 85-95
    level 1   one pass, q 65-85
    level 2   one pass q 37-70 (60%), or two passes: q1 45-70, then q1 - 5..10
    level 3   one pass q 20-45 (50%), two passes q1 30-55 then q1 - 5..10 (35%),
              or three: q1 45-60, then q1 - 5..15, then q1 - 15..25 (15%)

A config may set its own level's one-pass range (``data.noise_one_pass``): ``--noise auto`` sends
level 3 every page of q54 and below, so a level-3 model can learn q46-54 too.

As in nunif, a quarter of the images of a level get a lower level's steps, so
a level-2 model does not over-smooth a lightly compressed page (``data.noise_lower_share``
sets another share), and at levels 0-2 a fifth stay clean (a page the estimate calls
q90 may be a clean master re-saved once). Chroma is 4:2:0 or 4:4:4 with equal odds, as scanners and web
volumes both write; a gray image is compressed as gray (one channel), as gray
scans are. Every choice comes from a generator seeded by (seed, level, image),
so a store is reproducible and its content hash means something.
"""
from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

LEVELS = (0, 1, 2, 3)
LOWER_LEVEL_SHARE = 0.25
ONE_PASS = {0: (85, 95), 1: (65, 85), 2: (37, 70), 3: (20, 45)}  # level -> the table's one-pass qualities
CLEAN_SHARE = {0: 0.2, 1: 0.2, 2: 0.2, 3: 0.0}


@dataclass(frozen=True)
class JpegSteps:
    """The compressions applied to one image, in order (empty: left clean)."""

    qualities: tuple[int, ...]
    subsampling: str  # "4:2:0" | "4:4:4" (ignored for gray)


def _qualities(level: int, rng: np.random.Generator, one_pass: tuple[int, ...] = ()) -> tuple[int, ...]:
    q = lambda lo, hi: int(rng.integers(lo, hi + 1))  # noqa: E731  (inclusive, as the table reads)
    one = one_pass or ONE_PASS[level]
    if level in (0, 1):
        return (q(*one),)
    r = rng.random()
    if level == 2:
        if r < 0.6:
            return (q(*one),)
        q1 = q(45, 70)
        return q1, q1 - q(5, 10)
    if r < 0.5:
        return (q(*one),)
    if r < 0.85:
        q1 = q(30, 55)
        return q1, q1 - q(5, 10)
    q1 = q(45, 60)
    return q1, q1 - q(5, 15), q1 - q(15, 25)


def jpeg_steps(level: int, rng: np.random.Generator, one_pass: tuple[int, ...] = (),
               lower_share: float = LOWER_LEVEL_SHARE) -> JpegSteps:
    """The steps for one image at ``level`` (see the module doc for the shares). ``one_pass``: (lowest,
    highest), the one-pass qualities of ``level`` itself in place of the table's (``data.noise_one_pass``);
    the lower levels' share keeps their own. ``lower_share``: the share of images given a lower level's
    steps (``data.noise_lower_share``). The generator is drawn from in the same order either way."""
    if level not in LEVELS:
        raise ValueError(f"noise level must be one of {LEVELS}, not {level!r}")
    subsampling = "4:2:0" if rng.random() < 0.5 else "4:4:4"
    if rng.random() < CLEAN_SHARE[level]:
        return JpegSteps((), subsampling)
    if level > 0 and rng.random() < lower_share:
        return JpegSteps(_qualities(int(rng.integers(0, level)), rng), subsampling)
    return JpegSteps(_qualities(level, rng, one_pass), subsampling)


def image_rng(seed: int, level: int, image_key: str) -> np.random.Generator:
    """The generator of one image's choices: the same (seed, level, image) gives the same steps."""
    return np.random.default_rng([seed, level, zlib.crc32(image_key.encode("utf-8"))])


def is_gray(img: np.ndarray) -> bool:
    return img.ndim == 2 or (img.shape[2] >= 3 and np.array_equal(img[..., 0], img[..., 1])
                             and np.array_equal(img[..., 1], img[..., 2]))


def jpeg_degrade(lr: np.ndarray, steps: JpegSteps) -> np.ndarray:
    """``lr`` (uint8, H x W gray or H x W x 3 RGB) after ``steps``, decoded, in the same layout.
    The whole image is compressed, so the 8 x 8 blocks sit where a scanner's would."""
    if lr.dtype != np.uint8:
        raise ValueError(f"JPEG degradation needs 8-bit pixels, got {lr.dtype}")
    if not steps.qualities:
        return lr
    gray = is_gray(lr)
    im = Image.fromarray(lr if lr.ndim == 2 else (lr[..., 0] if gray else lr[..., :3]))
    for quality in steps.qualities:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality, subsampling=steps.subsampling if not gray else 0)
        im = Image.open(io.BytesIO(buf.getvalue()))
        im.load()
    out = np.asarray(im)
    if lr.ndim == 3 and out.ndim == 2:  # gray pixels in an RGB array: back to three equal channels
        out = np.repeat(out[..., None], lr.shape[2], axis=2)
    return out


def degrade(lr: np.ndarray, level: int, seed: int, image_key: str,
            one_pass: tuple[int, ...] = (), lower_share: float = LOWER_LEVEL_SHARE) -> tuple[np.ndarray, JpegSteps]:
    """One training image's LR side at ``level``: (degraded pixels, the steps taken)."""
    steps = jpeg_steps(level, image_rng(seed, level, image_key), one_pass, lower_share)
    return jpeg_degrade(lr, steps), steps


def degrade_as(lr: np.ndarray, noise: tuple[int, ...], image_key: str) -> tuple[np.ndarray, JpegSteps]:
    """:func:`degrade` as a config's ``data.noise`` says: (level, seed), (level, seed, lowest, highest), or
    (level, seed, lowest, highest, lower-level share in percent)."""
    level, seed, *rest = noise
    share = rest[2] / 100 if len(rest) > 2 else LOWER_LEVEL_SHARE
    return degrade(lr, level, seed, image_key, tuple(rest[:2]), share)
