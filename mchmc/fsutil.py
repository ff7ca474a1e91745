"""Files the project writes: atomic temp-then-rename, the file mode, owned
temporaries, and writes that never follow a link planted inside DST.

Every file mchmc writes goes through :func:`atomic_write`: a temporary name in
the destination folder, renamed over the final name only when the block
succeeds, so a name never points at a half-written file. The temporary is
created with mode ``0o666`` less the umask, exactly what a plain ``open()``
would give (``mkstemp``'s ``0o600`` would hide an archive's outputs from the
other users of a shared folder).

Temporaries are *owned*: their name carries the host and pid of the run that
made them (``.mchmc-<host>-<pid>.<token>.<name>.part``), so a run cleaning up
after a crash removes only temporaries whose owner is dead, never those of a
live run (:func:`remove_stale_temporaries`). A batch run sets its owner once
(:func:`set_owner`) and passes it to its workers, so what they write is the
run's.

Inside a run's DST nothing is written through a link mchmc did not make:
:func:`open_nofollow` for a file opened by name, :func:`real_folder` for every
folder below DST (and ``atomic_write(root=DST)``, which uses it). The
per-folder run lock is :mod:`mchmc.locks`.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mchmc.errors import FileError, shown

TEMP_PREFIX, TEMP_SUFFIX = ".mchmc-", ".part"
STATE_DIR = ".mchmc"  # per-DST state (lock, ledger); hidden, so never scanned as pages
_TEMP_RE = re.compile(r"^\.mchmc-(?P<host>.+)-(?P<pid>\d+)\.[0-9a-f]{8}\..*\.part$")
_owner: str | None = None


def host() -> str:
    return socket.gethostname().replace("/", "_") or "localhost"


def owner() -> str:
    """``<host>-<pid>`` of the run that owns the temporaries this process writes."""
    return _owner or f"{host()}-{os.getpid()}"


def set_owner(tag: str | None) -> None:
    """Make ``tag`` (another process's :func:`owner`) the owner of this process's temporaries."""
    global _owner
    _owner = tag


def file_mode() -> int:
    """What a plain ``open()`` creates: ``0o666`` less the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temp_name(name: str) -> str:
    return f"{TEMP_PREFIX}{owner()}.{secrets.token_hex(4)}.{name}{TEMP_SUFFIX}"


def is_temporary(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


@contextmanager
def atomic_write(dst: str | os.PathLike, *, fsync: bool = False, commit: bool = True,
                 root: str | os.PathLike | None = None) -> Iterator[Path]:
    """Yield an (empty, existing) temporary path beside ``dst``; rename it to
    ``dst`` only if the block succeeds, else remove it. ``fsync`` flushes the
    file before the rename (checkpoints, pointers, ledgers: after a power cut
    the name never points at data the disk lost). ``commit=False`` leaves the
    finished temporary in place for the caller to rename (a batch run's driver
    records each page before its output appears under the final name).
    ``root`` (a run's DST): ``dst``'s folders below it are made by
    :func:`real_folder`, so a planted folder link never receives the file; the
    rename replaces a link at ``dst`` itself, never follows it."""
    dst = Path(dst)
    if root is None:
        dst.parent.mkdir(parents=True, exist_ok=True)
    else:
        real_folder(dst.parent, root)
    while True:
        tmp = dst.parent / temp_name(dst.name)
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # umask applies
            break
        except FileExistsError:  # a token collision: draw another
            continue
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        if commit:
            os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if commit:
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_folder(dst: str | os.PathLike, marker: str) -> Iterator[Path]:
    """Yield a new, empty, owned temporary folder beside ``dst``; rename it to ``dst`` only if the block
    succeeds, else remove it, so the folder exists whole or not at all (``atomic_write`` is for files). When
    another process finished ``dst`` first (it holds ``marker``, the file written last), ours is dropped."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / temp_name(dst.name)
    tmp.mkdir()
    try:
        yield tmp
        try:
            os.replace(tmp, dst)
        except OSError:  # another process finished the same folder first
            if not (dst / marker).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> Path:
    with atomic_write(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, fsync: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


class UnsafePath(FileError):
    """A path mchmc would write through is a link (or not a plain file / folder) it did not make
    (an :class:`~mchmc.errors.MchmcError`: one line, ``"<path>: <reason>"``)."""


def _why_unsafe(st: os.stat_result, regular_only: bool = True) -> str:
    """Why a file mchmc would write must not be written through ("" when it may be): a symbolic link, a
    file with other hard links (its data is another file's too) or, with ``regular_only``, not a file."""
    if stat.S_ISLNK(st.st_mode):
        return "is a symbolic link; mchmc writes only files it made, refusing to follow it"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file; refusing to write through it" if regular_only else ""
    if st.st_nlink > 1:
        return f"has {st.st_nlink} hard links (another file shares its data); refusing to write through it"
    return ""


def refuse_link(path: str | os.PathLike, regular_only: bool = True) -> int | None:
    """Raise :class:`UnsafePath` if ``path`` exists and must not be written through (see :func:`_why_unsafe`),
    before any work; returns its file type (``stat.S_IFMT``), None when absent."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    why = _why_unsafe(st, regular_only)
    if why:
        raise UnsafePath(path, why)
    return stat.S_IFMT(st.st_mode)


def open_nofollow(path: str | os.PathLike, *, append: bool = False) -> int:
    """Open ``path`` for writing (created ``0o666`` less the umask) and return the descriptor, refusing a
    final symbolic link (``O_NOFOLLOW``), anything that is not a regular file, and a regular file with
    other hard links: a planted ``report.jsonl -> ../pages/p001.png`` (soft or hard) must never turn an
    input into JSON. Truncation (``append=False``) happens only after those checks, on the descriptor."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
                     | (os.O_APPEND if append else 0), 0o666)
    except OSError:
        if path.is_symlink():
            raise UnsafePath(path, "is a symbolic link; mchmc writes only files it made, refusing to follow it") from None
        raise
    why = _why_unsafe(os.fstat(fd))
    if why:
        os.close(fd)
        raise UnsafePath(path, why)
    if not append:
        os.ftruncate(fd, 0)
    return fd


def real_folder(path: str | os.PathLike, root: str | os.PathLike | None = None, *, make: bool = True) -> Path:
    """Make ``path`` (and its parents below ``root``) as real folders, refusing any component below ``root``
    that is a symbolic link or not a folder: a planted ``DST/.mchmc -> /elsewhere`` must not carry writes
    out of DST. ``root`` itself (the user's DST) may be a link the user chose. Returns ``path``.
    ``make=False`` creates nothing: the components that exist are checked (a dry run)."""
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    try:
        parts = path.relative_to(base).parts
    except ValueError:
        parts = ("..",)
    if ".." in parts:
        raise UnsafePath(path, f"outside {shown(base)}")
    if make:
        base.mkdir(parents=True, exist_ok=True)
    here = base
    for part in parts:
        here = here / part
        if make:
            try:
                os.mkdir(here)
            except FileExistsError:
                pass
        elif not os.path.lexists(here):
            break  # a dry run makes nothing: nothing below it to check
        st = os.lstat(here)
        if stat.S_ISLNK(st.st_mode):
            raise UnsafePath(here, "is a symbolic link; mchmc keeps its own files only in real folders, "
                                   "refusing to follow it")
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafePath(here, "exists and is not a folder")
    return path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def temporary_owner(name: str) -> tuple[str, int] | None:
    """(host, pid) that owns the temporary ``name``; None for a name of another form."""
    m = _TEMP_RE.match(name)
    return (m["host"], int(m["pid"])) if m else None


def stale(name: str) -> bool:
    """A temporary whose owner, on this host, is no longer running."""
    who = temporary_owner(name)
    return who is not None and who[0] == host() and who[1] != os.getpid() and not pid_alive(who[1])


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete the temporaries under ``folder`` that dead runs on this host left; returns how many.
    Temporaries of live runs, and of other hosts (whose pids mean nothing here), are left alone."""
    count = 0
    for root, _, files in os.walk(folder):
        for name in files:
            if is_temporary(name) and stale(name):
                Path(root, name).unlink(missing_ok=True)
                count += 1
    return count


def remove_own_temporaries(folder: str | os.PathLike, tag: str | None = None) -> int:
    """Delete the temporaries under ``folder`` owned by ``tag`` (default: this process's owner)."""
    prefix = f"{TEMP_PREFIX}{tag or owner()}."
    count = 0
    for root, _, files in os.walk(folder):
        for name in files:
            if name.startswith(prefix) and name.endswith(TEMP_SUFFIX):
                Path(root, name).unlink(missing_ok=True)
                count += 1
    return count


def file_sha256(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
