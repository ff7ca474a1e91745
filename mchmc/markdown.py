"""Markdown tables, the one builder: the experiment report, the Prefect artifacts
of every flow and the command-line summaries all print rows this way."""
from __future__ import annotations

from collections.abc import Callable, Sequence


def table(rows: Sequence[dict], cell: Callable[[object], str] = str, empty: str = "_(no data yet)_") -> str:
    """A GitHub-flavoured table of ``rows`` (dicts; the first one's keys are the columns)."""
    if not rows:
        return empty
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)
