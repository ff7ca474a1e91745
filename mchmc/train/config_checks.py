"""The checks on a config's values: each section's problems, the first of which is raised in one line.

:mod:`mchmc.train.config` calls :func:`check_values` on every section it reads; the shapes and defaults are
in :mod:`mchmc.train.config_schema`.
"""
from __future__ import annotations

from mchmc.precision import PRECISION_CHOICES
from mchmc.train.config_schema import (
    COPY_WEIGHTS,
    INITS,
    PLANES,
    SCHEDULES,
    VALIDATIONS,
    ConfigError,
    DataConfig,
    FoldConfig,
    PhaseConfig,
    TrainConfig,
)
from mchmc.train.device import DeviceError, check_device


def check_values(obj, prefix: str) -> None:
    """Raise :class:`ConfigError` for a value out of its range (``prefix``: the section, for the message)."""
    for cls, problems in ((PhaseConfig, _phase_problems), (TrainConfig, _train_problems),
                          (DataConfig, _data_problems), (FoldConfig, _fold_problems)):
        if isinstance(obj, cls):
            for key, why in problems(obj):  # the first one
                raise ConfigError(f"{prefix}.{key}: {why}" if prefix else f"{key}: {why}")


def _phase_problems(obj: PhaseConfig):
    if obj.steps < 0:
        yield ("steps", "must be >= 0")
    for k in ("lr", "lr_conv3"):
        if not getattr(obj, k) > 0:
            yield (k, "must be > 0")
    for k in ("r_mse", "r_sce", "min_lr_ratio", "warmup"):
        if getattr(obj, k) < 0:
            yield (k, "must be >= 0")
    if not 0 <= obj.dropout < 1:
        yield ("dropout", "must be in [0, 1)")
    if obj.schedule not in SCHEDULES:
        yield ("schedule", f"must be one of {SCHEDULES}, not {obj.schedule!r}")


def _train_problems(obj: TrainConfig):
    for k in ("batch", "checkpoint_every", "log_every"):
        if getattr(obj, k) < 1:
            yield (k, "must be >= 1")
    if obj.init not in INITS:
        yield ("init", f"must be one of {INITS}, not {obj.init!r}")
    if obj.validation not in VALIDATIONS:
        yield ("validation", f"must be one of {VALIDATIONS}, not {obj.validation!r}")
    if obj.precision not in PRECISION_CHOICES:
        yield ("precision", f"must be one of {PRECISION_CHOICES}, not {obj.precision!r}")
    from mchmc.modelconfig import ARCHITECTURES

    if obj.arch and obj.arch not in ARCHITECTURES:
        yield ("arch", f"must be \"\" (the method's) or one of {', '.join(ARCHITECTURES)}, not {obj.arch!r}")
    try:
        check_device(obj.device)
    except DeviceError as err:
        yield ("device", str(err))
    if not all(0 <= b < 1 for b in obj.betas):
        yield ("betas", "must be in [0, 1)")
    for k in ("val_images", "val_crop", "threads"):
        if getattr(obj, k) < 0:
            yield (k, "must be >= 0")
    if any(not 0 <= w < float("inf") for w in obj.mse_weight.values()):
        yield ("mse_weight", "each factor must be a finite number >= 0")
    if len(set(obj.specialise)) != len(obj.specialise):
        yield ("specialise", "names a category twice")
    if obj.copy_weight not in COPY_WEIGHTS:
        yield ("copy_weight", f"must be one of {', '.join(COPY_WEIGHTS)}, not {obj.copy_weight!r}")
    if obj.never_worse and not obj.init_from:
        yield ("never_worse", "needs train.init_from (the start it is never worse than)")
    if obj.never_worse and (obj.validation != "train" or obj.val_images < 1):
        yield ("never_worse", ("decides on validation pages carved out of the training folds: needs "
                               "train.validation = \"train\" and train.val_images >= 1"))


