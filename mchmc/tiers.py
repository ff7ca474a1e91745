"""The two tiers, in one table: the names ``--model fast`` and ``--model quality`` stand for.

- ``fast``: the paper-size MCH-MC (``srformc``), the default on a CPU: an archive in hours.
- ``quality``: a larger MCH-MC (``srformc-quality``, architecture ``mch-mc-quality``) for GPU
  boxes, where the network is nearly free and only the page matters (docs/quality-tier.md).

A tier is a name for a shipped model file (``mchmc/weights/<stem>.pt``), so its JPEG noise
levels are that file's ``<stem>-noise<k>.pt`` (:func:`mchmc.modelfile.noise_variants`).
:func:`mchmc.modelfile.resolve_model` takes a tier's name wherever a model name is taken, and
refuses, in one line, a tier whose file this version does not ship. This module is the table
only (no files read, free of torch), so the model-file loader can import it;
:mod:`mchmc.tierchoice` reads it against the installed files.
"""
from __future__ import annotations

from dataclasses import dataclass

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


def validation_psnr(provenance: dict) -> dict[str, float]:
    """``provenance["validation"]``'s PSNR figures by category (``psnr_nature`` -> ``nature``), mean last."""
    found = provenance.get("validation") or {}
    return {k.removeprefix("psnr_"): float(v) for k, v in found.items()
            if k.startswith("psnr_") and isinstance(v, (int, float))}
