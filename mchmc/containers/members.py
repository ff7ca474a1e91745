"""A container's member work, the format's side of it: a page's names, its
bytes copied out into a file of its own, and the volume written back with its
upscaled pages. The batch run's calls around these (records, retries, the
ledger) are :mod:`mchmc.batch.worker.volumework` and :mod:`mchmc.batch.driver.volumes`.

A page is copied out of the volume by index into an owned temporary
(:func:`mchmc.fsutil.atomic_write`, so a killed run's leftover is removed by the
next), named by that index: an entry's name never reaches the file system.
Its names in messages and the report are the entry's (``vol01.cbz!/003.jpg``,
``doc.pdf!/page-003``), never the temporary's.

The volume is streamed into a temporary beside its output: each upscaled page
from its file, everything else from the source (the format's ``write_container``).
"""
from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType

from mchmc.containers.entry import Entry, member_path
from mchmc.containers.formats import handler
from mchmc.fsutil import atomic_write


def member_names(fmt: ModuleType, entry: Entry, src: Path, dst: Path, output_name,
                 seen: set[str], folder: Path | None) -> tuple[Path, Path, str, Path | None]:
    """A page of the volume ``src`` (written to ``dst``), as the report names it and where it waits:
    (``src!/entry``, ``dst!/out name``, its name in the output, its page file under ``folder``, None
    without one). ``seen``: the entry names met so far in this volume (two entries of one name
    stay two pages: the second gets its index)."""
    out_name, extension = fmt.page_names(entry, output_name)
    suffix = "" if entry.name not in seen else f"#{entry.index}"
    seen.add(entry.name)
    page_file = folder / f"{entry.index:05d}{extension}" if folder else None
    return (Path(member_path(src, entry.name + suffix)), Path(member_path(dst, out_name + suffix)), out_name,
            page_file)


@contextmanager
def entry_file(volume: Path, entry: Entry, page_file: Path | None, max_pixels: int | None,
               max_bytes: int | None, root) -> Iterator[Path]:
    """The entry's bytes in a file of their own, named by the entry's index (its
    name never reaches the file system), removed when the block ends: beside
    ``page_file``, never in a linked folder below ``root``; without a page file
    (classifying writes nothing under any DST) in a private temporary folder."""
    with ExitStack() as stack:
        folder = page_file.parent if page_file else \
            Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mchmc-")))
        root = root if page_file else None
        with atomic_write(folder / f"{entry.index:05d}.in", commit=False, root=root) as tmp, \
                open(tmp, "wb") as out:
            handler(volume).extract(volume, entry, out, max_pixels, max_bytes)
        stack.callback(tmp.unlink, missing_ok=True)
        yield tmp


def write_volume(src: Path, dst: Path, pages, max_pixels: int | None, *, staged: bool, root) -> Path | None:
    """The volume ``src`` written to ``dst`` with ``pages`` ((entry index, name in the output,
    page file) of every upscaled page; the rest is copied); ``staged``: left under a temporary
    name for the caller to rename, which is returned."""
    replaced = {index: (name, Path(page)) for index, name, page in pages}
    with atomic_write(dst, fsync=True, commit=not staged, root=root) as tmp:
        with open(tmp, "wb") as out:
            handler(src).write_container(src, out, replaced, max_pixels)
    return tmp if staged else None
