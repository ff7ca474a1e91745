"""``mchmc-report.html``: a run's report as one static page that opens from disk.

Built from the JSONL records (:func:`build`), beside the JSONL and the CSV: at
the end of every ``mchmc upscale`` / ``mchmc classify`` run (the driver's one
call, :func:`for_run`) and again by ``mchmc report DST`` (so a resumed run's
page shows every page the JSONL holds). The page is self-contained: its script
and style are inline and ours (:mod:`mchmc.batch.report.htmlpage`,
:mod:`mchmc.batch.report.htmlscript`), it loads nothing but the run's own images
through relative links, and its Content-Security-Policy allows exactly its own
script and style (by hash) and images from disk: no request leaves the
machine, and nothing a file name could smuggle in would run.

The records travel as JSON inside a ``<script type="application/json">``
element, with ``<``, ``>`` and ``&`` escaped (``</script>`` and ``<!--`` in a
file name stay text) and every non-ASCII character as ``\\uXXXX`` (U+2028 and
U+2029 included); the script renders every field with ``textContent``.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mchmc.batch.records import read_jsonl
from mchmc.batch.report.htmldata import payload
from mchmc.errors import shown
from mchmc.fsutil import STATE_DIR, atomic_write

HTML_NAME = "mchmc-report.html"
REPORT_NAMES = ("mchmc-upscale-report.jsonl", "mchmc-classify-report.jsonl")  # what `mchmc report DST` looks for
_RUN = re.compile(r'<script type="application/json" id="mchmc-run">(.*?)</script>', re.S)


def html_path(jsonl: str | os.PathLike) -> Path:
    """Where a report's page goes, beside the JSONL: ``mchmc-report.html`` for a run's default report,
    ``NAME.html`` for ``--report NAME.jsonl`` (two reports kept in one folder keep a page each)."""
    jsonl = Path(jsonl)
    page = jsonl.with_name(HTML_NAME if jsonl.name in REPORT_NAMES else jsonl.stem + ".html")
    return page if page != jsonl else jsonl.with_name(jsonl.name + ".html")  # --report r.html: r.html.html


def also_html(jsonl: str | os.PathLike) -> str:
    """What the end-of-run line adds about the page: ``, mchmc-report.html (open it in a browser)``, or ""."""
    page = html_path(jsonl)
    return f", {shown(page.name)}: open it in a browser" if page.is_file() else ""


def embed_json(obj) -> str:
    """``obj`` as JSON that is inert inside an HTML ``<script>`` element (see the module doc)."""
    text = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def render(data: dict) -> str:
    """The page for ``data`` (:func:`mchmc.batch.report.htmldata.payload`)."""
    from mchmc.batch.report.htmlpage import STYLE, TEMPLATE
    from mchmc.batch.report.htmlscript import SCRIPT

    csp = (f"default-src 'none'; script-src {_hash(SCRIPT)}; style-src {_hash(STYLE)}; "
           "img-src 'self' file: data:; base-uri 'none'; form-action 'none'")
    parts = {"@CSP@": csp, "@STYLE@": STYLE, "@SCRIPT@": SCRIPT, "@RUN@": embed_json(data["run"]),
             "@DATA@": embed_json(data)}
    return re.sub("|".join(map(re.escape, parts)), lambda m: parts[m.group(0)], TEMPLATE)


def previous_run(html: str | os.PathLike) -> dict:
    """The run facts (model, precision ...) an earlier page recorded; {} when there is none."""
    try:
        with open(html, encoding="utf-8", errors="replace") as f:
            head = f.read(65536)
        found = _RUN.search(head)
        run = json.loads(found.group(1)) if found else {}
        return run if isinstance(run, dict) else {}
    except (OSError, ValueError):
        return {}


def build(jsonl: str | os.PathLike, *, dst: str | os.PathLike | None = None, run: dict | None = None,
          out: str | os.PathLike | None = None, on_bad: Callable[[str], None] | None = None) -> Path:
    """Write the page of the report ``jsonl`` (default: :func:`html_path`); ``dst``: the upscale run's
    DST (its thumbnails; nothing outside it is written through a link); ``run``: what the run was asked
    (default: what the page there before said); ``on_bad`` hears how many lines were not page records
    (None: the upscale run that wrote them has already said so). Returns the page's path."""
    out = Path(out) if out else html_path(jsonl)
    run = dict(previous_run(out) if run is None else run)
    run.setdefault("report", Path(jsonl).name)
    run["built"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    data = payload(read_jsonl(jsonl, on_bad=on_bad), out.parent, dst, run)
    text = render(data)
    inside = dst is not None and Path(os.path.abspath(out)).is_relative_to(os.path.abspath(dst))
    with atomic_write(out, root=dst if inside else out.parent) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out


def run_facts(options, kind: str) -> dict:
    """What the page's summary says the run was asked for."""
    return {"kind": kind, "model": options.model or "srformc", "precision": options.precision,
            "scale": options.scale, "noise": options.noise, "tta": options.tta, "format": options.format or "same"}


def for_run(prep) -> Path | None:
    """The page of a run that just ended (the driver's call): never fails the run, one warning instead."""
    try:
        return build(prep.report, dst=prep.plan.root if prep.writes else None,
                     run=run_facts(prep.options, prep.kind))
    except Exception as err:  # noqa: BLE001  (the JSONL and CSV are the report; the page is a view of them)
        print(f"warning: {shown(html_path(prep.report))}: {not_written(err)}", file=sys.stderr, flush=True)
        return None


def not_written(err: Exception) -> str:
    """Why the page is missing, in words: an OS error's own (``Is a directory``), never its type."""
    return f"the HTML report was not written ({getattr(err, 'strerror', None) or err})"


def find_report(path: str | os.PathLike) -> tuple[Path, Path | None] | None:
    """(JSONL, DST or None) behind ``mchmc report PATH``: PATH a run's JSONL, or a folder holding one of
    :data:`REPORT_NAMES` (an upscale run's DST first); None when PATH is neither."""
    path = Path(path)
    if path.is_file() and path.suffix == ".jsonl":
        found = path
    else:
        found = next((path / n for n in REPORT_NAMES if (path / n).is_file()), None)
        if found is None:
            return None
    folder = found.parent
    return found, folder if (folder / STATE_DIR).is_dir() and found.name != REPORT_NAMES[1] else None
