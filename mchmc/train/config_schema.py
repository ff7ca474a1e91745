"""The experiment config's shape: frozen dataclasses with their defaults.

Their checks are in :mod:`mchmc.train.config_checks`.

:mod:`mchmc.train.config` reads a TOML file (with its ``base``) into a :class:`Config`;
:mod:`mchmc.train.config_toml` writes one back and says what of it is a run's identity.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mchmc.errors import MchmcError
from mchmc.train.degrade import ONE_PASS

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # mchmc/
REPO_ROOT = PACKAGE_DIR.parent

SCHEDULES = ("constant", "cosine")
INITS = ("paper", "kaiming")
VALIDATIONS = ("train", "test")
COPY_WEIGHTS = ("area", "image")  # train.copy_weight
PLANES = ("y", "r", "g", "b")  # data.copy_planes

# method -> (architecture, training categories); paper Table 6
METHODS: dict[str, tuple[str, tuple[str, ...]]] = {
    "SRforNature": ("mch", ("nature",)),
    "SRforManga": ("mch", ("manga",)),
    "SRforText": ("mch", ("text",)),
    "SRforAll": ("mch", ("nature", "manga", "text")),
    "SRforMC": ("mch-mc", ("nature", "manga", "text")),
}

QUIET = {"quiet": True}  # a field's metadata: left out of config_to_dict (config.toml, identity) at its default


class ConfigError(MchmcError):
    """A config file or override that is not valid; the message names the key."""


@dataclass(frozen=True)
class DataConfig:
    root: str = "../shared/datasets"
    folders: dict[str, str] = field(default_factory=lambda: {
        "nature": "nature_bsds100", "manga": "manga_manga109", "text": "text_hradis_bmvc_ocr_test_orig"})
    stride: dict[str, int] = field(default_factory=lambda: {"nature": 5, "manga": 10, "text": 5})
    patch: int = 60  # HR patch side (paper: 60x60 teaching signals)
    limit: int = 0  # images per category (0 = all); smoke configs use a few
    cache_dir: str = ""  # "" -> $MCHMC_CACHE or ~/.cache/mchmc/patches
    noise_level: int = -1  # JPEG degradation of the LR side (mchmc.train.degrade): -1 clean, 0..3
    noise_seed: int = 0
    # Issue 27: each training image's LR side degraded this many times, each copy with its own JPEG steps
    # (mchmc.train.degrade; copy 0 is the single-copy store's), so a category of few images (Manga109's 82
    # training covers) still meets the level's whole range of qualities and subsamplings. HR stored once per size.
    noise_copies: int = field(default=1, metadata=QUIET)
    # Issue 27, session 9: the HR sizes the copies are made at, in turn (copy k at ``copy_scales[k % n]``): a
    # training image reduced (MATLAB bicubic) is another HR image, lines closer and tones finer, as pages are
    # scanned at many sizes; ``noise_copies`` counts them, noise or not. Empty (the default): all full size.
    copy_scales: tuple[float, ...] = field(default=(), metadata=QUIET)
    # Issue 27, session 15: the grey plane each copy is made from, in turn after the sizes (copy k from
    # ``copy_planes[(k // n) % m]``, n sizes): "y" the image's own luminance, "r" / "g" / "b" one channel of a
    # colour image taken as a grey image, another photograph of the same scene with its own textures (foliage in
    # green, sky in blue). A grey image's planes are all its own. Empty (the default): every copy from "y".
    copy_planes: tuple[str, ...] = field(default=(), metadata=QUIET)
    # Issue 27, session 12: (lowest, highest) one-pass JPEG quality of the config's own level, in place of
    # mchmc.train.degrade's table, so a level learns every quality ``--noise auto`` sends it (level 3 serves
    # q <= 54, mchmc.pages.noise.AUTO_LEVELS; the table's one pass is q20-45). Empty (the default): the table's.
    noise_one_pass: tuple[int, ...] = field(default=(), metadata=QUIET)
    # Issue 27, session 13: the percent of the level's images given a lower level's steps (-1: the table's 25).
    # They keep a level from over-smoothing a lightly compressed page, and the share decides where in its range
    # the level's network is best (more: better at its top; docs/quality-tier.md, session 13).
    noise_lower_share: int = field(default=-1, metadata=QUIET)
    # Rendered document pages (mchmc.train.textpages) added to the text category's training images (issue 14,
    # item 5): never in a test fold; ``train.val_images`` of them are carved out for validation. Seed 0 is the
    # benchmark's test set (bench/textpages.py), so training seeds start elsewhere; font families whose name
    # contains ``rendered_hold_out`` are kept out of the training pages so the benchmark can measure unseen type.
    rendered_pages: int = 0
    rendered_seed: int = 1000
    rendered_stride: int = 30  # HR px between patches on a rendered page (its own: the pages are many)
    rendered_hold_out: str = "Condensed"
    rendered_scans: bool = True  # false: digital pages only (no simulated scan: sharp HR targets)
    rendered_category: bool = True  # false: their patches teach the upscaler only (no category loss on them)
    # Issue 27, item 2: more training images for the product tiers, in no fold (always training; never a test or a
    # validation image, so validation stays on the paper's sets): folder under root -> category, e.g.
    # { nature_t91 = "nature", nature_sunhays80 = "nature" }. ``extra_reduce``: folder -> r, each image reduced by
    # the MATLAB-compatible bicubic 1/r before it is used as HR (Sun-Hays 80 are JPEG q75: at full size their
    # block artefacts would be targets; 1/2 averages them away). The paper's and K-fold configs leave these empty.
    extra_folders: dict[str, str] = field(default_factory=dict)
    extra_reduce: dict[str, int] = field(default_factory=dict)
    extra_stride: int = 10  # HR px between patches on an extra image

    @property
    def noise(self) -> tuple[int, ...] | None:
        """(level, seed), (level, seed, lowest, highest) with ``noise_one_pass``, and the lower levels' share
        in percent after those (the table's one pass filled in) with ``noise_lower_share``: what
        :func:`mchmc.train.degrade.degrade_as` takes and a patch store's key holds; None: clean."""
        if self.noise_level < 0:
            return None
        if self.noise_lower_share < 0:
            return (self.noise_level, self.noise_seed, *self.noise_one_pass)
        one_pass = self.noise_one_pass or ONE_PASS[self.noise_level]
        return (self.noise_level, self.noise_seed, *one_pass, self.noise_lower_share)

    def root_path(self) -> Path:
        root = Path(os.environ.get("MCHMC_DATA_ROOT") or self.root).expanduser()
        return root if root.is_absolute() else (REPO_ROOT / root).resolve()

    def cache_path(self) -> Path:
        raw = self.cache_dir or os.environ.get("MCHMC_CACHE") or "~/.cache/mchmc/patches"
        return Path(raw).expanduser().resolve()


@dataclass(frozen=True)
class FoldConfig:
    k: int = 5
    seed: int = 20240611


@dataclass(frozen=True)
class PhaseConfig:
    """One training phase (paper Table 2); ``mch`` is the plain-MCH phase."""

    steps: int = 1000
    lr: float = 1e-4  # conv1, conv2, classifier head
    lr_conv3: float = 1e-5
    r_mse: float = 1.0
    r_sce: float = 0.0
    dropout: float = 0.0  # after conv1 and conv2, training only
    schedule: str = "constant"  # or "cosine": lr * 0.5 (1 + cos(pi t / steps)) down to lr * min_lr_ratio
    min_lr_ratio: float = 0.0
    warmup: int = 0  # linear warm-up steps (0 = none)


@dataclass(frozen=True)
class TrainConfig:
    batch: int = 32
    seed: int = 0
    init: str = "paper"  # "paper": weights N(0, init_std), biases 0; "kaiming": He normal, biases 0
    init_std: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    precision: str = "fp32"  # "bf16": autocast on the forward pass (loss in fp32); "auto": bf16 where the CPU
    #                          computes it natively (AVX512-BF16 / AMX: ~1.5x faster), else fp32 (emulated bf16
    #                          trains ~20x slower on AVX2-only CPUs); the run logs which it used
    channels_last: bool = True
    checkpoint_every: int = 1000
    log_every: int = 1000  # a metrics.csv row (with validation) every N steps and at the end
    val_images: int = 3  # validation images per category (scored during training, never trained on)
    validation: str = "train"  # "train": carved out of the training folds (the rule); "test": the test fold's
    #                            first images (how runs before issue 14 validated; kept to reproduce them)
    init_from: str = ""  # warm start: a model file or shipped model name whose weights start the first phase
    #                       (a narrower one of the same design is widened first: mchmc.train.widen)
    arch: str = ""  # "" the method's architecture (Table 6); or a registered wider one of the same kind
    val_crop: int = 256  # centre crop of each validation image (HR px, 0 = whole)
    augment_d4: bool = False  # issue 27: each patch turned by one of the 8 flips / rotations (mchmc.train.augment)
    threads: int = 0  # torch threads (0 = torch's default)
    device: str = "auto"  # auto (cuda when there is one, else cpu), cpu, cuda or cuda:N (mchmc.train.device);
    #                      where a run trains, not what: left out of a run dir's identity
    # Keys written only when set (QUIET: a config.toml, and a run's identity, name them only when they differ from
    # the default, so every config written before them keeps its text, identity and retraining source key).
    # balance_mse: each category weighs equally in the MSE term (a patch's weight 1 / (K * its category's share of
    # the training patches)), as alpha weighs the SCE; off: every patch weighs the same (the paper).
    balance_mse: bool = field(default=False, metadata=QUIET)
    # never_worse: a fine-tune (init_from) that is never worse than its start on any category: Phase 1 trains
    # the head alone on the start's frozen features, and the final model keeps Phase 2's upscaler only if it is
    # at least as good as the start's on every category of the validation pages (mchmc.train.gate).
    never_worse: bool = field(default=False, metadata=QUIET)
    # mse_weight: category -> a factor on its patches' weight in the MSE term (missing: 1), times balance_mse's
    # when that is on. Issue 27: the quality tier fits its own nature training images little better than its
    # validation ones (+0.21 / +0.26 dB over srformc.pt), so nature is short of the net's attention, not of data.
    mse_weight: dict[str, float] = field(default_factory=dict, metadata=QUIET)
    # specialise: train on these categories' patches only (empty: every category's). A specialist upscaler for
    # a page the category head has named (issue 27: the category chooses the reconstruction); folds and the
    # validation images stay the run's own, every category's, so what the specialist costs the others shows.
    specialise: tuple[str, ...] = field(default=(), metadata=QUIET)
    # copy_weight: "area", each patch drawn alike (a copy at size s of data.copy_scales weighs s**2 of a full-size
    # one); "image", its patches repeated 1 / s**2 times on average, every copy alike (as bench/scale_pilot.py).
    copy_weight: str = field(default="area", metadata=QUIET)

    @property
    def validation_words(self) -> str:
        """Where the validation images come from, in words (reports and figure captions)."""
        if self.validation == "train":
            return f"{self.val_images} images per category carved out of the training folds (not trained on)"
        return f"the first {self.val_images} test-fold images per category"


@dataclass(frozen=True)
class Config:
    name: str = "custom"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    folds: FoldConfig = field(default_factory=FoldConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    phase1: PhaseConfig = field(default_factory=lambda: PhaseConfig(1_000_000, 1e-3, 1e-4, 0.1, 1.0, 0.5))
    phase2: PhaseConfig = field(default_factory=lambda: PhaseConfig(10_000_000, 1e-4, 1e-5, 1.0, 0.1, 0.0))
    mch: PhaseConfig = field(default_factory=lambda: PhaseConfig(10_000_000, 1e-4, 1e-5, 1.0, 0.0, 0.0))

    def phases(self, method: str) -> list[tuple[str, PhaseConfig]]:
        """The phases a method trains, in order."""
        arch = method_arch(method)
        return [("phase1", self.phase1), ("phase2", self.phase2)] if arch == "mch-mc" else [("mch", self.mch)]

    def arch(self, method: str) -> str:
        """The architecture a method trains under this config: ``train.arch``, else the method's own."""
        own = method_arch(method)
        if not self.train.arch or self.train.arch == own:
            return own
        from mchmc.modelconfig import ARCHITECTURES

        if ARCHITECTURES[self.train.arch].has_classifier != ARCHITECTURES[own].has_classifier:
            raise ConfigError(f"train.arch: {self.train.arch!r} is not a variant of {method}'s {own!r} "
                              "(one has the category head, the other not)")
        return self.train.arch


def method_arch(method: str) -> str:
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}; known: {', '.join(METHODS)}")
    return METHODS[method][0]
