"""Dataset spec, folds and the training Y convention.

Dataset: each category maps to an image folder (``DataConfig.folders`` under
``DataConfig.root``); its images are the folder's image files sorted by name
(optionally the first ``limit``).

Folds: per category, the sorted file names are permuted with
``np.random.default_rng([fold_seed, category_index])`` (PCG64: identical on
every machine and numpy 2.x) and fold = position % k + 1. ``--fold k`` means
fold k is the test fold (training uses the other k-1); ``--fold all`` trains on
everything. The assignment is saved with each run as ``folds.json``.

Y convention (what the network sees at test time): HR = the image cropped to
even size; HR target = Y of the HR image; LR input = Y of the MATLAB-bicubic
1/2 of the HR image *as uint8 RGB* (exactly what a user's LR page or the peer
benchmark's LR input is). LR is computed once per whole image, never per
patch: a patch-wise downscale would put imresize's mirrored borders inside
every patch, which never occurs at test time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mchmc.colour import luminance
from mchmc.fsutil import atomic_write_text
from mchmc.pages.meta import EXTENSIONS
from mchmc.train.config_schema import Config, DataConfig
from mchmc.errors import MchmcError
from mchmc.resize import imresize

IMAGE_SUFFIXES = tuple(EXTENSIONS)  # what the page reader reads, one list for both


class DataError(MchmcError):
    """Missing folders, no images, an unreadable image."""


@dataclass(frozen=True)
class ImageRef:
    category: str
    path: Path
    source: str = ""  # "" an image of the category's folder; "rendered" a rendered training page

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def group(self) -> str:
        """What validation reports it under: its category, or ``<category>_<source>`` (``text_rendered``)."""
        return f"{self.category}_{self.source}" if self.source else self.category


def list_images(folder: Path, limit: int = 0) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: image folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return files[:limit] if limit else files


def dataset_images(data: DataConfig, categories: tuple[str, ...] | None = None) -> dict[str, list[Path]]:
    """category -> sorted image paths (every configured category unless ``categories``)."""
    root = data.root_path()
    cats = categories or tuple(data.folders)
    missing = [c for c in cats if c not in data.folders]
    if missing:
        raise DataError(f"no folder configured for categor{'y' if len(missing) == 1 else 'ies'} {missing}")
    return {c: list_images(root / data.folders[c], data.limit) for c in cats}


def rendered_images(data: DataConfig) -> list[Path]:
    """The rendered text pages the config adds to training (rendered into the cache on first use)."""
    if not data.rendered_pages:
        return []
    from mchmc.train.textpages import rendered_folder

    return list_images(rendered_folder(data.cache_path(), data.rendered_pages, data.rendered_seed,
                                       data.rendered_hold_out, data.rendered_scans))


def extra_images(data: DataConfig) -> list[tuple[str, Path, int]]:
    """(category, path, reduction) of every extra training image (``data.extra_folders``): in no fold."""
    root = data.root_path()
    return [(c, p, data.extra_reduce.get(folder, 1)) for folder, c in data.extra_folders.items()
            for p in list_images(root / folder, data.limit)]


def make_folds(names: list[str], k: int, seed: int, salt: int = 0) -> dict[str, int]:
    """name -> fold in 1..k: sort, permute with a seeded PCG64, fold = position % k + 1."""
    ordered = sorted(names)
    perm = np.random.default_rng([seed, salt]).permutation(len(ordered))
    return {ordered[i]: int(pos % k) + 1 for pos, i in enumerate(perm)}


def assign_folds(cfg: Config, images: dict[str, list[Path]]) -> dict[str, dict[str, int]]:
    """category -> {file name: fold}; the salt is the category's index in ``data.folders``."""
    order = list(cfg.data.folders)
    return {c: make_folds([p.name for p in ps], cfg.folds.k, cfg.folds.seed, order.index(c))
            for c, ps in images.items()}


