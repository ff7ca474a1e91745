"""The two tiers, in one table: the names ``--model fast`` and ``--model quality`` stand for.

- ``fast``: the paper-size MCH-MC (``srformc``), the default on a CPU: an archive in hours.
- ``quality``: a larger MCH-MC (``srformc-quality``, architecture ``mch-mc-quality``) for GPU
  boxes, where the network is nearly free and only the page matters (docs/quality-tier.md).

A tier is a name for a shipped model file (``mchmc/weights/<stem>.pt``), so its JPEG noise
levels are that file's ``<stem>-noise<k>.pt`` (:func:`mchmc.modelfile.noise_variants`).
:func:`mchmc.modelfile.resolve_model` takes a tier's name wherever a model name is taken, and
refuses, in one line, a tier whose file this version does not ship. Free of torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

UPCONV7_MACS = 551_856  # waifu2x-upconv7's multiply-adds per LR pixel (docs/quality-tier.md, "Cost cap")


@dataclass(frozen=True)
class Tier:
    name: str  # what --model takes
    stem: str  # the shipped model file: mchmc/weights/<stem>.pt
    arch: str  # its architecture (mchmc.modelconfig.ARCHITECTURES)
    description: str  # one line


TIERS: dict[str, Tier] = {t.name: t for t in (
    Tier("fast", "srformc", "mch-mc", "the paper-size MCH-MC: the CPU default, an archive in hours"),
    Tier("quality", "srformc-quality", "mch-mc-quality",
         "a larger MCH-MC (4.1x the fast tier's multiply-adds): the GPU default when installed"),
)}
FAST, QUALITY = TIERS["fast"], TIERS["quality"]


def tier_named(name: object) -> Tier | None:
    """The tier called ``name`` (case-insensitive), None for any other model name or path."""
    return TIERS.get(str(name).lower()) if name is not None else None


def tier_of(path: str | Path) -> Tier | None:
    """The tier whose shipped file (clean or a noise level) ``path`` is, else None."""
    from mchmc import modelfile

    path = Path(path)
    if path.parent.resolve() != modelfile.SHIPPED_DIR.resolve():
        return None
    stem = path.stem.rsplit("-noise", 1)[0] if path.stem[-1:].isdigit() else path.stem
    return next((t for t in TIERS.values() if t.stem == stem), None)


def installed(tier: Tier) -> Path | None:
    """The tier's model file, or None when this version does not ship it."""
    from mchmc import modelfile

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
        from mchmc import modelfile

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


def validation_psnr(provenance: dict) -> dict[str, float]:
    """``provenance["validation"]``'s PSNR figures by category (``psnr_nature`` -> ``nature``), mean last."""
    found = provenance.get("validation") or {}
    return {k.removeprefix("psnr_"): float(v) for k, v in found.items()
            if k.startswith("psnr_") and isinstance(v, (int, float))}


def facts(tier: Tier) -> TierFacts:
    from mchmc.modelconfig import ARCHITECTURES
    from mchmc.modelfile import noise_variants, read_provenance

    path = installed(tier)
    if path is None:
        return TierFacts(tier, None, tier.arch, ARCHITECTURES[tier.arch].macs_per_lr_pixel, {}, {})
    _, config, provenance = read_provenance(path)
    noise = noise_variants(path)
    validation = {path.name: validation_psnr(provenance)}
    for level, file in noise.items():
        validation[file.name] = validation_psnr(read_provenance(file)[2])
    return TierFacts(tier, path, config.arch, config.macs_per_lr_pixel, noise, validation)
