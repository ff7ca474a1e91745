"""Runs the container tests share (CBZ / ZIP volumes, PDFs): kill -9 mid-container
then resume, the same page upscaled loose, and classify over a container."""
from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

from mchmc.batch.plan import Job
from mchmc.batch.records import PageRecord, read_jsonl
from mchmc.batch.options import BatchOptions
from mchmc.batch.worker.pageworker import PageWorker
from test_safety_cli import mchmc, wait_for_records


def killed_then_resumed(model: str, src: Path, dst: Path, container: str, pages: int) -> None:
    """``mchmc upscale SRC`` killed -9 after 3 pages of ``container``, then run again: no half container
    after the kill; after the rerun every page done once (the finished ones skipped, not redone), nothing left
    waiting."""
    report = dst / "mchmc-upscale-report.jsonl"
    args = ["upscale", str(src), "--out", str(dst), "--model", model, "--cpus", "2", "--tile", "16"]
    proc = subprocess.Popen([sys.executable, "-m", "mchmc.cli.app", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for_records(report, 3, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {r.input for r in read_jsonl(report) if r.status == "ok"}
    assert 3 <= len(first) < pages and not (dst / container).exists(), "killed mid-volume, no half volume"
    res = mchmc(*args)
    assert res.returncode == 0, res.stdout + res.stderr
    second = list(read_jsonl(report))
    assert {r.input for r in second if r.status == "skipped"} >= first, "no finished page is redone"
    assert sum(r.status in ("ok", "skipped") for r in second if "!/" in r.input) == pages
    assert not list(dst.rglob("*.part")) and not any((dst / ".mchmc" / "containers").iterdir())


@functools.lru_cache(maxsize=2)
def _reference(model: str) -> PageWorker:
    return PageWorker(BatchOptions(model=model, tile=16), name="ref")


def upscaled_loose(model: str, folder: Path, name: str, data: bytes) -> bytes:
    """``data`` as a loose page ``name`` upscaled by a worker of the kill -9 runs' options: what its page must be."""
    (folder / "loose" / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / "loose" / name).write_bytes(data)
    assert _reference(model).process(Job(folder / "loose" / name, folder / "ref" / name)).status == "ok"
    return (folder / "ref" / name).read_bytes()


def classified(model: str, path: Path, folder: Path) -> dict[str, PageRecord]:
    """``mchmc classify PATH`` with its report in ``folder``: the records by input; the run exits 0 and
    writes nothing but its report."""
    report = folder / "cls.jsonl"
    res = mchmc("classify", str(path), "--report", str(report), "--model", model, "--cpus", "2", "--tile", "32")
    assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["cls.csv", "cls.html", "cls.jsonl"], "nothing else written"
    return {r.input: r for r in read_jsonl(report)}
