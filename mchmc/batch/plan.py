"""What a batch run has to do: find the pages under SRC and where each goes
under DST, and refuse, before any work, a plan that could touch an input.

SRC may be one image file, a folder (walked recursively; the tree is mirrored
under DST; files that are not images are ignored and counted), or a text file
listing one path per line (blank lines and lines starting with '#' skipped).
A container (a CBZ / ZIP volume, a scanned PDF) is one job whose output keeps
its name whatever ``--format`` says (its pages are the driver's business:
mchmc.batch.driver.volumes).
A listed path inside the list's folder is mirrored relative to it; one
outside it (absolute, or climbing out with ``..``) is mirrored by its whole
normalised absolute path under DST, so two listed files never collide and no
output climbs out of DST. A DST inside SRC is never scanned, so re-running
over the same folder does not upscale its own output.

The rules (:func:`check_plan`), each a one-line usage error before any work:

- every output, with symlinks resolved, lies inside DST (a symlinked folder
  inside DST that points elsewhere is refused, not written through);
- no output is an input of the run, nor lands among the inputs SRC would scan
  (DST = SRC); a folder SRC (or a list's folder) inside DST is refused
  outright: mirrored, its tree lands among DST's own files;
- neither report file is an input or an output;
- no two inputs map to one output (``a.png`` + ``a.tif`` under ``--format png``),
  nor two entries of a volume (``001.png`` + ``001.jpg`` in one CBZ).

Symlinks *inside* SRC are not followed, files or folders: an archive is read
from where it is, never from wherever a link points. They are counted and
named in the start-up line. A path given on the command line or in a list is
the user's explicit choice and is followed.

The plan is a generator: jobs are produced as the walk goes, so a run over a
million pages never holds its plan (see ``bench/driver_memory.py``).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from mchmc.containers.entry import IMAGE, member_path
from mchmc.containers.formats import handler, is_container
from mchmc.errors import MchmcError, shown
from mchmc.fsutil import is_temporary
from mchmc.pages.meta import EXTENSIONS

IMAGE_EXTENSIONS = frozenset(EXTENSIONS)  # one list of what a page can be: the reader's own
LIST_EXTENSIONS = frozenset({".txt", ".lst", ".list"})
MAX_NAMED = 20  # missing / symlinked paths kept by name for the messages (the rest are counted)


class PlanError(MchmcError):
    """A plan that would touch an input, write outside DST, or map two inputs onto one output."""


@dataclass(frozen=True)
class Job:
    """One input file and the output file it becomes."""

    src: Path
    dst: Path


@dataclass
class Seen:
    """What the walk passed over, filled as :meth:`Plan.jobs` runs."""

    ignored: int = 0  # non-image files
    missing: list[Path] = field(default_factory=list)  # listed but absent (first MAX_NAMED)
    missing_count: int = 0
    symlinks: list[Path] = field(default_factory=list)  # inside SRC, not followed (first MAX_NAMED)
    symlink_count: int = 0


def same_name(src: Path) -> str:
    return src.name


def is_page_file(path: Path) -> bool:
    """A page file: an image, or a container of them (CBZ / ZIP volume, PDF)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS or is_container(path)


