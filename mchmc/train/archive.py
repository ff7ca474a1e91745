"""Your own archive as training data (issue 29): each sub-folder is a category.

    archive = open_archive("./my_archive", cache)    # scan, measure, build the flat view
    print("\\n".join(archive.header_lines()))
    cfg = with_overrides(cfg, archive.overrides(cfg))  # train on it as on any dataset

``my_archive/<category>/`` holds that category's pages at any depth: image
files, and the pages of CBZ / ZIP volumes and scanned PDFs (read with the
batch run's own readers, :func:`mchmc.containers.formats.handler`). A category's
name is its folder's name, whatever the script (1..64 characters, as a model
file's category names may be); hidden files and folders are skipped.

Why a *view*: the trainer's dataset is one flat folder of image files per
category (:mod:`mchmc.train.data`), named by file name (folds and the patch
store key images by it). Rather than teach every stage about nesting and
containers, the archive is shown to it as ``<cache>/archives/<name>-<hash>/
<category>/<flat name>``: a symlink per loose image, a copied-out file per
container page, its name the page's path inside the category with ``/``
written ``__`` (so two ``001.jpg`` in different volumes stay two pages). The
view's place depends only on the archive's path, so a grown archive reopens
the same run and retraining finds it; its content follows the archive on
every start (the patch store is keyed by content, so nothing stale is used).

No ground truth is needed: as for the paper's sets, HR = the page, LR = its
MATLAB-bicubic 1/2 (:func:`mchmc.train.data.hr_lr_y`). The LR side is
degraded the way the archive is: the JPEG quality of every JPEG page is
estimated from its quantisation tables (:mod:`mchmc.pages.jpegquality`) and
the median, when most pages are JPEG, picks the noise level by the same
thresholds ``upscale --noise auto`` uses (:func:`mchmc.pages.noise.level_for_quality`);
gray pages are compressed as gray (:mod:`mchmc.train.degrade`).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from mchmc.errors import shown
from mchmc.fsutil import atomic_write_text
from mchmc.modelcheck import MAX_CATEGORIES, MAX_CATEGORY_CHARS
from mchmc.train.data import IMAGE_SUFFIXES, DataError

SEP = "__"  # a page's sub-path inside its category, in the view's flat name


class ArchiveError(DataError):
    """An archive that cannot train: no categories, an empty or too small one, a bad name."""


@dataclass(frozen=True)
class Source:
    """One page of a category: a loose image, or entry ``entry`` of a container."""

    path: Path
    flat: str  # the page's file name in the view
    entry: object = None  # mchmc.containers.entry.Entry for a container page


@dataclass(frozen=True)
class CategoryStats:
    name: str
    pages: int
    pixels: int
    gray: int  # pages whose pixels are gray (mode L, or R = G = B)
    qualities: tuple[int, ...]  # estimated JPEG quality of each JPEG page


@dataclass(frozen=True)
class Archive:
    root: Path
    view: Path
    categories: tuple[CategoryStats, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.categories)

    @property
    def qualities(self) -> list[int]:
        return [q for c in self.categories for q in c.qualities]

    @property
    def noise_level(self) -> int:
        """-1 (clean) unless most pages are JPEG; then the level ``--noise auto`` gives their median quality."""
        from mchmc.pages.noise import level_for_quality

        pages = sum(c.pages for c in self.categories)
        if not self.qualities or 2 * len(self.qualities) < pages:
            return -1
        level = level_for_quality(round(statistics.median(self.qualities)))
        return -1 if level is None else level

    def check_folds(self, k: int, limit: int = 0) -> None:
        """Every category needs a page per fold (its training folds then keep one to train on)."""
        for c in self.categories:
            used = min(c.pages, limit) if limit else c.pages
            if used < k:
                raise ArchiveError(f"{self.root / c.name}: {c.pages} page{'s' * (c.pages != 1)}"
                                   f"{f' ({used} used: data.limit)' if used < c.pages else ''}; a category needs "
                                   f"at least {k} to make {k} folds (one page per fold)")

    def overrides(self, stride: int, name: str) -> dict:
        """Config overrides that train on the view: its categories, one stride, the measured noise level."""
        return {"name": name, "data.root": str(self.view), "data.folders": {c: c for c in self.names},
                "data.stride": {c: stride for c in self.names}, "data.noise_level": self.noise_level,
                "data.rendered_pages": 0}

    def header_lines(self) -> list[str]:
        """What the run's header says: the categories with their pages and pixels, what was measured."""
        lines = [f"archive {self.root}: {len(self.categories)} categor{'y' if len(self.categories) == 1 else 'ies'}"]
        for c in self.categories:
            lines.append(f"  {c.name}: {c.pages} pages, {c.pixels / 1e6:.1f} MP, {c.gray} gray / "
                         f"{c.pages - c.gray} colour, {len(c.qualities)} JPEG")
        q = self.qualities
        measured = (f"JPEG quality (from the quantisation tables) median {statistics.median(q):.0f}, "
                    f"min {min(q)}, max {max(q)} over {len(q)} pages" if q else "no JPEG pages")
        level = self.noise_level
        lines.append(f"  degradation: {measured} -> "
                     + ("clean LR (no JPEG noise)" if level < 0 else f"JPEG noise level {level} on the LR side"))
        return lines


