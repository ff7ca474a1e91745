"""``mchmc report DST``: a batch run's HTML page (``mchmc-report.html``) built again from its JSONL.

``mchmc report`` also writes the experiment's report (:mod:`cli.experiment`):
a folder (or ``.jsonl`` file) holding an ``mchmc upscale`` / ``classify``
report is a batch run's, anything else a runs folder."""
from __future__ import annotations

from rich.console import Console


def rebuild(path: str) -> int | None:
    """Rebuild the page of the batch report at ``path`` (exit code), or None when ``path`` holds none."""
    from mchmc.batch.report.htmlreport import build, find_report, not_written
    from mchmc.errors import MchmcError, shown

    found = find_report(path)
    if found is None:
        return None
    jsonl, dst = found
    err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    try:  # lines that are not page records (a crash's torn last line, another tool's JSON) are said, not silent
        page = build(jsonl, dst=dst, on_bad=lambda message: err_console.print(f"warning: {message}"))
    except (OSError, MchmcError) as err:
        err_console.print(f"error: {shown(jsonl)}: {not_written(err)}")
        return 1
    Console(highlight=False, soft_wrap=True).print(f"report: {shown(page)} (from {shown(jsonl.name)})")
    return 0
