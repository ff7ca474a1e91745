"""Counts and sizes out of range, refused in one line before any work (issue 28, B8)."""
from __future__ import annotations

import math
import os


def out_of_range(max_memory: float | None, cpus: int | None, ray_address: str | None) -> str | None:
    """What is wrong with ``--max-memory`` (GB) or ``--cpus``, in one line, else None.

    ``--max-memory`` is a finite number of GB that holds at least the smallest page (1 x 1 px,
    gray): below that every page would be refused, one by one, after Ray had started. A local run
    starts one worker process per ``--cpus``, so it asks for no more than this machine's cores
    (a cluster, ``--ray-address``, has its own count)."""
    from mchmc.pages.limits import page_memory_bytes

    least = page_memory_bytes(1, 1, 1, 1) / 1e9
    if max_memory is not None and not (math.isfinite(max_memory) and max_memory >= least):
        return (f"--max-memory must be a finite number of GB, at least {least:.2f} (what the smallest page "
                f"needs), not {max_memory:g}")
    if cpus is not None and cpus < 0:
        return "--gpus and --cpus must be >= 0"
    cores = os.cpu_count() or 1
    if cpus is not None and not ray_address and cpus > cores:
        return (f"--cpus {cpus}: this machine has {cores} cores; use at most {cores} (one worker per core), "
                "or --ray-address to join a cluster that has more")
    return None
