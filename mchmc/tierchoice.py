"""Which tier a run uses, and what ``mchmc info`` says of each: the tier table (:mod:`mchmc.tiers`)
read against the model files this version ships (:mod:`mchmc.modelfile`). Free of torch."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mchmc import modelfile
from mchmc.tiers import FAST, QUALITY, TIERS, Tier, tier_named, validation_psnr


def tier_of(path: str | Path) -> Tier | None:
    """The tier whose shipped file (clean or a noise level, or a specialist of either) ``path`` is, else None."""
    path = Path(path)
    if path.parent.resolve() != modelfile.SHIPPED_DIR.resolve():
        return None
    stem = path.stem.split("-for-", 1)[0]  # a specialist's: its model's (mchmc.modelfile.SPECIALIST)
    stem = stem.rsplit("-noise", 1)[0] if stem[-1:].isdigit() else stem
    return next((t for t in TIERS.values() if t.stem == stem), None)


def installed(tier: Tier) -> Path | None:
    """The tier's model file, or None when this version does not ship it."""
    return modelfile.shipped_models().get(tier.stem)


@dataclass(frozen=True)
class Choice:
    """The model a batch run uses and why."""

    model: str | None  # what --model becomes (None: mchmc.modelfile.DEFAULT_MODEL, the fast tier)
    tier: Tier | None  # the tier it is (None: another model, named by --model)
    why: str

    def line(self) -> str:
        """One line for the summary: which tier (or model) and why."""
        if self.tier is None:
            return f"model: {self.model} ({self.why})"
        named = self.model if self.model not in (None, self.tier.name) else f"{self.tier.stem}.pt"
        return f"tier: {self.tier.name} ({named}; {self.why})"


def choose_model(model: str | None, gpus: int) -> Choice:
    """The model of ``mchmc upscale`` / ``classify``: an explicit ``--model`` always wins; without
    one, the quality tier when the network runs on GPUs (``gpus`` > 0) and its weights are
    installed, else the fast tier (the CPU default, unchanged)."""
    if model is not None:
        named = tier_named(model)
        shipped = modelfile.shipped_models().get(str(model).lower())
        tier = named or (tier_of(shipped) if shipped else None)
        return Choice(model, tier, "--model")
    if gpus > 0 and installed(QUALITY):
        return Choice(QUALITY.name, QUALITY, f"the default with --gpus {gpus}")
    if gpus > 0:
        return Choice(None, FAST, "the default with --gpus: the quality tier's weights are not in this version")
    return Choice(None, FAST, "the default")


@dataclass(frozen=True)
class TierFacts:
    """What ``mchmc info`` says of a tier, read from the files' headers (no torch)."""

    tier: Tier
    path: Path | None  # None: not installed
    arch: str
    macs: int  # multiply-adds per LR pixel
    noise: dict[int, Path]  # JPEG noise level -> file
    validation: dict[str, dict[str, float]]  # file name -> {category (and mean): validation PSNR-Y dB}
    specialists: dict[int | None, dict[str, Path]] = field(default_factory=dict)  # level (None: clean) -> category -> file
    routers: frozenset = frozenset()  # levels whose specialists a router chooses (mchmc.router), not the head
    bands: dict = field(default_factory=dict)  # level -> category -> ((lowest quality, file), ...) (band_files)

    @property
    def specialist_words(self) -> str:
        """``clean: nature; 3: nature, manga, manga q45+ (router)`` (mchmc.routing, mchmc.router), or ``none``."""
        words = {k: [*self.specialists.get(k, {}), *(f"{c} q{q}+" for c, found in self.bands.get(k, {}).items()
                                                      for q, _ in found)]
                 for k in dict.fromkeys([*self.specialists, *self.bands])}
        return "; ".join(f"{'clean' if k is None else k}: {', '.join(v)}{' (router)' if k in self.routers else ''}"
                         for k, v in words.items()) or "none"


def facts(tier: Tier) -> TierFacts:
    from mchmc.modelconfig import ARCHITECTURES
    from mchmc.router import router_file

    path = installed(tier)
    if path is None:
        return TierFacts(tier, None, tier.arch, ARCHITECTURES[tier.arch].macs_per_lr_pixel, {}, {})
    _, config, provenance = modelfile.read_provenance(path)
    noise = modelfile.noise_variants(path)
    specialists = {k: found for k, p in {None: path, **noise}.items()
                   if (found := modelfile.specialist_files(p, config.categories))}
    bands = {k: found for k, p in {None: path, **noise}.items() if (found := modelfile.band_files(p, config.categories))}
    validation = {path.name: validation_psnr(provenance)}
    for file in [*noise.values(), *(f for found in specialists.values() for f in found.values()),
                 *(f for found in bands.values() for band in found.values() for _, f in band)]:
        validation[file.name] = validation_psnr(modelfile.read_provenance(file)[2])
    routers = frozenset(k for k, p in {None: path, **noise}.items()
                        if (k in specialists or k in bands) and router_file(p).is_file())
    return TierFacts(tier, path, config.arch, config.macs_per_lr_pixel, noise, validation, specialists, routers,
                     bands)
