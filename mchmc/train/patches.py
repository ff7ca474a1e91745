"""The patch store: every image's HR and LR Y planes stored once, patches addressed by coordinates.

Layout of ``<cache>/<key>/`` (written to a temp folder, then renamed, so a
store either exists completely or not at all):

    manifest.json   parameters, images (category, name, sha256, HR shape, offsets; with data.noise_copies
                    one entry per degraded copy, ``copy`` k > 0, all sharing the image's HR offset), patch counts
    hr.u16 / lr.u16 all HR / LR Y planes, flattened and concatenated, uint16 = round(Y * 65535)
    index.npy       int32 (n, 3): entry id, y, x of each patch's top-left HR corner

``key`` = sha256 of the input files' content hashes and the prep parameters,
so a second prep of the same data is a cache hit that does no work. When the
data changed (a retrain on a grown archive), the new store takes the planes of
every image it already knows (same sha256, same scale) from the earlier stores
in the cache and computes only the new or changed images: the result is
byte-identical to a build from scratch (``PrepResult.computed`` counts them).

Patch geometry (paper section 4.2): HR patches of ``patch`` x ``patch`` px at a
per-category stride (5 nature / text, 10 manga): along an axis of length L
there are ``(L - patch) // stride + 1`` positions, the k-th at
``scale * floor(k * stride / scale)``, i.e. the paper's count and mean stride,
each snapped to the LR pixel grid so that the LR input is an exact crop of the
whole-image LR plane (an odd HR offset has no LR pixel to start at). The LR
input is ``patch / scale`` px; the unpadded net predicts the central
``patch - 2 * scale * halo`` px of the HR patch, which is the loss target.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mchmc.errors import MchmcError
from mchmc.fsutil import atomic_folder, file_sha256
from mchmc.train.config_schema import DataConfig
from mchmc.train.data import dataset_images, extra_images, rendered_images
from mchmc.train.planes import (
    STORE_VERSION,
    Q,
    image_copies,
    known_planes,
)


@dataclass(frozen=True)
class PrepParams:
    patch: int
    stride: dict[str, int]
    scale: int
    version: int = STORE_VERSION
    noise: tuple[int, ...] | None = None  # DataConfig.noise: (level, seed[, lowest, highest]) of the LR JPEG; None clean
    rendered_stride: int | None = None  # the stride on rendered text pages; None when there are none
    extra_stride: int | None = None  # the stride on extra images (data.extra_folders); None when there are none
    noise_copies: int | None = None  # degraded LR copies of each image (data.noise_copies); None for one
    copy_scales: tuple[float, ...] | None = None  # the sizes the copies are made at, in turn; None: all full size
    copy_planes: tuple[str, ...] | None = None  # the planes the copies are made from, after the sizes; None: all Y

    def key_doc(self) -> dict:
        """What the store's key hashes: a store without noise, rendered pages, extra images, copies or reduced
        copies keeps its key."""
        optional = ("noise", "rendered_stride", "extra_stride", "noise_copies", "copy_scales", "copy_planes")
        return {k: v for k, v in asdict(self).items() if not (k in optional and v is None)}

    def copy_size(self, copy: int) -> float:
        """The size copy ``copy`` of an image is made at (1: the image's own)."""
        return float(self.copy_scales[copy % len(self.copy_scales)]) if self.copy_scales else 1.0

    def copy_plane(self, copy: int) -> str:
        """The plane copy ``copy`` of an image is made from ("y": the image's own luminance), after the sizes in
        turn: with n sizes, copies 0..n-1 from the first plane, n..2n-1 from the second, and so on."""
        if not self.copy_planes:
            return "y"
        return self.copy_planes[(copy // max(len(self.copy_scales or ()), 1)) % len(self.copy_planes)]


@dataclass(frozen=True)
class Geometry:
    """Patch geometry derived from the patch size and the model's halo and scale."""

    patch: int
    scale: int
    halo: int

    @property
    def lr(self) -> int:
        return self.patch // self.scale

    @property
    def margin(self) -> int:  # HR px the unpadded net cannot predict on each side
        return self.scale * self.halo

    @property
    def out(self) -> int:
        return self.scale * (self.lr - 2 * self.halo)


def positions(length: int, patch: int, stride: int, scale: int) -> np.ndarray:
    """Top-left HR offsets along one axis (see module doc)."""
    n = (length - patch) // stride + 1 if length >= patch else 0
    return (scale * ((np.arange(n) * stride) // scale)).astype(np.int32)


def class_weights(counts: dict[str, int]) -> dict[str, float]:
    """alpha_j = min_k n_k / n_j over categories with patches (rarest = 1, paper Table 5)."""
    present = {c: n for c, n in counts.items() if n > 0}
    if not present:
        return {c: 0.0 for c in counts}
    m = min(present.values())
    return {c: (m / n if n > 0 else 0.0) for c, n in counts.items()}


def store_key(hashes: list[tuple[str, str, str]], params: PrepParams) -> str:
    doc = json.dumps({"images": sorted(hashes), "params": params.key_doc()}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class PrepResult:
    path: Path
    key: str
    counts: dict[str, int]  # patches per category, all images
    alpha: dict[str, float]
    images: dict[str, int]
    cache_hit: bool
    seconds: float
    computed: int = 0  # planes (image copies) computed (not found in an earlier store); 0 on a cache hit


def prepare(data: DataConfig, scale: int, progress: Callable[[str, int, int], None] | None = None) -> PrepResult:
    """Build (or find) the patch store for every image of every configured category."""
    t0 = time.perf_counter()
    images = dataset_images(data)
    rendered = rendered_images(data) if "text" in images else []
    extra = extra_images(data)
    params = PrepParams(data.patch, dict(data.stride), scale, noise=data.noise,
                        rendered_stride=data.rendered_stride if rendered else None,
                        extra_stride=data.extra_stride if extra else None,
                        noise_copies=data.noise_copies
                        if (data.noise or data.copy_scales or data.copy_planes) and data.noise_copies > 1 else None,
                        copy_scales=tuple(data.copy_scales) or None, copy_planes=tuple(data.copy_planes) or None)
    refs = [(c, p) for c, ps in images.items() for p in ps] + [("text", p) for p in rendered]
    refs += [(c, p) for c, p, _ in extra]
    strides = [data.stride[c] for c, ps in images.items() for _ in ps] + [data.rendered_stride] * len(rendered)
    strides += [data.extra_stride] * len(extra)
    reduce = [1] * (len(refs) - len(extra)) + [r for _, _, r in extra]
    # a reduced image's planes are another image's: its content hash carries the reduction (key and reuse)
    hashes = [(c, p.name, file_sha256(p) + (f"/reduce{r}" if r > 1 else "")) for (c, p), r in zip(refs, reduce)]
    if len({(c, name) for c, name, _ in hashes}) != len(hashes):
        raise MchmcError("two training images of one category share a file name (extra_folders?): "
                         "the patch store addresses images by category and name")
    key = store_key(hashes, params)
    root = data.cache_path()
    path = root / key
    if (path / "manifest.json").is_file():
        st = PatchStore(path)
        return PrepResult(path, key, st.counts(), class_weights(st.counts()), st.image_counts(), True,
                          time.perf_counter() - t0)
    known = known_planes(root, scale, data.noise)
    # an owned temporary folder (host, pid, random token), so two builders never share one
    with atomic_folder(path, "manifest.json") as tmp:
        entries, index, computed, hr_off, lr_off = _write_planes(tmp, list(zip(refs, hashes, strides, reduce)),
                                                                 data, params, known, progress)
        idx = np.concatenate(index) if index else np.zeros((0, 3), np.int32)
        np.save(tmp / "index.npy", idx.astype(np.int32))
        cats = np.array([e["category"] for e in entries])
        counts = {c: int(np.sum(cats[idx[:, 0]] == c)) for c in images}
        manifest = {"key": key, "params": asdict(params), "images": entries, "counts": counts,
                    "hr_pixels": hr_off, "lr_pixels": lr_off}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    n_images = {c: len(v) + (len(rendered) if c == "text" else 0) + sum(e[0] == c for e in extra)
                for c, v in images.items()}
    return PrepResult(path, key, counts, class_weights(counts), n_images, False,
                      time.perf_counter() - t0, computed)


def _write_planes(tmp: Path, todo: list, data: DataConfig, params: PrepParams, known: dict,
                  progress: Callable[[str, int, int], None] | None) -> tuple[list[dict], list[np.ndarray], int, int, int]:
    """Write each image's HR plane once per size and plane its copies are made at, an LR plane per copy, into ``tmp``:
    the manifest's entries (one per copy; copies of one size and plane share an HR offset), the patch index rows, how
    many planes were computed, and the HR and LR pixels written."""
    entries, index, computed, hr_off, lr_off = [], [], 0, 0, 0
    scale = params.scale
    with open(tmp / "hr.u16", "wb") as fh, open(tmp / "lr.u16", "wb") as fl:
        for i, ((c, p), (_, _, sha), stride, r) in enumerate(todo):
            hr_at: dict[tuple, tuple[int, np.ndarray, np.ndarray]] = {}  # (size, plane) -> HR offset, patch rows, cols
            copies = [(params.copy_size(k), params.copy_plane(k)) for k in range(params.noise_copies or 1)]
            for copy, size, plane, hr, lr, fresh in image_copies(p, sha, scale, data.noise, r, copies, known):
                computed += fresh
                if (size, plane) not in hr_at:
                    fh.write(hr.tobytes())
                    yy, xx = np.meshgrid(positions(hr.shape[0], data.patch, stride, scale),
                                         positions(hr.shape[1], data.patch, stride, scale), indexing="ij")
                    hr_at[size, plane], hr_off = (hr_off, yy, xx), hr_off + hr.size
                at, yy, xx = hr_at[size, plane]
                fl.write(lr.tobytes())
                index.append(np.stack([np.full(yy.size, len(entries), np.int32), yy.ravel(), xx.ravel()], 1))
                entries.append({"category": c, "name": p.name, "sha256": sha, "shape": list(hr.shape),
                                "hr_offset": at, "lr_offset": lr_off, **({"copy": copy} if copy else {}),
                                **({"scale": size} if size != 1 else {}), **({"plane": plane} if plane != "y" else {})})
                lr_off += lr.size
            if progress:
                progress(p.name, i + 1, len(todo))
    return entries, index, computed, hr_off, lr_off


class PatchStore:
    """Read side of a store: memory-mapped planes, vectorised batch gathering."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self.manifest = json.loads((self.path / "manifest.json").read_text())
        except (OSError, ValueError) as err:
            raise MchmcError(f"{self.path}: not a patch store ({err})") from None
        self.params = self.manifest["params"]
        self.images = self.manifest["images"]
        self.index = np.load(self.path / "index.npy", mmap_mode="r")
        n_hr, n_lr = self.manifest["hr_pixels"], self.manifest["lr_pixels"]
        self.hr = np.memmap(self.path / "hr.u16", dtype="<u2", mode="r", shape=(max(n_hr, 1),))
        self.lr = np.memmap(self.path / "lr.u16", dtype="<u2", mode="r", shape=(max(n_lr, 1),))
        s = self.params["scale"]
        self.hr_off = np.array([e["hr_offset"] for e in self.images], np.int64)
        self.lr_off = np.array([e["lr_offset"] for e in self.images], np.int64)
        self.width = np.array([e["shape"][1] for e in self.images], np.int64)
        self.lr_width = self.width // s
        self.categories = [e["category"] for e in self.images]
        self.copies: dict[tuple[str, str], list[int]] = {}  # (category, name) -> the ids of its copies
        for i, e in enumerate(self.images):
            self.copies.setdefault((e["category"], e["name"]), []).append(i)
        self.ids = {k: ids[0] for k, ids in self.copies.items()}  # (category, name) -> its first copy's id

    @property
    def patch(self) -> int:
        return self.params["patch"]

    @property
    def scale(self) -> int:
        return self.params["scale"]

    def counts(self, rows: np.ndarray | None = None) -> dict[str, int]:
        idx = self.index if rows is None else self.index[rows]
        cats = np.array(self.categories + [""])[idx[:, 0]] if len(idx) else np.array([])
        return {c: int(np.sum(cats == c)) for c in dict.fromkeys(self.categories)}

    def image_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c, _ in self.copies:
            out[c] = out.get(c, 0) + 1
        return out

    def rows_for(self, refs) -> np.ndarray:
        """Indices into ``index`` of the patches of the given images (ImageRef or (category, name)), every
        degraded copy's."""
        ids = []
        for r in refs:
            k = (r.category, r.name) if hasattr(r, "category") else tuple(r)
            if k not in self.ids:
                raise MchmcError(f"{self.path}: image {k} is not in this patch store")
            ids += self.copies[k]
        return np.flatnonzero(np.isin(self.index[:, 0], np.array(ids, np.int32))).astype(np.int64)

    def image_weighted(self, rows: np.ndarray, seed: int) -> np.ndarray:
        """``train.copy_weight = "image"``: ``rows`` with each patch of a copy at size s repeated 1 / s**2 times
        on average (the fraction drawn per patch by a generator seeded by ``seed``, so a resumed run draws the
        same rows), so that a reduced copy of an image weighs as much as its full-size one, not its area."""
        sizes = np.array([float(e.get("scale", 1.0)) for e in self.images] or [1.0])
        repeat = 1.0 / sizes[self.index[rows, 0]] ** 2
        whole = np.floor(repeat).astype(np.int64)
        extra = np.random.default_rng([seed, 0xC0]).random(len(rows)) < repeat - whole
        return np.repeat(np.asarray(rows, np.int64), whole + extra)

    def plane(self, image_id: int, lr: bool = False) -> np.ndarray:
        h, w = self.images[image_id]["shape"]
        s = self.scale
        if lr:
            o = self.lr_off[image_id]
            return self.lr[o : o + (h // s) * (w // s)].reshape(h // s, w // s).astype(np.float32) / Q
        o = self.hr_off[image_id]
        return self.hr[o : o + h * w].reshape(h, w).astype(np.float32) / Q

    def gather(self, patches: np.ndarray, geom: Geometry) -> tuple[np.ndarray, np.ndarray]:
        """Rows of ``index`` (B, 3) -> LR inputs (B, 1, lr, lr) and HR targets (B, 1, out, out), float32."""
        img, y, x = (patches[:, i].astype(np.int64) for i in range(3))
        s, m, nl, no = geom.scale, geom.margin, geom.lr, geom.out
        w, lw = self.width[img], self.lr_width[img]
        r = np.arange(no, dtype=np.int64)
        base = self.hr_off[img] + (y + m) * w + (x + m)
        hr = self.hr[base[:, None, None] + r[None, :, None] * w[:, None, None] + r[None, None, :]]
        r = np.arange(nl, dtype=np.int64)
        base = self.lr_off[img] + (y // s) * lw + x // s
        lr = self.lr[base[:, None, None] + r[None, :, None] * lw[:, None, None] + r[None, None, :]]
        scale = np.float32(1.0 / Q)
        return (lr.astype(np.float32) * scale)[:, None], (hr.astype(np.float32) * scale)[:, None]
