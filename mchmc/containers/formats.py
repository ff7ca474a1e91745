"""Which format a container is: a CBZ / ZIP volume (:mod:`mchmc.containers.zipvolume`)
or a scanned PDF (:mod:`mchmc.containers.pdf`), and the module that reads and writes it.

The batch run (:mod:`mchmc.batch.driver.volumes`) treats both alike: a container
is a list of :class:`~mchmc.containers.entry.Entry` (its pages and what else it holds), each page is
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
from pathlib import Path
from types import ModuleType

ZIP_EXTENSIONS = frozenset({".cbz", ".zip"})
PDF_EXTENSIONS = frozenset({".pdf"})


def is_container(path: str | os.PathLike) -> bool:
    """A file whose pages are upscaled inside it: a CBZ / ZIP volume or a PDF."""
    return Path(path).suffix.lower() in ZIP_EXTENSIONS | PDF_EXTENSIONS


def is_document(path: str | os.PathLike) -> bool:
    """A PDF (the report and the summary count them apart from CBZ / ZIP volumes)."""
    return Path(path).suffix.lower() in PDF_EXTENSIONS


def handler(path: str | os.PathLike) -> ModuleType:
    """The module that reads and writes this kind of container (see the module doc)."""
    if is_document(path):
        from mchmc.containers import pdf

        return pdf
    from mchmc.containers import zipvolume

    return zipvolume
