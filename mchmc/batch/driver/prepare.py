"""Everything a batch run checks before it starts, and the plan it then runs.

:func:`prepare` plans SRC -> DST (:mod:`mchmc.batch.plan`: the rules that keep
inputs untouched and outputs inside DST), checks that DST and the report can be
written and have room, and fixes the options the workers get (outputs staged
under temporaries this run owns). Any problem is a :class:`RunError`: one line,
exit code 2, nothing touched.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

from mchmc.batch.ledger import LEDGER_NAME, check_links
from mchmc.batch.options import BatchOptions
from mchmc.batch.plan import IMAGE_EXTENSIONS, LIST_EXTENSIONS, Checked, Plan, PlanError, Seen, check_plan
from mchmc.batch.report.reportfile import report_paths
from mchmc.containers.formats import is_container, is_document
from mchmc.errors import MchmcError, shown
from mchmc.fsutil import STATE_DIR, UnsafePath, owner, real_folder, refuse_link, temp_name


class RunError(MchmcError):
    """A usage error found before any work (exit code 2)."""


@dataclass
class Prepared:
    plan: Plan
    options: BatchOptions
    report: Path
    csv: Path
    pages: int
    kind: str  # "upscale" | "classify"
    seen: Seen  # what the checking walk passed over (non-images, symlinks, missing list entries)

    @property
    def writes(self) -> bool:
        return not self.options.classify_only


def prepare(src: str, dst: str | None, options: BatchOptions, report: str | None = None,
            dry_run: bool = False) -> Prepared:
    """Plan and check everything a run needs before it starts; raises :class:`RunError` (one line).
    ``dry_run``: the plan's rules only; nothing is created on disk."""
    kind = "classify" if options.classify_only else "upscale"
    volume = is_container(src)  # a container's output may be named as one of its kind, an image's as an image
    named = bool(dst) and (is_container(dst) and is_document(dst) == is_document(src) if volume
                           else Path(dst).suffix.lower() in IMAGE_EXTENSIONS)
    out_file = named and Path(src).is_file() and Path(src).suffix.lower() not in LIST_EXTENSIONS \
        and not Path(dst).is_dir()
    try:
        plan = Plan(src, dst or ".", options.output_name, out_file=out_file)
    except FileNotFoundError as err:
        raise RunError(str(err)) from None
    if out_file and options.format and not volume and options.output_name(Path(dst)) != Path(dst).name:
        raise RunError(f"{shown(dst)}: the output's extension says another format than --format {options.format}")
    default_report = (plan.root if kind == "upscale" else Path.cwd()) / f"mchmc-{kind}-report.jsonl"
    report_path, csv_path = report_paths(report or default_report)
    _refuse_state_folder(report_path, plan.root if kind == "upscale" else None)
    try:
        checked: Checked = check_plan(plan, (report_path, csv_path), writes=kind == "upscale")
    except PlanError as err:
        raise RunError(str(err)) from None
    if kind == "upscale":
        _check_state_folder(plan.root, make=not dry_run)
    _refuse_links(plan.root if kind == "upscale" else None, report_path, csv_path)
    if not dry_run:
        _check_writable(plan.root if kind == "upscale" else None, report_path, csv_path)
    if kind == "upscale":  # workers stage outputs under temporaries this run owns; the driver renames them
        options = replace(options, staged=True, owner=owner(), root=str(plan.root))
    return Prepared(plan, options, report_path, csv_path, checked.pages, kind, plan.seen)


def _refuse_state_folder(report: Path, root: Path | None) -> None:
    """A report (its CSV and HTML page beside it) inside a DST's state folder would replace the ledger
    or the lock (``--report DST/.mchmc/ledger.sqlite``): that folder holds only mchmc's own files.
    It is this run's DST's, or any folder of that name holding a ledger or a lock."""
    here = Path(os.path.realpath(report.parent))
    state = Path(os.path.realpath(root / STATE_DIR)) if root is not None else None
    if any(p == state or p.name == STATE_DIR and any((p / n).exists() for n in (LEDGER_NAME, "lock"))
           for p in (here, *here.parents)):
        raise RunError(f"{shown(report)}: inside a DST's state folder ({STATE_DIR}/), which holds mchmc's "
                       "ledger and lock; give --report another path")


def _check_state_folder(root: Path, make: bool) -> None:
    """``DST/.mchmc`` (the lock, the ledger, a volume's waiting pages) is a real folder, made here
    (``make``) or only checked: a planted link there would carry every one of them out of DST."""
    try:
        real_folder(root / STATE_DIR, root, make=make)
    except UnsafePath as err:
        raise RunError(str(err)) from None
    except OSError as err:
        raise RunError(f"{shown(root)}: cannot write here ({err.strerror or err})") from None


def _refuse_links(root: Path | None, *reports: Path) -> None:
    """A link planted at a report file, DST's state folder or its ledger: refused before any work
    (the writers refuse them again as they open them)."""
    try:
        for r in reports:
            refuse_link(r)
        if root is not None and (root / STATE_DIR).is_dir():
            check_links(root / STATE_DIR / LEDGER_NAME)
    except UnsafePath as err:
        raise RunError(str(err)) from None


def _check_writable(root: Path | None, *reports: Path) -> None:
    """DST and the report's folder exist (or can be made), accept a file, and have room. The
    probe is a new file of a name no one planted (``O_EXCL`` never follows a link)."""
    for folder in ([root / STATE_DIR] if root else []) + [r.parent for r in reports]:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / temp_name("probe")
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                left = memoryview(b"\0" * 4096)
                while left:  # a short write (a file-size limit, a nearly full disk) is not room: go on to its error
                    left = left[os.write(fd, left):]
                os.fsync(fd)
            finally:
                os.close(fd)
                probe.unlink(missing_ok=True)
        except OSError as err:
            raise RunError(f"{shown(folder)}: cannot write here ({err.strerror or err})") from None
        if shutil.disk_usage(folder).free < 1 << 20:
            raise RunError(f"{shown(folder)}: the disk is full (under 1 MB free)")
    for r in reports:
        if r.is_dir():
            raise RunError(f"{shown(r)}: the report path is a folder")
