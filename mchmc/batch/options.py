"""What a batch run was asked for: the options every worker receives once (its actor's
constructor argument), checked when they are made, so a bad option fails before any work."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mchmc.pages.meta import DEFAULT_MAX_PIXELS, output_name
from mchmc.pages.png import DEFAULT_PNG_LEVEL


@dataclass(frozen=True)
class BatchOptions:
    """Everything a worker needs to know, sent once to every actor."""

    model: str | None = None  # shipped name or path; None = the default (SRforMC)
    tile: int | None = 256  # engine tile core, LR px
    precision: str = "auto"  # auto: bf16 where native (mchmc.precision.native_bf16), else fp32
    format: str | None = None  # output format; None = same as input
    quality: int | None = None  # JPEG / WebP; None: the JPEG source's estimated quality, else 95
    png_level: int = DEFAULT_PNG_LEVEL
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int | None = None  # memory one page may need to be upscaled (mchmc.pages.limits); None: unchecked
    binarize: bool = False  # 1-bit pages back to 1-bit
    classify_only: bool = False  # conv1, conv2 and the head; nothing written
    overwrite: bool = False
    retry_failed: bool = False  # retry pages that failed in an earlier run, unchanged since (default: report them)
    split_pixels: int = 40_000_000  # single pages above this many LR pixels are split across actors (0: never)
    staged: bool = False  # leave each output under its temporary name for the driver to rename (batch runs)
    owner: str | None = None  # host-pid of the run that owns the temporaries (mchmc.fsutil)
    root: str | None = None  # the folder the run writes (DST): no folder below it is followed if it is a link
    noise: str = "auto"  # JPEG noise level per page (mchmc.pages.noise): auto, none, 0..3
    tta: bool = False  # test-time augmentation: SR averaged over the 8 flips/rotations (~8x slower; category unchanged)
    scale: int = 2  # 2, or 4: two exact 2x passes (--noise and the category on the first pass only)
    chroma: bool = True  # a colour page upscaled at a JPEG noise level gets the chroma network (mchmc.chroma)

    def __post_init__(self) -> None:
        from mchmc.precision import PRECISION_CHOICES

        if self.precision not in PRECISION_CHOICES:
            raise ValueError(f"--precision must be one of {', '.join(PRECISION_CHOICES)}, not {self.precision!r}")
        if self.tile is not None and self.tile < 1:
            raise ValueError(f"--tile must be >= 1 px, not {self.tile}")
        if self.max_pixels < 1:  # 0 is no "no limit": a header's claim is always checked
            raise ValueError(f"--max-pixels must be >= 1 (the most pixels a page may have), not {self.max_pixels}")
        if self.split_pixels < 0:
            raise ValueError(f"--split-pixels must be >= 0, not {self.split_pixels}")
        if self.quality is not None and not 1 <= self.quality <= 100:
            raise ValueError(f"--quality must be 1..100, not {self.quality}")
        if self.scale not in (2, 4):
            raise ValueError(f"--scale must be 2 or 4, not {self.scale}")
        if not 0 <= self.png_level <= 9:
            raise ValueError(f"--png-level must be 0..9, not {self.png_level}")
        output_name(Path("page.png"), self.format)  # an unknown --format fails here, before any page
        from mchmc.pages.noise import check_setting

        object.__setattr__(self, "noise", check_setting(self.noise))

    def output_name(self, src: Path) -> str:
        return output_name(src, self.format)
