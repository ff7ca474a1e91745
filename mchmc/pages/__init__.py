"""Archive pages in and out: the API the batch CLI (one Ray actor per worker,
one page per call) uses.

    from mchmc.pages import read_pages, upscale_page, write_pages, output_name

    pages = [upscale_page(p, engine) for p in read_pages("scan.tif")]  # every page of a multi-page TIFF
    write_pages(pages, out_dir / output_name("scan.tif"))               # same format, atomic

- :func:`read_pages` / :func:`read_page` / :func:`count_pages` (here):
  pixels + :class:`PageMeta`, all headers checked against ``max_pixels`` first.
- :func:`~mchmc.pages.upscale.upscale_page`: Y through the SR engine in strips, chroma
  and alpha by MATLAB bicubic, exactly 2W x 2H, category probabilities.
- :func:`~mchmc.pages.write.write_pages`: same format as the input by default,
  DPI doubled, ICC/EXIF kept, multi-page TIFF, BigTIFF past 4 GB, written to a
  temporary name in the destination folder and renamed when complete.

Every failure is a :class:`~mchmc.errors.PageError` subclass whose message is
``"<file>: <reason>"``.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from mchmc.errors import PageError
from mchmc.pages.limits import default_worker_memory, page_memory_bytes
from mchmc.pages.meta import (DEFAULT_MAX_PIXELS, READ_FORMATS, WRITE_FORMATS, Page, PageMeta, TiffInfo, UpscaledPage,
                       output_name)
from mchmc.pages.read import Limits, check_file, decode_pillow, open_checked, sniff
from mchmc.pages.write import write_page, write_pages
from mchmc.pages.tiffread import open_tiff, read_tiff_page, tiff_headers



def __getattr__(name: str):
    """``upscale_page`` on first use: it brings torch, which the driver (planning, reports) never needs."""
    if name == "upscale_page":
        from mchmc.pages.upscale import upscale_page

        return upscale_page
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_MAX_PIXELS", "READ_FORMATS", "WRITE_FORMATS", "Page", "PageMeta", "TiffInfo", "UpscaledPage",
    "count_pages", "default_worker_memory", "output_name", "page_memory_bytes", "page_sizes", "read_page",
    "read_pages", "upscale_page", "write_page", "write_pages",
]


def count_pages(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS, *,
                max_bytes: int | None = None, check_density: bool = False) -> int:
    """How many pages ``path`` holds, after checking every page's header (nothing decoded)."""
    return len(page_sizes(path, max_pixels, max_bytes=max_bytes, check_density=check_density))


def page_sizes(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS, *, max_bytes: int | None = None,
               check_density: bool = False) -> list[tuple[int, int]]:
    """(width, height) of every page of ``path``, from the checked headers (nothing decoded).

    ``max_bytes``: refuse a page whose estimated memory to upscale is over it
    (:class:`~mchmc.errors.PageTooLargeError`). ``check_density``: also refuse
    headers claiming far more pixels than the file can hold (off by default
    here, where only the header's facts are asked for; the readers below
    always check it before decoding).
    """
    path = Path(path)
    fmt = sniff(check_file(path))
    limits = Limits(max_pixels, max_bytes, check_density)
    if fmt == "TIFF":
        with open_tiff(path) as tif:
            return [(p.imagewidth, p.imagelength) for p in tiff_headers(path, tif, *limits)]
    im, _ = open_checked(path, fmt, *limits)
    with im:
        return [im.size]


def read_page(path: str | os.PathLike, index: int = 0, max_pixels: int | None = DEFAULT_MAX_PIXELS, *,
              max_bytes: int | None = None) -> Page:
    """Page ``index`` of ``path`` (0 for single-page formats); limits as :func:`read_pages`."""
    path = Path(path)
    fmt = sniff(check_file(path))
    limits = Limits(max_pixels, max_bytes, True)
    if fmt == "TIFF":
        with open_tiff(path) as tif:
            headers = tiff_headers(path, tif, *limits)
            if not 0 <= index < len(headers):
                raise PageError(path, f"has {len(headers)} page(s), no page {index}")
            with headers:
                return read_tiff_page(path, tif, index, headers)
    if index != 0:
        raise PageError(path, f"has 1 page, no page {index}")
    im, ctx = open_checked(path, fmt, *limits)
    with im:
        return decode_pillow(path, im, ctx)


def read_pages(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS, *,
               max_bytes: int | None = None) -> Iterator[Page]:
    """Every page of ``path``, in order (a multi-page TIFF yields each page).

    All headers are checked before this returns, so a bad file fails here and
    not half-way through its pages: size against ``max_pixels``, mode, depth,
    the memory each page needs to be upscaled against ``max_bytes`` (None: no
    budget; :func:`~mchmc.pages.limits.default_worker_memory` gives one), and
    pixels claimed against the bytes that could hold them (bombs). Pixels are
    decoded one page at a time as the iterator advances, so a long chapter
    never sits whole in memory; reading all N pages of a TIFF is O(N).
    """
    path = Path(path)
    fmt = sniff(check_file(path))
    if fmt != "TIFF":
        return iter([read_page(path, 0, max_pixels, max_bytes=max_bytes)])
    tif = open_tiff(path)
    try:
        headers = tiff_headers(path, tif, max_pixels, max_bytes, True)
    except BaseException:
        tif.close()
        raise

    def pages() -> Iterator[Page]:
        with tif, headers:
            for i in range(len(headers)):
                yield read_tiff_page(path, tif, i, headers)

    return pages()