def parse_fold(fold: str | int, k: int) -> int | None:
    """'all' -> None (train on everything), else the test fold 1..k."""
    if str(fold).lower() == "all":
        return None
    try:
        f = int(fold)
    except ValueError:
        raise DataError(f"fold must be 1..{k} or 'all', not {fold!r}") from None
    if not 1 <= f <= k:
        raise DataError(f"fold must be 1..{k} or 'all', not {fold!r}")
    return f


@dataclass(frozen=True)
class Split:
    train: list[ImageRef]
    test: list[ImageRef]  # the held-out fold (for --fold all: fold 1, which is then also trained on)
    folds: dict[str, dict[str, int]]
    fold: int | None
    val: list[ImageRef] = field(default_factory=list)  # validation images (train.validation says where from)


def carve_validation(train: list[ImageRef], per_category: int, seed: int, fold: int | None) -> list[ImageRef]:
    """``per_category`` images of each category drawn from the training folds (seeded by the fold seed, the
    test fold and the category), so that configs and checkpoints are chosen without seeing the test fold."""
    out: list[ImageRef] = []
    train = [r for r in train if r.source != "extra"]  # extra images always train (they are not the paper's sets)
    groups = list(dict.fromkeys(r.group for r in train))  # categories first, then rendered pages
    for i, group in enumerate(groups):
        refs = sorted((r for r in train if r.group == group), key=lambda r: r.path.name)
        keep = max(0, len(refs) - 1)  # never carve a category's last training image
        perm = np.random.default_rng([seed, fold or 0, i, 0x7A1]).permutation(len(refs))
        out += [refs[j] for j in sorted(perm[: min(per_category, keep)])]
    return out


def split_images(cfg: Config, categories: tuple[str, ...], fold: int | None) -> Split:
    """Train / test by fold; validation as ``cfg.train.validation`` says: ``train`` (the rule) carves
    ``val_images`` per category out of the training folds and leaves them out of training; ``test`` (how the
    paper-reproduction runs before issue 14 validated) takes the first ``val_images`` of the test fold."""
    images = dataset_images(cfg.data, categories)
    folds = assign_folds(cfg, images)
    test_fold = fold or 1
    train = [ImageRef(c, p) for c, ps in images.items() for p in ps if fold is None or folds[c][p.name] != fold]
    test = [ImageRef(c, p) for c, ps in images.items() for p in ps if folds[c][p.name] == test_fold]
    if not train:
        raise DataError("no training images left after holding out the test fold")
    if "text" in categories:  # rendered pages are in no fold: always training (or validation), never test
        train += [ImageRef("text", p, "rendered") for p in rendered_images(cfg.data)]
    # extra images are in no fold either, and never validate: validation stays on the paper's sets
    train += [ImageRef(c, p, "extra") for c, p, _ in extra_images(cfg.data) if c in categories]
    n = cfg.train.val_images
    if cfg.train.validation == "train":
        val = carve_validation(train, n, cfg.folds.seed, fold)
        held = {(r.category, r.path) for r in val}
        train = [r for r in train if (r.category, r.path) not in held]
    else:
        val = [r for c in categories for r in [t for t in test if t.category == c][:n]]
        val += carve_validation([r for r in train if r.source == "rendered"], n, cfg.folds.seed, fold)
        held = {(r.category, r.path) for r in val}
        train = [r for r in train if (r.category, r.path) not in held]
    return Split(train, test, folds, fold, val)


def save_folds(split: Split, path: Path, seed: int, k: int) -> None:
    doc = {"k": k, "seed": seed, "test_fold": split.fold if split.fold is not None else "all",
           "folds": split.folds, "validation": {g: [r.path.name for r in split.val if r.group == g]
                                                for g in dict.fromkeys(r.group for r in split.val)}}
    rendered = [r.path.name for r in split.train if r.source == "rendered"]
    if rendered:  # in no fold: say which pages trained, and from where
        doc["rendered"] = {"folder": str(next(r.path.parent for r in split.train if r.source == "rendered")),
                           "train": rendered}
    extra = [f"{r.path.parent.name}/{r.path.name}" for r in split.train if r.source == "extra"]
    if extra:
        doc["extra"] = {"train": extra}
    atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------- images

