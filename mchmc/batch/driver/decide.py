"""What the driver decides for each planned job before any work (see :mod:`mchmc.batch.driver.loop`):
todo, skipped, conflict or failed earlier; and the dry run's list of the same decisions, its
ledger opened here (read only when DST already has one), never by the caller."""
from __future__ import annotations

import os
from collections.abc import Iterator

from mchmc.batch.driver.prepare import Prepared
from mchmc.batch.ledger import Ledger
from mchmc.batch.plan import Job
from mchmc.batch.records import FAILED_EARLIER, PageRecord
from mchmc.fsutil import STATE_DIR


def decision(job: Job, ledger: Ledger | None, overwrite: bool, retry_failed: bool = False) -> tuple[str, dict | None]:
    """("todo" | "skipped" | "conflict" | "failed-earlier", the earlier record of a skipped or failed page)
    for one job of an upscale run (see the module doc); the dry run lists the same decisions."""
    retry = overwrite or retry_failed
    failed = ledger.failure(job.src) if ledger is not None and not retry else None
    if failed is not None:
        return FAILED_EARLIER, failed
    if overwrite or not os.path.lexists(job.dst):
        return "todo", None
    earlier = ledger.finished(job.src, job.dst) if ledger is not None else None
    if earlier is None:
        return "conflict", None
    return ("todo", None) if retry and PageRecord.from_dict(earlier).failed_pages else ("skipped", earlier)


def planned(job: Job, ledger: Ledger | None, overwrite: bool, retry_failed: bool = False) -> str:
    """What the dry run says of one job: :func:`decision`'s action, except that a volume finished
    with pages that failed then is "failed-earlier", as the run counts those pages (exit 3)."""
    action, earlier = decision(job, ledger, overwrite, retry_failed)
    return FAILED_EARLIER if action == "skipped" and PageRecord.from_dict(earlier).failed_pages else action


def dry_run(prep: Prepared) -> Iterator[tuple[Job, str | None]]:
    """Every planned job with what the run would do to it (:func:`planned`), in the plan's order;
    None where the run writes nothing (classify). Nothing is written: DST's ledger is read
    where it already exists, and closed once the plan is listed."""
    ledger = Ledger(prep.plan.root) if prep.writes and (prep.plan.root / STATE_DIR).is_dir() else None
    try:
        for job in prep.plan.jobs():
            yield job, planned(job, ledger, prep.options.overwrite, prep.options.retry_failed) if prep.writes else None
    finally:
        if ledger:
            ledger.close()
