"""Which networks make a page: the model's own engine, its JPEG noise levels, its category specialists,
the chroma network and the ``--scale 4`` second pass, each loaded on the first page that needs it.

One :class:`PageEngines` per :class:`~mchmc.batch.worker.pageworker.PageWorker` (a Ray actor), so a
worker's calls (pages, bands, volume members) share the loaded engines. With a network service
(``--gpus``) each engine is a :class:`~mchmc.batch.network.proxy.NetworkProxy`: the service runs the
network, this process the codec and the category head.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mchmc.batch.options import BatchOptions
from mchmc.batch.records import PageRecord
from mchmc.errors import FileError


@dataclass(frozen=True)
class Route:
    """How a page is upscaled: ``engine`` (its level's, or that level's specialist for ``category``), the
    noise ``choice``, and the head's ``stats`` of the page when routing read them (else None)."""

    engine: object
    choice: object  # mchmc.pages.noise.NoiseChoice
    category: str | None
    stats: object | None  # mchmc.engine.GapStats


class PageEngines:
    """The engines of one worker. Raises :class:`~mchmc.errors.MchmcError` when the model cannot load."""

    def __init__(self, options: BatchOptions, network=None, device: str = "cpu"):
        from mchmc.modelfile import (
            band_files,
            noise_variants,
            resolve_model,
            specialist_files,
        )

        self.options, self.network, self.device = options, network, device
        self.engine = self._load(options.model)
        self.categories = self.engine.model.config.categories
        # --noise: the model's level variants, each loaded on the first page that needs it
        self.variants = noise_variants(options.model) if options.noise != "none" else {}
        self.engines = {None: self.engine}
        self.chroma_model = None  # the model's chroma network (mchmc.chroma.chroma_file), loaded when first needed
        self.chromas: dict = {}  # JPEG level -> ChromaEngine over that one model
        self.model_file = resolve_model(options.model)
        files = {None: self.model_file, **self.variants}
        self.model_names = {k: Path(p).name for k, p in files.items()}
        # the category chooses the reconstruction (mchmc.routing): level -> category -> specialist file
        self.specialists = {} if options.classify_only else \
            {k: found for k, p in files.items() if (found := specialist_files(p, self.categories))}
        # and the top of a level's qualities its own file (mchmc.modelfile.band_files): level -> category -> bands
        self.bands = {} if options.classify_only else \
            {k: found for k, p in files.items() if (found := band_files(p, self.categories))}
        self.specialist_engines: dict = {}  # specialist file -> RoutedEngine, built on the first page that needs it
        self.level_files = files
        self.routers: dict = {}  # level -> its mchmc.router.Router (None: the head routes), read on first use

    def _load(self, model_file):
        """An engine for ``model_file``, warmed up (the backend's kernels are picked on the first call)."""
        from mchmc.engine import Engine
        from mchmc.modelfile import load_model

        model = load_model(model_file).model
        engine = Engine(model, tile=self.options.tile, device=self.device, precision=self.options.precision,
                        tta=self.options.tta)
        if self.network is not None:  # the network runs in the service; this engine gives config and head
            from mchmc.batch.network.proxy import NetworkProxy

            return NetworkProxy(engine, self.network, model_file)
        engine.run(np.zeros((24, 24), np.float32), gap=model.config.has_classifier)
        return engine

    def noise(self, meta, record: PageRecord | None = None):
        """(engine, choice) for a page: the level ``--noise`` picks for it; the record keeps level and reason."""
        from mchmc.pages.noise import choose

        choice = choose(self.options.noise, meta, frozenset(self.variants))
        if choice.level not in self.engines:
            if choice.level not in self.variants:
                raise FileError(meta.path, f"--noise {choice.level}: the model has no such noise-level variant")
            self.engines[choice.level] = self._load(self.variants[choice.level])
        if record is not None:
            record.add_noise(choice.label, choice.reason, self.model_names.get(choice.level, ""))
        return self.engines[choice.level], choice

    def routed(self, page, record: PageRecord | None = None) -> Route:
        """How ``page`` (the whole page) is upscaled: its level's engine, or that level's specialist for the
        category the level's head names (:mod:`mchmc.routing`). The record keeps the level, its reason
        and the file that made the pixels."""
        from mchmc.routing import page_route

        engine, choice = self.noise(page.meta)
        routes = self.specialists.get(choice.level) or self.bands.get(choice.level)
        category, stats = page_route(engine, page, self.router(choice.level)) if routes else (None, None)
        quality = page.meta.jpeg_quality
        if record is not None:
            record.add_noise(choice.label, choice.reason, self.made_by(choice.level, category, quality))
        return Route(self.specialist(choice.level, category, quality), choice, category, stats)

    def router(self, level):
        """The level's router (``router/<level file's stem>.pt``, :mod:`mchmc.router`), checked against the
        level's file on first use; None when it has none (the head's top category routes)."""
        if level not in self.routers:
            from mchmc.router import load_router, router_file

            path, model_file = router_file(self.level_files[level]), self.level_files[level]
            config = self.engines[level].config
            self.routers[level] = load_router(path, model_file, tuple(config.categories), config.channels[1]) \
                if path.is_file() else None
        return self.routers[level]

    def specialist(self, level, category: str | None, quality: int | None = None):
        """The engine that upscales a page of ``category`` and estimated JPEG ``quality`` at ``level``: the
        level's specialist for it (its band's, :func:`mchmc.modelfile.specialist_for`), if the model has one
        (loaded on the first page that needs it), else the level's own engine (loaded by :meth:`noise`)."""
        from mchmc.routing import RoutedEngine

        spec = self._specialist_file(level, category, quality)
        if spec is None:
            return self.engines[level]
        if spec not in self.specialist_engines:
            self.specialist_engines[spec] = RoutedEngine(self.engines[level], self._load(spec), spec)
        return self.specialist_engines[spec]

    def made_by(self, level, category: str | None, quality: int | None = None) -> str:
        """The name of the file that upscales a page of ``category`` and ``quality`` at ``level``."""
        spec = self._specialist_file(level, category, quality)
        return spec.name if spec is not None else self.model_names.get(level, "")

    def _specialist_file(self, level, category: str | None, quality: int | None):
        from mchmc.modelfile import specialist_for

        return specialist_for(self.specialists.get(level, {}).get(category),
                              self.bands.get(level, {}).get(category, ()), quality)

    def chroma(self, choice):
        """The chroma network at the page's JPEG level (:mod:`mchmc.chroma`); None for a page upscaled
        with the clean model (its bicubic chroma is kept byte for byte) or under ``--no-chroma``."""
        if choice.level is None or not self.options.chroma:
            return None
        if choice.level not in self.chromas:
            from mchmc.chroma import ChromaEngine, chroma_file, load_chroma

            if self.chroma_model is None:  # the model's own chroma network, else the shipped one
                self.chroma_model = load_chroma(chroma_file(self.model_file))
            self.chromas[choice.level] = ChromaEngine(self.chroma_model, choice.level, tile=self.options.tile or 256)
        return self.chromas[choice.level]

    def second_pass(self, page, category: str | None = None):
        """``--scale 4``: the engine of the second 2x pass (the model itself, or its specialist for the page's
        ``category``: the first pass has removed the JPEG noise), after checking the page's memory for both
        passes; else None."""
        if self.options.scale == self.engine.config.scale:
            return None
        from mchmc.pages.limits import check_memory

        meta = page.meta
        check_memory(meta.path, meta.width, meta.height, meta.channels, page.pixels.dtype.itemsize,
                     self.options.max_bytes, bits=meta.bits, scale=self.options.scale)
        return self.specialist(None, category)
