"""One training image's quantised Y planes: computed from the file, or read back from an earlier store.

A store (:mod:`mchmc.train.patches`) holds each image's HR plane once and one LR
plane per degraded copy (``data.noise_copies``). Planes depend only on the
image's content, the scale, the store version and the degradation, so a new
store takes every plane it can from the finished stores beside it and computes
only the rest. Copy ``k`` > 0 draws its JPEG steps from the image's name with
``#k`` appended (:func:`mchmc.train.degrade.image_rng`), so copy 0 is the
single-copy store's plane, bit for bit. With ``data.copy_scales`` copy ``k`` is made from the image reduced to
``copy_scales[k % n]`` of its size: the store holds one HR plane per size, and a reduced copy's planes are
known by its size as well (:func:`plane_key`). With ``data.copy_planes`` a copy may be made from one channel
of the image taken as a grey image, after the sizes in turn; such planes are known by their channel too.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from mchmc.train.config_schema import PLANES
from mchmc.train.data import degraded_y, grey_plane, hr_lr_rgb, load_rgb, to_y

# 2: Y is mchmc.colour.luminance, the upscaler's fp32 rounding (issue 30). A colour image's Y differs from
# version 1's elementwise rgb_to_y in the last bit on ~18 % of 8-bit colours, and its stored uint16 level on
# ~0.05 % (8,142 of the 16.7 M colours): a version-1 store's planes are not this code's, so none is reused.
STORE_VERSION = 2
Q = 65535.0  # uint16 quantisation of Y in [0, 1]


def plane_key(sha: str, copy: int = 0, size: float = 1.0, plane: str = "y") -> str:
    """How an image's planes are known across stores: its content hash, the size it was reduced to (if it
    was), the channel it was made from (if not its luminance) and the copy beyond the first."""
    key = sha if size == 1 else f"{sha}@{size:g}"
    key = key if plane == "y" else f"{key}~{plane}"
    return f"{key}#{copy}" if copy else key


def copy_name(name: str, copy: int) -> str:
    """The name a copy's JPEG steps are drawn from (copy 0: the image's own, as in a single-copy store)."""
    return f"{name}#{copy}" if copy else name


def known_planes(root: Path, scale: int, noise: tuple[int, ...] | None = None) -> dict[str, tuple[Path, dict]]:
    """:func:`plane_key` -> (store, manifest entry) for every image (and copy) of every finished store in
    ``root`` with this scale, store version and degradation."""
    found: dict[str, tuple[Path, dict]] = {}
    for manifest in sorted(root.glob("*/manifest.json")) if root.is_dir() else []:
        try:
            doc = json.loads(manifest.read_text())
        except (OSError, ValueError):
            continue
        params = doc.get("params", {})
        same_noise = (tuple(params["noise"]) if params.get("noise") else None) == (tuple(noise) if noise else None)
        if params.get("scale") == scale and params.get("version") == STORE_VERSION and same_noise:
            for entry in doc.get("images", []):
                if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)):
                    continue
                try:  # a damaged entry is one plane less to reuse, never a failed build
                    plane = entry.get("plane", "y")
                    if plane not in PLANES:
                        continue
                    key = plane_key(entry["sha256"], int(entry.get("copy", 0)), float(entry.get("scale", 1)), plane)
                except (TypeError, ValueError):
                    continue
                found.setdefault(key, (manifest.parent, entry))
    return found


def stored_planes(store: Path, entry: dict, scale: int) -> tuple[np.ndarray, np.ndarray] | None:
    """An image's quantised HR and LR planes read back from a store; None if the store is damaged."""
    try:
        h, w = entry["shape"]
        hr = np.fromfile(store / "hr.u16", dtype="<u2", count=h * w, offset=2 * entry["hr_offset"])
        lr = np.fromfile(store / "lr.u16", dtype="<u2", count=(h // scale) * (w // scale),
                         offset=2 * entry["lr_offset"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if hr.size != h * w or lr.size != (h // scale) * (w // scale):
        return None
    return hr.reshape(h, w), lr.reshape(h // scale, w // scale)


def quantised_planes(path: Path, scale: int, noise: tuple[int, ...] | None = None,
                     reduce: int = 1, copy: int = 0, size: float = 1.0,
                     clean: tuple[np.ndarray, np.ndarray] | None = None, plane: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """The image's (HR, LR) Y planes as uint16; ``copy`` chooses which degraded copy the LR plane is, ``size``
    the size the image is reduced to first, ``plane`` the channel it is made from (:func:`grey_plane`).
    ``clean``: the image's :func:`clean_images` at that size and plane, when the caller has them already
    (every copy of one size and plane shares them)."""
    hr, lr = clean if clean is not None else clean_images(path, scale, reduce, size, plane)
    hr_y, lr_y = to_y(hr), degraded_y(lr, noise, copy_name(path.name, copy))
    return np.rint(np.clip(hr_y, 0, 1) * Q).astype("<u2"), np.rint(np.clip(lr_y, 0, 1) * Q).astype("<u2")


def clean_images(path: Path, scale: int, reduce: int = 1, size: float = 1.0,
                 plane: str = "y") -> tuple[np.ndarray, np.ndarray]:
    """The file's (HR, clean LR) integer images at ``size``, made from ``plane`` (:func:`grey_plane`,
    :func:`mchmc.train.data.hr_lr_rgb`)."""
    return hr_lr_rgb(grey_plane(load_rgb(path), plane), scale, reduce, size)


def image_copies(path: Path, sha: str, scale: int, noise: tuple[int, ...] | None, reduce: int,
                 copies: list[tuple[float, str]], known: dict) -> Iterator[tuple[int, float, str, np.ndarray, np.ndarray, bool]]:
    """Each copy of one image, given its (size, plane) in turn: (copy, size, plane, HR, LR, computed). A copy an
    earlier store holds (``known``, :func:`known_planes`) is read back; the others are computed, the clean images
    of a size and plane made once for all its copies (reducing and downscaling is the costly part)."""
    clean_at: dict[tuple[float, str], tuple[np.ndarray, np.ndarray]] = {}
    for copy, (size, plane) in enumerate(copies):
        known_at = known.get(plane_key(sha, copy, size, plane))
        planes = stored_planes(*known_at, scale) if known_at else None
        if planes is not None:
            yield copy, size, plane, *planes, False
            continue
        clean = clean_at[size, plane] = clean_at.get((size, plane)) or clean_images(path, scale, reduce, size, plane)
        yield copy, size, plane, *quantised_planes(path, scale, noise, reduce, copy, size, clean, plane), True