def load_rgb(path: Path) -> np.ndarray:
    """An image as uint8/uint16 RGB (H, W, 3), or gray (H, W); alpha dropped."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im).astype(np.uint16)
            elif im.mode == "L":
                a = np.asarray(im)
            else:
                a = np.asarray(im.convert("RGB"))
    except Exception as err:  # noqa: BLE001 - any decoder failure is a data error with the file name
        raise DataError(f"{path}: cannot read image: {err}") from None
    return np.ascontiguousarray(a)


def to_y(img: np.ndarray) -> np.ndarray:
    """uint8/uint16 RGB or gray -> Y in normalised units (float32): :func:`mchmc.colour.luminance`, the
    upscaler's Y to the last bit (training and test images are fed exactly what a page would be)."""
    return luminance(img)


def even_crop(img: np.ndarray, scale: int) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def hr_lr_y(img: np.ndarray, scale: int, noise: tuple[int, ...] | None = None,
            key: str = "", reduce: int = 1, size: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(HR Y, LR Y) of an integer image: crop to a multiple of scale, LR = imresize(1/scale) in its own dtype.
    ``noise`` = ``DataConfig.noise`` (level, seed[, lowest, highest]): the LR image is JPEG-degraded first
    (:mod:`mchmc.train.degrade`, its choices seeded by ``key``, the image's name), so the model learns
    compressed inputs.
    ``reduce`` and ``size``: see :func:`hr_lr_rgb`."""
    hr, lr = hr_lr_rgb(img, scale, reduce, size)
    return to_y(hr), degraded_y(lr, noise, key)


def grey_plane(img: np.ndarray, plane: str = "y") -> np.ndarray:
    """The image a copy is made from (``data.copy_planes``): the image itself for "y" or a grey image, else the
    channel "r", "g" or "b" of a colour image as a grey (H, W) image, which the upscaler reads as R = G = B."""
    if plane == "y" or img.ndim == 2:
        return img
    return np.ascontiguousarray(img[..., "rgb".index(plane)])


def hr_lr_rgb(img: np.ndarray, scale: int, reduce: int = 1, size: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(HR, clean LR) integer images, before any JPEG: what every degraded copy of one size shares, so a
    store computes it once per size (:mod:`mchmc.train.patches`).
    ``reduce`` > 1: the image is first cropped to a multiple of it and reduced by imresize(1/reduce), integer
    pixels in and out (an extra image whose full size is too compressed to be a target).
    ``size`` < 1: the HR image is the image (after ``reduce``) reduced to that size, integer pixels in and out
    (a store's reduced copy, ``data.copy_scales``)."""
    if reduce > 1:
        img = imresize(even_crop(img, reduce), 1.0 / reduce)
    if size != 1:
        img = imresize(img, size)
    hr = even_crop(img, scale)
    return hr, imresize(hr, 1.0 / scale)


def degraded_y(lr: np.ndarray, noise: tuple[int, ...] | None = None, key: str = "") -> np.ndarray:
    """Y of a clean LR image, JPEG-degraded first when ``noise`` (``DataConfig.noise``) says so (choices seeded by
    ``key``)."""
    if noise is not None and noise[0] >= 0:
        from mchmc.train.degrade import degrade_as

        lr, _ = degrade_as(lr, noise, key)
    return to_y(lr)


def centre_crop(img: np.ndarray, size: int, scale: int) -> np.ndarray:
    """At most size x size HR px from the centre, kept a multiple of scale (size 0 = whole)."""
    if not size:
        return img
    h, w = img.shape[:2]
    ch, cw = min(h, size), min(w, size)
    ch, cw = ch - ch % scale, cw - cw % scale
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return img[y0 : y0 + ch, x0 : x0 + cw]