def _data_problems(obj: DataConfig):
    if set(obj.stride) != set(obj.folders):
        yield ("stride", f"needs one stride per category {sorted(obj.folders)}, got {sorted(obj.stride)}")
    if any(s < 1 for s in obj.stride.values()):
        yield ("stride", "must be >= 1")
    if obj.patch < 2 or obj.patch % 2:
        yield ("patch", "must be an even number of HR px")
    if obj.limit < 0:
        yield ("limit", "must be >= 0")
    if obj.noise_level not in (-1, 0, 1, 2, 3):
        yield ("noise_level", "must be -1 (clean) or a JPEG noise level 0..3")
    if obj.noise_one_pass and (len(obj.noise_one_pass) != 2 or not 1 <= obj.noise_one_pass[0] <= obj.noise_one_pass[1] <= 100):
        yield ("noise_one_pass", "must be [lowest, highest] JPEG qualities, 1 <= lowest <= highest <= 100")
    if obj.noise_one_pass and obj.noise_level < 0:
        yield ("noise_one_pass", "needs data.noise_level (the level whose one-pass qualities it sets)")
    if obj.noise_lower_share != -1 and not 0 <= obj.noise_lower_share <= 100:
        yield ("noise_lower_share", "must be a percent 0..100 (or -1: the table's)")
    if obj.noise_lower_share != -1 and obj.noise_level < 0:
        yield ("noise_lower_share", "needs data.noise_level (the level whose images it shares out)")
    if obj.noise_lower_share != -1 and obj.noise_level == 0:
        yield ("noise_lower_share", "level 0 has no lower level (the share would change nothing)")
    if not 1 <= obj.noise_copies <= 32:
        yield ("noise_copies", "must be 1..32 (degraded LR copies of each training image)")
    if any(not 0.25 <= sc <= 1 for sc in obj.copy_scales):
        yield ("copy_scales", "each must be in 0.25..1 (the size a copy's HR image is reduced to)")
    if obj.copy_scales and obj.noise_copies < len(obj.copy_scales):
        n, k = obj.noise_copies, len(obj.copy_scales)
        yield ("copy_scales", f"noise_copies ({n}) must make at least one copy per scale ({k})")
    if any(pl not in PLANES for pl in obj.copy_planes) or len(set(obj.copy_planes)) != len(obj.copy_planes):
        yield ("copy_planes", f"each must be one of {', '.join(PLANES)}, each once (the grey plane a copy is made from)")
    if obj.copy_planes and obj.noise_copies < len(obj.copy_planes) * max(len(obj.copy_scales), 1):
        n, k = obj.noise_copies, len(obj.copy_planes) * max(len(obj.copy_scales), 1)
        yield ("copy_planes", f"noise_copies ({n}) must make at least one copy per plane and size ({k})")
    if obj.rendered_pages < 0:
        yield ("rendered_pages", "must be >= 0")
    if obj.rendered_pages and "text" not in obj.folders:
        yield ("rendered_pages", "rendered pages are text: the config needs a text category")
    if obj.rendered_pages and obj.rendered_seed == 0:
        yield ("rendered_seed", "seed 0 renders the benchmark's test pages (bench/textpages.py); train on another")
    if obj.rendered_stride < 1:
        yield ("rendered_stride", "must be >= 1")
    unknown = sorted(c for c in obj.extra_folders.values() if c not in obj.folders)
    if unknown:
        yield ("extra_folders", f"categories {unknown} are not in data.folders {sorted(obj.folders)}")
    if set(obj.extra_reduce) - set(obj.extra_folders):
        yield ("extra_reduce", f"folders {sorted(set(obj.extra_reduce) - set(obj.extra_folders))} are not extra_folders")
    if any(r < 1 for r in obj.extra_reduce.values()):
        yield ("extra_reduce", "must be >= 1")
    if obj.extra_stride < 1:
        yield ("extra_stride", "must be >= 1")


def _fold_problems(obj: FoldConfig):
    if obj.k < 2:
        yield ("k", "must be >= 2")
