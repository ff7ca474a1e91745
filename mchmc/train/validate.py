"""Validation during training: whole held-out images through the inference engine.

Each validation image is centre-cropped (``train.val_crop`` HR px), its LR made
by the MATLAB-bicubic 1/2 of the uint8 crop (the test-time input), and the
model's Y output (through :class:`mchmc.engine.Engine`, exactly the inference
path, border replicated) is scored against the HR Y with
:func:`mchmc.metrics.psnr` at crop 2 (the peer benchmark's convention) and at
``NET_BORDER`` (the paper's). SR Y is clipped to [0, 1] but not quantised.
For MCH-MC the category (classification accuracy, paper Table 9 / Fig. 12) is
read as ``mchmc classify`` reads the LR image as a page
(:func:`mchmc.pages.category.page_category_stats`): whole up to ``VIEW_PIXELS``
LR pixels (every 256 px ``val_crop``), through the category view above it
(``val_crop = 0`` on Manga109 or Hradis images). Before issue 30 every image
was pooled whole here; the head learned on patches, and the view keeps a big
image in that distribution, so ``val_acc`` now scores the rule users get.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mchmc.train.data import ImageRef, centre_crop, hr_lr_y, load_rgb
from mchmc.engine import Engine
from mchmc.metrics import NET_BORDER, psnr
from mchmc.model import MCH
from mchmc.modelconfig import top_category
from mchmc.pages.category import page_category_stats
from mchmc.resize import imresize


@dataclass
class ValImage:
    category: str
    name: str
    hr: np.ndarray  # HR Y, normalised float
    lr: np.ndarray  # LR Y
    bicubic_psnr: float  # crop 2
    group: str = ""  # what it is reported under: the category, or e.g. ``text_rendered`` (ImageRef.group)


class Validator:
    def __init__(self, refs: list[ImageRef], per_category: int, crop: int, scale: int,
                 noise: tuple[int, ...] | None = None):
        """``noise``: validate on LR images degraded as the training ones are (a denoising model is
        scored on what it learned to undo)."""
        chosen: dict[str, list[ImageRef]] = {}
        for r in refs:
            if len(chosen.setdefault(r.group, [])) < per_category:
                chosen[r.group].append(r)
        self.images: list[ValImage] = []
        for group, rs in chosen.items():
            for r in rs:
                img = centre_crop(load_rgb(r.path), crop, scale)
                hr, lr = hr_lr_y(img, scale, noise, r.path.name)
                bic = np.clip(imresize(lr.astype(np.float64), output_shape=hr.shape), 0, 1)
                self.images.append(ValImage(r.category, r.name, hr, lr, psnr(bic * 255, hr * 255, 2), group))
        self.categories = list(chosen)  # the reported groups: categories, then rendered pages (text_rendered)
        # the mean is over the categories' own images, so it means what it meant before rendered pages existed
        self.mean_over = [g for g in self.categories if any(v.group == g == v.category for v in self.images)]

    def bicubic(self) -> dict[str, float]:
        return self._mean({c: [v.bicubic_psnr for v in self.images if v.group == c] for c in self.categories})

    def _mean(self, per_group: dict[str, list[float]]) -> dict[str, float]:
        out = {c: float(np.mean(v)) for c, v in per_group.items() if v}
        base = [out[c] for c in self.mean_over if c in out]
        if base:
            out["mean"] = float(np.mean(base))
        return out

    def outputs(self, model: MCH, precision: str = "fp32"):
        """Each validation image with the model's SR Y (0..255, clipped, not quantised) and whether the
        category head got it right (None for a model without one): what every score is computed from."""
        engine = Engine(model, tile=None, precision=precision)
        cats = list(model.config.categories)
        for v in self.images:
            sr = np.clip(engine.upscale(v.lr).sr, 0, 1) * 255.0
            correct = None
            if model.config.has_classifier and v.category in cats:
                prob = engine.probabilities(page_category_stats(engine, v.lr))  # as mchmc classify reads it
                correct = top_category(prob, cats) == v.category
            yield v, sr, correct

    def evaluate(self, model: MCH, precision: str = "fp32") -> dict[str, float]:
        """{'psnr_<cat>': dB crop 2, 'psnr_mean', 'psnr10_mean' (paper border), 'val_acc' (MCH-MC)}."""
        if not self.images:
            return {}
        p2: dict[str, list[float]] = {c: [] for c in self.categories}
        p10: dict[str, list[float]] = {c: [] for c in self.categories}
        correct = []
        for v, sr, right in self.outputs(model, precision):
            p2[v.group].append(psnr(sr, v.hr * 255.0, 2))
            p10[v.group].append(psnr(sr, v.hr * 255.0, NET_BORDER))
            if right is not None:
                correct.append(right)
        out = {f"psnr_{k}": x for k, x in self._mean(p2).items()}
        out["psnr10_mean"] = self._mean(p10).get("mean", float("nan"))
        if correct:
            out["val_acc"] = float(np.mean(correct))
        return out
