"""The calls a container's work is made of (a CBZ / ZIP volume, a scanned PDF):
one per page, then one that writes the volume. The driver makes them
(:mod:`mchmc.batch.driver.volumes`), a worker takes them
(:mod:`mchmc.batch.worker.volumework`); the format's side is :mod:`mchmc.containers`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mchmc.batch.plan import Job
from mchmc.containers.entry import Entry


@dataclass(frozen=True)
class MemberCall:
    """One page of a volume. ``job`` names it as the report does
    (``SRC/vol.cbz!/003.jpg`` -> ``DST/vol.cbz!/003.png``); it is read from
    ``volume``'s ``entry``, goes back into the volume as ``out_name``, and waits
    in ``page_file`` until then (None when classifying: nothing is written).
    ``keeps_format``: the page is written in its own format whatever ``--format`` says."""

    job: Job
    volume: Path
    entry: Entry
    out_name: str
    page_file: Path | None
    keeps_format: bool = False


@dataclass(frozen=True)
class AssembleCall:
    """Write the volume ``job.src`` to ``job.dst``; ``pages`` holds (entry index,
    name in the output, page file) of every upscaled page, the rest is copied."""

    job: Job
    pages: tuple[tuple[int, str, str], ...]
