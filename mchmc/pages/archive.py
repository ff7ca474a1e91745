"""Containers of pages, whatever their format: a CBZ / ZIP volume
(:mod:`mchmc.pages.container`) or a scanned PDF (:mod:`mchmc.pages.pdf`).

The batch run (:mod:`mchmc.batch.containers`) treats both alike: a container
is a list of :class:`Entry` (its pages and what else it holds), each page is
copied out into a file of its own and upscaled there exactly as a loose page,
and the container is written back with its pages replaced. What differs is
behind :func:`handler`, a module with the same functions for each format:

- ``entries(path, max_pixels)``: every entry in order, after the format's own
  safety checks (ZIP bombs, encryption ...);
- ``count_pages(path)``: how many pages, for the plan (0 for one that will be refused);
- ``extract(path, entry, out, max_pixels, max_bytes)``: a page's bytes into an open file
  (a PDF's page image is refused there, before decoding, when its upscaling needs more than
  ``max_bytes``; a CBZ page is a byte copy, weighed when it is read);
- ``write_container(path, out, replaced, max_pixels)``: the container with
  ``replaced`` pages (entry index -> (name, file)) into an open file;
- ``entry_notes(found)``: what the container's record says about the rest;
- ``page_names(entry, output_name)``: the page's name in the output and its file's extension;
- ``KEEPS_FORMAT``: whether a page keeps its own format whatever ``--format``
  says (a PDF's page image is a PDF stream, not a file), ``EMPTY_SKIPPED``:
  whether a container without pages is skipped rather than written back,
  ``UNCHANGED``: how the record says a failed page was kept.

Nothing here imports a PDF library: a run over loose files or volumes never pays for it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from mchmc.errors import shown

SEPARATOR = "!/"  # vol01.cbz!/003.jpg, doc.pdf!/page-003: a page inside a container, as the report shows it
ZIP_EXTENSIONS = frozenset({".cbz", ".zip"})
PDF_EXTENSIONS = frozenset({".pdf"})
IMAGE, OTHER, FOLDER, UNSAFE = "image", "other", "folder", "unsafe"
NAMED = 5  # names listed in a container's notes; the rest are counted


@dataclass(frozen=True)
class Entry:
    """One entry of a container: its place (ZIP: central directory index; PDF:
    page index), its name, and what it is. ``suffix``: the extension of the
    file a page is copied out to, where the name has none (a PDF page: ``.jpg``
    or ``.png``); ``note``: why an entry is not a page, or what else it carries."""

    index: int
    name: str
    kind: str  # IMAGE (a page), OTHER (kept), FOLDER (kept), UNSAFE (zip slip: kept, never a page)
    suffix: str = ""
    note: str = ""


def is_container(path: str | os.PathLike) -> bool:
    """A file whose pages are upscaled inside it: a CBZ / ZIP volume or a PDF."""
    return Path(path).suffix.lower() in ZIP_EXTENSIONS | PDF_EXTENSIONS


def is_document(path: str | os.PathLike) -> bool:
    """A PDF (the report and the summary count them apart from CBZ / ZIP volumes)."""
    return Path(path).suffix.lower() in PDF_EXTENSIONS


def handler(path: str | os.PathLike) -> ModuleType:
    """The module that reads and writes this kind of container (see the module doc)."""
    if is_document(path):
        from mchmc.pages import pdf

        return pdf
    from mchmc.pages import container

    return container


def member_path(container: str | os.PathLike, name: str) -> str:
    """``/scans/vol01.cbz!/003.jpg``: how messages and the report name an entry."""
    return f"{container}{SEPARATOR}{name}"


def listed(names: list[str]) -> str:
    """The first :data:`NAMED` names, then how many more."""
    more = f" and {len(names) - NAMED} more" if len(names) > NAMED else ""
    return ", ".join(map(shown, names[:NAMED])) + more


class LastOpened:
    """The container this process read last, open and checked. A container's
    pages reach a worker one call after another; opening and checking it on
    every call would cost each page O(pages). Reopened when the file changes
    (path, size, mtime), the limits change, or another container comes.
    ``opener(path, size, max_pixels)`` opens and checks; what it returns must have ``close()``."""

    def __init__(self, opener):
        self.opener, self.key, self.handle = opener, None, None

    def get(self, path: str | os.PathLike, max_pixels: int | None):
        st = os.stat(path)
        key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, max_pixels)
        if key != self.key:
            if self.handle is not None:
                self.handle.close()
            self.key, self.handle = None, None
            self.handle, self.key = self.opener(path, st.st_size, max_pixels), key
        return self.handle
