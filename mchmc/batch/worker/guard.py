"""A worker's call never raises for a bad page: :func:`guarded` turns its failure into the one
line that names the file, and the record carries it."""
from __future__ import annotations

from mchmc.batch.plan import Job
from mchmc.errors import FileError, MchmcError


def guarded(job: Job, fn, *args) -> str:
    """Run ``fn``; any failure becomes the one-line reason that names the file ("" = success)."""
    try:
        fn(*args)
    except MchmcError as err:
        return str(err)
    except MemoryError:
        return f"{job.src}: out of memory"
    except Exception as err:  # a bug or an unforeseen codec failure: still one line, the run goes on
        return str(FileError(job.src, f"{type(err).__name__}: {err}"))
    return ""
