"""Exclusive, non-blocking ``flock`` claims: the one way mchmc processes share
work (experiment cells, :func:`claim`) or a folder (:class:`FolderLock`: two
runs writing one DST are refused in one line).

The lock file is opened without following links (:func:`mchmc.fsutil.open_nofollow`)
in a real folder (:func:`mchmc.fsutil.real_folder`): a ``DST/.mchmc/lock``
planted as a link to a file outside DST would otherwise be truncated and
overwritten with the holder's ``host-pid``.
"""
from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mchmc.errors import MchmcError
from mchmc.fsutil import STATE_DIR, open_nofollow, owner, real_folder


class FolderLocked(MchmcError):
    """Another live run holds the folder's lock."""


class Claim:
    """An exclusive, non-blocking ``flock`` on ``path`` (created if needed), held
    until :meth:`release` or the holder's death: the kernel drops a dead process's
    locks, so a crashed holder never leaves a stale claim. Its ``host-pid`` is
    written into the file, only for messages (:meth:`holder`)."""

    def __init__(self, path: str | os.PathLike, root: str | os.PathLike | None = None):
        """``root``: the folder below which the lock's folders must be real (:func:`real_folder`)."""
        self.path, self.root = Path(path), root
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        """Raises :class:`UnsafePath` for a lock file that is a link (soft or hard) or not a file:
        opening it would truncate whatever it points at. The file is emptied only once locked."""
        if self.root is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        else:
            real_folder(self.path.parent, self.root)
        fd = open_nofollow(self.path, append=True)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{owner()}\n".encode())
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return ""

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (unlinking it would race a new holder)
            self._fd = None


@contextmanager
def claim(path: str | os.PathLike) -> Iterator[bool]:
    """Hold ``path``'s claim for the block; yields False (holding nothing) when another live process has it."""
    c = Claim(path)
    got = c.try_acquire()
    try:
        yield got
    finally:
        c.release()


class FolderLock(Claim):
    """Exclusive lock on ``<folder>/.mchmc/lock`` for the life of a run (``with`` or acquire/release):
    two runs writing one DST would interleave their reports and race on their outputs."""

    def __init__(self, folder: str | os.PathLike, what: str = "run"):
        self.folder, self.what = Path(folder), what
        super().__init__(self.folder / STATE_DIR / "lock", root=self.folder)

    def acquire(self) -> "FolderLock":
        if not self.try_acquire():
            holder = self.holder()
            raise FolderLocked(f"{self.folder}: another mchmc {self.what} is writing here"
                               + (f" ({holder})" if holder else "") + "; wait for it to finish or choose another --out")
        return self

    def __enter__(self) -> "FolderLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
