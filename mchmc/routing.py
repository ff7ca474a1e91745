"""The category chooses the reconstruction: a page the head names is upscaled by that category's specialist.

Why (issue 27): the paper's network learns the category only to shape its shared features; one set of
weights still reconstructs photographs, manga and text alike, and the quality tier's last gaps to
waifu2x-upconv7 sit in single categories (nature on clean pages, manga on JPEG pages). A *specialist* is
the same network fine-tuned on one category's patches only (``train.specialise``); on the validation
images it recovered most of those gaps at no cost per pixel (docs/quality-tier.md).

How: a model file ``X.pt`` (or a noise-level variant ``X-noise1.pt``) may have specialists beside it,
``X-for-<category>.pt`` (``X-noise1-for-manga.pt``; :func:`mchmc.modelfile.specialist_files`). Before a
page is upscaled, ``X``'s own head reads it the one way every reader of the head does
(:func:`mchmc.pages.category.head_plane`: the page whole, or its view when it is big, so every band of a
page decides alike); when its top category has a specialist, the
page's pixels come from the specialist and its GAP statistics, its category and the report's
probabilities still from ``X`` (a specialist's head is not trained). Pages of a category without a
specialist, and models without any, are upscaled exactly as before. Where the level has a router
(``router/<stem>.pt``, :mod:`mchmc.router`), the router names the specialist instead of the head's top
category: it reads the head's features and the page's colour and edges, and tells photographs from
drawn art where the head is unsure. The report's category stays the head's. A category may also have
band specialists, ``X-noise3-for-manga-q45.pt`` (:func:`mchmc.modelfile.band_files`): the page's JPEG
quality, read from its tables, then picks the file within the category, the highest band at or below it.

Cost: the head's statistics are read once, before the page is upscaled, and the page's pass takes them
(it pooled them itself before): a big page's view costs what it cost; a page small enough to be pooled
whole (at most :data:`mchmc.pages.category.VIEW_PIXELS` LR px) runs ``X``'s conv1 and conv2 over it
once more, since the specialist's own features are not ``X``'s (``bench/routing.py``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mchmc.engine import EngineResult, GapStats, Region
from mchmc.errors import ModelFileError


def page_route(engine, page, router=None) -> tuple[str | None, GapStats | None]:
    """(category, statistics): the category whose specialist upscales ``page`` (a whole
    :class:`~mchmc.pages.meta.Page`), and the GAP statistics ``engine``'s head read, which the page's pass
    then takes instead of pooling again (``upscale_page(..., head_stats=)``). The category is the head's
    top one, or ``router``'s (a :class:`mchmc.router.Router` fitted on this engine's features) when the
    level has one. (None, None) for a model without a head."""
    from mchmc.modelconfig import top_category
    from mchmc.pages.category import page_category_stats
    from mchmc.router import route_inputs

    if not engine.config.has_classifier:
        return None, None
    if router is not None:
        features, stats = route_inputs(engine, page)
        return router.category(features), stats
    stats = page_category_stats(engine, page)
    return top_category(engine.category_probs(stats)), stats


class RoutedEngine:
    """:class:`~mchmc.engine.Engine`'s interface over two engines: ``head``'s model (the one the user chose)
    gives the config, the GAP statistics and the category; ``sr``'s (a specialist) the upscaled pixels. The
    specialist may be deeper than its model (a larger halo, :data:`mchmc.modelconfig.ARCHITECTURES`'
    ``mch-mc-quality-deep``): the config the page path reads then asks for the larger halo's rows."""

    def __init__(self, head, sr, path: str | Path = ""):
        if sr.config.scale != head.config.scale:
            raise ModelFileError(path or "specialist", f"a specialist must upscale by its model's "
                                 f"{head.config.scale}x, not {sr.config.scale}x")
        self.head, self.sr = head, sr
        self.config = _RowsOfBoth(head.config, max(head.config.halo, sr.config.halo))
        self.model, self.tile, self.tta = head.model, sr.tile, sr.tta

    def run(self, plane: np.ndarray, region: Region | None = None, sr: bool = True, gap: bool = False,
            out: np.ndarray | None = None) -> EngineResult:
        pixels = self.sr.run(plane, region, sr=True, out=out).sr if sr else None
        stats = self.head.run(plane, region, sr=False, gap=True).gap if gap else None
        return EngineResult(pixels, stats)

    def upscale(self, plane: np.ndarray, gap: bool = False) -> EngineResult:
        return self.run(plane, sr=True, gap=gap)

    def gap_stats(self, plane: np.ndarray, region: Region | None = None) -> GapStats:
        return self.head.gap_stats(plane, region)

    def category_probs(self, stats: GapStats):
        return self.head.category_probs(stats)

    def probabilities(self, stats: GapStats) -> np.ndarray:
        return self.head.probabilities(stats)


class _RowsOfBoth:
    """The head's config (scale, classifier, F2 width, categories) with the halo the page's rows must cover
    for both networks (each engine pads and tiles by its own)."""

    def __init__(self, config, halo: int):
        self._config, self.halo = config, halo

    def __getattr__(self, name: str):
        return getattr(self._config, name)