def _slug(name: str, unicode: bool = False) -> str:
    """``name`` with anything but letters, digits, ``_ . -`` written ``_`` (ASCII letters only unless ``unicode``)."""
    return re.sub(r"[^\w.-]" if unicode else r"[^A-Za-z0-9_.-]", "_", name)


def _hidden(rel: Path) -> bool:
    return any(part.startswith(".") for part in rel.parts)


def scan(root: str | os.PathLike) -> dict[str, list[Source]]:
    """category -> its pages, in sorted order (containers opened and checked by their own readers)."""
    from mchmc.containers.entry import IMAGE
    from mchmc.containers.formats import handler, is_container

    root = Path(root)
    if not root.is_dir():
        raise ArchiveError(f"{root}: archive folder not found")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ArchiveError(f"{root}: no category folders (each sub-folder is a category of pages)")
    if len(folders) > MAX_CATEGORIES:
        raise ArchiveError(f"{root}: {len(folders)} category folders; a model holds at most {MAX_CATEGORIES}")
    out: dict[str, list[Source]] = {}
    for folder in folders:
        if len(folder.name) > MAX_CATEGORY_CHARS or not folder.name.isprintable():
            raise ArchiveError(f"{shown(folder)}: a category name is 1..{MAX_CATEGORY_CHARS} printable characters")
        pages: list[Source] = []
        for p in sorted(folder.rglob("*")):
            rel = p.relative_to(folder)
            if _hidden(rel) or not p.is_file():
                continue
            flat = SEP.join(rel.parts)
            if p.suffix.lower() in IMAGE_SUFFIXES:
                pages.append(Source(p, flat))
            elif is_container(p):
                try:
                    found = handler(p).entries(p)
                except Exception as err:  # noqa: BLE001 - any reader failure: one line naming the file
                    raise ArchiveError(f"{p}: cannot read: {err}") from None
                for e in found:
                    if e.kind == IMAGE:
                        suffix = e.suffix or Path(e.name).suffix.lower()
                        name = _slug(Path(e.name).stem, unicode=True)
                        pages.append(Source(p, f"{flat}{SEP}{e.index:04d}{SEP}{name}{suffix}", e))
        if not pages:
            raise ArchiveError(f"{folder}: no pages ({', '.join(IMAGE_SUFFIXES)}, .cbz, .zip, .pdf) at any depth")
        out[folder.name] = pages
    return out


def view_path(root: Path, cache: Path) -> Path:
    key = hashlib.sha256(str(root).encode("utf-8")).hexdigest()[:12]
    return cache / "archives" / f"{_slug(root.name, unicode=True)}-{key}"


def _stamp(p: Path) -> list:
    st = p.stat()
    return [str(p), st.st_size, st.st_mtime_ns]