def _inside(path: str, folder: str) -> bool:
    """Both already real (resolved) absolute paths."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@lru_cache(maxsize=4096)
def _real_dir(folder: str) -> str:
    return os.path.realpath(folder)


def real(path: Path) -> str:
    """``path`` with every symlink of its folders resolved (the file itself may not exist yet)."""
    return os.path.join(_real_dir(str(path.parent)), path.name)


class Plan:
    """The jobs of SRC -> DST; ``jobs()`` may be iterated more than once (each a fresh walk)."""

    def __init__(self, src: str | os.PathLike, dst: str | os.PathLike,
                 name_for: Callable[[Path], str] = same_name, out_file: bool = False):
        """``out_file``: SRC is one image and DST names the output file itself (waifu2x's ``-o x.png``)."""
        self.src, self.dst = Path(src), Path(dst)
        self.name_for = lambda path: path.name if is_container(path) else name_for(path)  # a volume keeps its name
        self.page_name = name_for  # a page's name, loose or inside a volume
        if self.src.is_dir():
            self.kind = "folder"
        elif self.src.is_file():
            self.kind = "list" if self.src.suffix.lower() in LIST_EXTENSIONS else "file"
        else:
            raise FileNotFoundError(f"{shown(self.src)}: no such file or folder")
        self.out_file = out_file and self.kind == "file"
        self.root = self.dst.parent if self.out_file else self.dst  # the folder the run owns
        self.seen = Seen()

    def jobs(self) -> Iterator[Job]:
        self.seen = Seen()
        if self.kind == "folder":
            yield from self._folder()
        elif self.kind == "list":
            yield from self._list()
        else:
            yield Job(self.src, self.dst if self.out_file else self.dst / self.name_for(self.src))

    def _folder(self) -> Iterator[Job]:
        src_real, dst_real = os.path.realpath(self.src), os.path.realpath(self.dst)
        skip = dst_real if _inside(dst_real, src_real) and dst_real != src_real else None

        def walk(folder: Path, rel: Path) -> Iterator[Job]:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                return
            subdirs = []
            for e in entries:
                if e.name.startswith(".") or is_temporary(e.name):
                    continue  # hidden files and folders, our own temporaries and state
                if e.is_symlink():
                    self._symlink(Path(e.path))
                elif e.is_dir(follow_symlinks=False):
                    subdirs.append(e)
                elif e.is_file(follow_symlinks=False):
                    path = Path(e.path)
                    if is_page_file(path):
                        yield Job(path, self.dst / rel / self.name_for(path))
                    else:
                        self.seen.ignored += 1
            for e in subdirs:
                if skip is None or os.path.realpath(e.path) != skip:
                    yield from walk(Path(e.path), rel / e.name)

        yield from walk(self.src, Path())

    def _symlink(self, path: Path) -> None:
        self.seen.symlink_count += 1
        if len(self.seen.symlinks) < MAX_NAMED:
            self.seen.symlinks.append(path)

    def _list(self) -> Iterator[Job]:
        base = Path(os.path.abspath(self.src.parent))
        with open(self.src, encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                path = Path(os.path.normpath(base / Path(line).expanduser()))  # absolute, no '..' left
                if not path.is_file():
                    self.seen.missing_count += 1
                    if len(self.seen.missing) < MAX_NAMED:
                        self.seen.missing.append(path)
                    continue
                try:
                    rel = path.parent.relative_to(base)
                except ValueError:  # outside the list's folder: its whole path, mirrored
                    rel = path.parent.relative_to(path.anchor)
                yield Job(path, self.dst / rel / self.name_for(path))


@dataclass(frozen=True)
class Checked:
    pages: int  # pages in the plan: one per image file, one per image entry of a volume or plain image page of a PDF


def check_plan(plan: Plan, reports: tuple[Path, ...] = (), writes: bool = True) -> Checked:
    """Apply the module's rules to every job (one streamed pass; two for a list).
    Raises :class:`PlanError` with a one-line reason; returns the job count.
    ``writes=False`` (classify): only the report must not be an input."""
    dst_real = os.path.realpath(plan.dst if not plan.out_file else plan.root)
    reports_real = {real(Path(os.path.abspath(r))) for r in reports}
    if writes and plan.kind == "folder" and os.path.realpath(plan.src) == dst_real:
        raise PlanError(f"{shown(plan.dst)}: DST is SRC, so every output would replace its original; "
                        "choose another --out")
    if writes and plan.root.exists() and not plan.root.is_dir():
        raise PlanError(f"{shown(plan.root)}: DST exists and is not a folder")
    src_real = os.path.realpath(plan.src)
    if writes:
        _check_src_not_inside_dst(plan, src_real, dst_real)
    scanned_dst = _inside(dst_real, src_real) and plan.kind == "folder"
    listed_in_dst: set[str] = set()
    if writes and plan.kind == "list":  # the only inputs an output could be: those inside DST
        listed_in_dst = {r for r in (os.path.realpath(j.src) for j in plan.jobs()) if _inside(r, dst_real)}
    outputs: dict[str, Path] = {}  # of the current folder (folder plans) or of the whole list
    folder, count = None, 0
    for job in plan.jobs():
        count += _container_pages(plan, job, writes) if is_container(job.src) else 1
        src = os.path.realpath(job.src)
        if src in reports_real:
            raise PlanError(f"{shown(job.src)}: the report would overwrite this input; give --report another path")
        if not writes:
            continue
        out = real(job.dst)
        if not _inside(out, dst_real):
            raise PlanError(f"{shown(job.dst)}: this output would land outside DST (at {shown(out)}, through a "
                            "symlink); remove the link or choose another --out")
        if out == src or out in listed_in_dst or (plan.kind == "folder" and _inside(out, src_real)
                                                 and not scanned_dst):
            raise PlanError(f"{shown(job.dst)}: this output would overwrite an input (DST overlaps SRC); "
                            "choose an --out outside SRC")
        if plan.kind == "file" and out == src:
            raise PlanError(f"{shown(job.dst)}: the output would replace the input")
        if out in reports_real:
            raise PlanError(f"{shown(job.dst)}: the report would overwrite this output; give --report another path")
        if plan.kind == "folder" and job.dst.parent != folder:
            folder = job.dst.parent
            outputs.clear()  # mirrored folders: outputs of different folders never meet
        if out in outputs:
            raise PlanError(f"{shown(job.src)}: same output {shown(job.dst)} as {shown(outputs[out])}; "
                            "choose another --format or folder")
        outputs[out] = job.src
    return Checked(count)


def _container_pages(plan: Plan, job: Job, writes: bool) -> int:
    """A volume's pages (0 for one its run will refuse, saying why). Writing, two of its entries
    must not become one (``001.png`` + ``001.jpg`` under ``--format png``): the loose files' rule."""
    fmt = handler(job.src)
    if not writes:
        return fmt.count_pages(job.src)
    try:
        found = fmt.entries(job.src)
    except (MchmcError, OSError):
        return 0
    names: dict[str, str] = {}  # output name -> the first entry that takes it
    for e in found:
        out = fmt.page_names(e, plan.page_name)[0] if e.kind == IMAGE else e.name
        first = names.setdefault(out, e.name)
        if first != e.name:  # the same name twice in the input stays twice, as it was
            raise PlanError(f"{shown(member_path(job.src, e.name))}: same output {shown(member_path(job.dst, out))} "
                            f"as {shown(member_path(job.src, first))}; choose another --format")
    return sum(e.kind == IMAGE for e in found)


def _check_src_not_inside_dst(plan: Plan, src_real: str, dst_real: str) -> None:
    """A folder (or a list's folder, which its entries mirror) inside DST: its tree, mirrored, lands
    among DST's own files, so ``arch/chapter1 --out arch`` would put chapter1's ``p001.jpg`` over
    ``arch/p001.jpg``, another original. One file is the user's named choice: the other rules apply."""
    tree = src_real if plan.kind == "folder" else os.path.dirname(src_real) if plan.kind == "list" else None
    if tree is not None and tree != dst_real and _inside(tree, dst_real):
        raise PlanError(f"{shown(plan.src)}: SRC is inside DST ({shown(plan.dst)}), so its outputs would land among "
                        "the files already there and could overwrite an input; choose an --out outside SRC")


def scan(src: str | os.PathLike, dst: str | os.PathLike, name_for: Callable[[Path], str] = same_name
         ) -> tuple[list[Job], Seen]:
    """The whole plan in memory, checked (small runs and tests)."""
    plan = Plan(src, dst, name_for)
    check_plan(plan)
    jobs = list(plan.jobs())
    return jobs, plan.seen
