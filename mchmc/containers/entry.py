"""One entry of a container (a CBZ / ZIP volume, a scanned PDF), whatever its
format: :class:`Entry` and its kinds, how messages and the report name it
(:func:`member_path`), and the container a process read last (:class:`LastOpened`).
Which format a container is, and the module that reads it: :mod:`mchmc.containers.formats`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from mchmc.errors import shown

SEPARATOR = "!/"  # vol01.cbz!/003.jpg, doc.pdf!/page-003: a page inside a container, as the report shows it
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