def build_view(root: Path, pages: dict[str, list[Source]], view: Path) -> None:
    """Make ``view`` show exactly ``pages``: symlinks to loose images, container pages copied out (again only
    when their container changed); anything else in it is removed."""
    from mchmc.containers.formats import handler

    listing_path = view / "listing.json"
    try:
        old = json.loads(listing_path.read_text())
    except (OSError, ValueError):
        old = {}
    listing = {}
    for cat, sources in pages.items():
        folder = view / cat
        folder.mkdir(parents=True, exist_ok=True)
        wanted = {s.flat for s in sources}
        for stale in folder.iterdir():
            if stale.name not in wanted:
                stale.unlink()
        for s in sources:
            dst, key = folder / s.flat, f"{cat}/{s.flat}"
            listing[key] = _stamp(s.path) + ([s.entry.index] if s.entry is not None else [])
            if s.entry is None:
                if not (dst.is_symlink() and os.readlink(dst) == str(s.path)):
                    dst.unlink(missing_ok=True)
                    dst.symlink_to(s.path)
            elif old.get(key) != listing[key] or not dst.is_file():
                dst.unlink(missing_ok=True)
                with open(dst, "wb") as out:
                    handler(s.path).extract(s.path, s.entry, out)
    for extra in view.iterdir():
        if extra.is_dir() and extra.name not in pages:
            for f in extra.iterdir():
                f.unlink()
            extra.rmdir()
    atomic_write_text(listing_path, json.dumps(listing, ensure_ascii=False, indent=0))


def measure(cat: str, folder: Path) -> CategoryStats:
    """Pages, pixels, gray pages and JPEG qualities of a category's view folder (decoded once each)."""
    import numpy as np
    from PIL import Image

    from mchmc.pages.jpegquality import estimate_quality
    from mchmc.train.degrade import is_gray

    pages = pixels = gray = 0
    qualities = []
    for p in sorted(folder.iterdir()):
        try:
            with Image.open(p) as im:
                pixels += im.width * im.height
                if im.format == "JPEG":
                    q = estimate_quality(getattr(im, "quantization", None))
                    if q is not None:
                        qualities.append(q)
                small = im.reduce(4) if im.mode in ("RGB", "RGBA", "L") else im
                arr = np.asarray(small.convert("RGB") if small.mode not in ("RGB", "L") else small)
        except Exception as err:  # noqa: BLE001 - any decoder failure is one line naming the page
            raise ArchiveError(f"{p.resolve()}: cannot read image: {err}") from None
        pages += 1
        gray += bool(is_gray(arr))
    return CategoryStats(cat, pages, pixels, gray, tuple(qualities))


def open_archive(root: str | os.PathLike, cache: str | os.PathLike) -> Archive:
    """Scan ``root`` (relative paths: the current directory), refresh its view under ``cache``, measure it."""
    root = Path(root).expanduser().resolve()
    pages = scan(root)
    view = view_path(root, Path(cache))
    view.mkdir(parents=True, exist_ok=True)
    build_view(root, pages, view)
    return Archive(root, view, tuple(measure(c, view / c) for c in pages))


def archive_run(cfg, data: str | os.PathLike, method: str) -> tuple[Archive, dict, str]:
    """What ``mchmc train --data`` trains: the archive (scanned, measured, its folds checked), the overrides
    that make ``cfg`` train on it, and the method (K = 1: the plain MCH baseline, ``SRforAll``; K >= 2:
    ``SRforMC`` or ``SRforAll``). One stride for every category, the config's widest: the paper's stride for
    its whole-page category (manga), since an archive's categories are whole pages."""
    from mchmc.train.config_schema import METHODS, ConfigError

    archive = open_archive(data, cfg.data.cache_path())
    if len(METHODS.get(method, ("", ("",)))[1]) == 1:
        raise ConfigError(f"--data trains the archive's own categories: --method SRforMC or SRforAll, not {method}")
    if len(archive.names) == 1 and method == "SRforMC":
        method = "SRforAll"  # one category: nothing for a head to tell apart
    archive.check_folds(cfg.folds.k, cfg.data.limit)
    name = f"{cfg.name}-{_slug(archive.root.name)}"  # the run dir's name: ASCII, whatever the archive's
    return archive, archive.overrides(max(cfg.data.stride.values()), name), method
