"""What a batch run has to do: find the pages under SRC and where each goes under DST.

SRC may be one image file, a folder (walked recursively; the tree is mirrored
under DST; files that are not images are ignored and counted), or a text file
listing one path per line (relative paths are taken from the list's folder;
blank lines and lines starting with '#' are skipped). A DST inside SRC is
never scanned, so re-running over the same folder does not upscale its own
output. Inputs are only ever read.

A page counts as done when its output exists under its final name: outputs are
written to a temporary name in the destination folder and renamed when
complete (see :func:`atomic_output`), so a file under the final name is always
whole. Leftover temporaries of an interrupted run are removed on the next scan.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .pagemeta import EXTENSIONS

# one list of what a page can be: the reader's own extension table
IMAGE_EXTENSIONS = frozenset(EXTENSIONS)
LIST_EXTENSIONS = frozenset({".txt", ".lst", ".list"})
TEMP_PREFIX, TEMP_SUFFIX = ".mchmc-", ".part"


@dataclass(frozen=True)
class Job:
    """One input file and the output file it becomes."""

    src: Path
    dst: Path

    @property
    def done(self) -> bool:
        return self.dst.is_file()


@dataclass
class Scan:
    jobs: list[Job] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)  # non-image files seen in SRC
    missing: list[Path] = field(default_factory=list)  # listed in a list file but absent


def same_name(src: Path) -> str:
    return src.name


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def _walk(folder: Path, exclude: Path | None) -> Iterator[Path]:
    """Files under folder in a stable order, not descending into ``exclude``."""
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not (exclude and _inside(root_path / d, exclude)) and not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(TEMP_PREFIX):
                yield root_path / name


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def scan(src: str | os.PathLike, dst: str | os.PathLike, name_for: Callable[[Path], str] = same_name) -> Scan:
    """Plan the jobs for SRC -> DST. ``name_for(src_file)`` gives an output file name."""
    src, dst = Path(src), Path(dst)
    result = Scan()
    if src.is_dir():
        for path in _walk(src, dst if _inside(dst, src) else None):
            if is_image(path):
                rel = path.parent.relative_to(src)
                result.jobs.append(Job(path, dst / rel / name_for(path)))
            else:
                result.ignored.append(path)
    elif src.is_file() and src.suffix.lower() in LIST_EXTENSIONS:
        base = src.parent
        for line in src.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            path = Path(line).expanduser()
            path = path if path.is_absolute() else base / path
            if not path.is_file():
                result.missing.append(path)
                continue
            rel = path.parent.relative_to(base) if _inside(path, base) else Path()
            result.jobs.append(Job(path, dst / rel / name_for(path)))
    elif src.is_file():
        result.jobs.append(Job(src, dst / name_for(src)))
    else:
        raise FileNotFoundError(f"{src}: no such file or folder")
    _check_collisions(result.jobs)
    return result


def _check_collisions(jobs: list[Job]) -> None:
    """Two inputs mapping to one output (a.png and a.tif with --format png) is a usage error."""
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.dst in seen:
            raise ValueError(f"{job.src}: same output {job.dst} as {seen[job.dst]}; choose another --format or folder")
        seen[job.dst] = job.src


def remove_stale_temporaries(folder: str | os.PathLike) -> int:
    """Delete temporaries an interrupted run left under ``folder``; returns how many."""
    count = 0
    for root, _, files in os.walk(folder):
        for name in files:
            if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX):
                Path(root, name).unlink(missing_ok=True)
                count += 1
    return count


@contextmanager
def atomic_output(dst: str | os.PathLike, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path in dst's folder; rename it to dst only if the block succeeds.
    ``fsync`` flushes the file to disk before the rename (checkpoints, pointers:
    after a power cut the name then never points at a file the disk lost)."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{dst.stem}.", suffix=f"{dst.suffix}{TEMP_SUFFIX}", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
