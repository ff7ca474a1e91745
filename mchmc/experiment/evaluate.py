"""Per-image test scores: the raw material of the paper's Tables 7-10.

One :class:`ImageScore` per (method, fold, test image). Conventions (paper
section 4.1, and the SR literature for crop 2):

- HR = the test image cropped to even size; its Y (BT.601 "MATLAB") on the
  0..255 scale is the reference. LR = MATLAB-bicubic 1/2 of the uint8 HR image
  (:func:`mchmc.train.data.hr_lr_y`), exactly what the model saw in training.
- SR = the model's Y through :class:`~mchmc.engine.Engine` (the inference path:
  tiles, replicated border), clipped and rounded to 8-bit levels, as a saved
  page would be. The bicubic row upsamples the same LR Y with the same
  MATLAB-compatible ``imresize``.
- ``psnr`` / ``ssim`` exclude :data:`~mchmc.metrics.NET_BORDER` (10) HR px on
  every side: the border the unpadded net cannot predict, the paper's
  "centre". ``psnr2`` / ``ssim2`` exclude 2 px (the literature and the peer
  benchmark).
- ``seconds``: wall time of the inference call alone (LR plane in, SR plane
  out; for MCH-MC the category comes from the same pass), no I/O, no metrics:
  the paper's Table 8. ``predicted`` / ``probs``: MCH-MC's category (Table 9,
  10) read exactly as ``mchmc classify`` reads the LR image as a page
  (:func:`mchmc.pages.category.page_category_stats`): pooled whole up to
  ``VIEW_PIXELS`` LR pixels (a BSDS100 photo), through the category view above
  it (a Manga109 page, a Hradis crop). Before issue 30 every image was pooled
  whole here, so the tables judged big test images by another rule than the
  one users get; the head learned on patches, and the view keeps a big page in
  that distribution. The top category is :func:`mchmc.modelconfig.top_category`.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mchmc.train.data import ImageRef, hr_lr_y, load_rgb
from mchmc.engine import Engine
from mchmc.metrics import NET_BORDER, psnr, ssim
from mchmc.model import MCH
from mchmc.modelconfig import top_category
from mchmc.pages.category import page_category_stats
from mchmc.resize import imresize

BICUBIC = "Bicubic"  # the method name of the bicubic row
# How a record's scores were made; part of its key (mchmc.experiment.cells), so an older record is scored again.
# 2 (issue 30): the category as mchmc classify reads the page (a big image's view), Y from colour.luminance.
SCORING = 2


@dataclass(frozen=True)
class ImageScore:
    """Scores of one method on one test image."""

    method: str
    fold: int
    category: str
    name: str
    psnr: float  # dB, Y, NET_BORDER excluded (paper)
    ssim: float
    psnr2: float  # dB, Y, 2 px excluded (literature)
    ssim2: float
    seconds: float = 0.0  # inference only
    lr_pixels: int = 0
    predicted: str = ""  # MCH-MC's top-1 category ("" for models without a classifier)
    probs: tuple[float, ...] = ()  # in the model's category order

    @property
    def classified(self) -> bool:
        return bool(self.predicted)

    @property
    def correct(self) -> bool:
        return self.predicted == self.category


@dataclass(frozen=True)
class TestImage:
    category: str
    name: str
    hr: np.ndarray  # HR Y, normalised float
    lr: np.ndarray  # LR Y, normalised float (the model's input)


def load_test_image(ref: ImageRef, scale: int = 2) -> TestImage:
    hr, lr = hr_lr_y(load_rgb(ref.path), scale)
    return TestImage(ref.category, ref.name, hr, lr)


def to_8bit_levels(y: np.ndarray) -> np.ndarray:
    """Normalised Y -> float64 on 0..255, clipped and rounded (what a saved 8-bit page holds)."""
    return np.rint(np.clip(np.asarray(y, np.float64), 0.0, 1.0) * 255.0)


def image_metrics(sr8: np.ndarray, hr_y: np.ndarray) -> dict[str, float]:
    """PSNR / SSIM of an SR Y (0..255) against the HR Y (normalised), at the paper's border and at 2 px."""
    hr8 = np.asarray(hr_y, np.float64) * 255.0
    if sr8.shape != hr8.shape:
        raise ValueError(f"SR {sr8.shape} and HR {hr8.shape} differ in size")
    return {"psnr": float(psnr(sr8, hr8, NET_BORDER)), "ssim": float(ssim(sr8, hr8, NET_BORDER)),
            "psnr2": float(psnr(sr8, hr8, 2)), "ssim2": float(ssim(sr8, hr8, 2))}


def bicubic_up(lr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The bicubic row: MATLAB-compatible imresize of the LR Y to the HR size."""
    return imresize(np.asarray(lr, np.float64), output_shape=shape)


def score_image(engine: Engine, img: TestImage, method: str, fold: int) -> ImageScore:
    """One test image's :class:`ImageScore` (see the module doc for the conventions)."""
    classify = engine.config.has_classifier
    t0 = time.perf_counter()
    res = engine.upscale(img.lr, gap=classify)
    probs = engine.probabilities(page_category_stats(engine, img.lr, whole=res.gap)) if classify else None
    seconds = time.perf_counter() - t0
    cats = list(engine.config.categories)
    return ImageScore(method, fold, img.category, img.name, **image_metrics(to_8bit_levels(res.sr), img.hr),
                      seconds=seconds, lr_pixels=int(img.lr.size),
                      predicted=top_category(probs, cats) if classify else "",
                      probs=tuple(round(float(p), 6) for p in probs) if classify else ())


def evaluate_model(model: MCH, refs: list[ImageRef], method: str, fold: int, *, tile: int | None = 256,
                   precision: str = "fp32", progress: Callable[[int, int, str], None] | None = None
                   ) -> list[ImageScore]:
    """Score ``model`` on every image of ``refs`` (see the module doc for the conventions)."""
    engine = Engine(model, tile=tile, precision=precision)
    out = []
    for i, ref in enumerate(refs):
        out.append(score_image(engine, load_test_image(ref, model.config.scale), method, fold))
        if progress:
            progress(i + 1, len(refs), ref.name)
    return out


def evaluate_bicubic(refs: list[ImageRef], fold: int, scale: int = 2,
                     progress: Callable[[int, int, str], None] | None = None) -> list[ImageScore]:
    """The bicubic row on the same images, same crops and quantisation."""
    out = []
    for i, ref in enumerate(refs):
        img = load_test_image(ref, scale)
        t0 = time.perf_counter()
        up = bicubic_up(img.lr, img.hr.shape)
        seconds = time.perf_counter() - t0
        out.append(ImageScore(BICUBIC, fold, ref.category, ref.name, **image_metrics(to_8bit_levels(up), img.hr),
                              seconds=seconds, lr_pixels=int(img.lr.size)))
        if progress:
            progress(i + 1, len(refs), ref.name)
    return out
