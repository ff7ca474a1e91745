"""Never lose a page (issue 15) under signals and concurrency, through the real CLI: Ctrl-C records every
finished page and exits 130, a second Ctrl-C exits at once, kill -9 of the driver takes every helper with it,
and a second run on the same DST is refused in one line. Split from test_safety_cli.py, whose helpers and
model fixture it imports."""
# ruff: noqa: F811  (the fixture imported from test_safety_cli is the tests' parameter)
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from test_safety_cli import (  # noqa: F401  (model: a fixture)
    lines,
    many_pages,
    model,
    start,
    upscale,
    usage_error,
    wait_for_records,
)

from mchmc.batch.pool.pool import PoolSpec
from mchmc.batch.records import read_jsonl

pytestmark = pytest.mark.slow
INTERRUPTED = "interrupted: recording the pages in flight"  # the CLI's SIGINT handler has set the stop


def wait_for_interrupt(log: Path, proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if INTERRUPTED in log.read_text(errors="replace"):
            return
        time.sleep(0.05)
    raise AssertionError("the run never reported the interrupt")


def ok_pages(report: Path) -> set[str]:
    return {Path(r.output).name for r in read_jsonl(report) if r.status == "ok"}


def test_13_ctrl_c_records_every_finished_page_and_exits_130(model, tmp_path):
    """After Ctrl-C no page is fed: only the pages in flight then (at most per_actor queued on each of
    the 2 workers) are still finished and recorded; the rest of the 60 are left for the next run."""
    src, dst = many_pages(tmp_path / "src"), tmp_path / "out"
    report, log = dst / "mchmc-upscale-report.jsonl", tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        proc = start(model, src, dst, stderr=stderr)
        wait_for_records(report, 2, proc)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal sends it: to the whole foreground group
        wait_for_interrupt(log, proc)
        at_stop = len(ok_pages(report))
        out, _ = proc.communicate(timeout=120)
    err = log.read_text(errors="replace")
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and sum("interrupted" in ln for ln in lines(err)) == 2, err
    recorded = ok_pages(report)
    assert at_stop <= len(recorded) <= at_stop + 2 * PoolSpec().per_actor, "only the pages in flight were finished"
    on_disk = {p.name for p in dst.glob("p*.png")}
    assert on_disk == recorded and 2 <= len(on_disk) < 60, "every page on disk is in the report, and only those"
    assert not [p for p in dst.rglob("*") if p.name.endswith(".part")]
    res = upscale(model, src, dst)  # the same command finishes the rest
    assert res.returncode == 0 and len(list(dst.glob("p*.png"))) == 60


def test_13_a_second_ctrl_c_exits_at_once(model, tmp_path):
    """The second Ctrl-C does not wait for the page in flight (seconds of work): the run leaves
    before it is recorded, without the summary."""
    src, dst = many_pages(tmp_path / "src", 8, 384, 512), tmp_path / "out"
    report, log = dst / "mchmc-upscale-report.jsonl", tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        proc = start(model, src, dst, "--cpus", "1", stderr=stderr)
        wait_for_records(report, 1, proc)
        os.killpg(proc.pid, signal.SIGINT)
        wait_for_interrupt(log, proc)
        at_first = ok_pages(report)
        os.killpg(proc.pid, signal.SIGINT)
        proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert ok_pages(report) == at_first, "the page in flight was not waited for"
    assert sum("interrupted" in ln for ln in lines(log.read_text(errors="replace"))) == 1, "no summary"


def helpers_of(pid: int) -> set[int]:
    """Processes carrying the run's reaper token (every process the driver started)."""
    env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    tokens = {e for e in env if e.startswith(b"MCHMC_RUN_TOKEN=")}
    found = set()
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if tokens & set((p / "environ").read_bytes().split(b"\0")):
                    found.add(int(p.name))
            except OSError:
                pass
    return found


def test_14_kill_9_of_the_driver_takes_every_helper_process_with_it(model, tmp_path):
    src, dst = many_pages(tmp_path / "src"), tmp_path / "out"
    proc = start(model, src, dst)
    wait_for_records(dst / "mchmc-upscale-report.jsonl", 1, proc)
    children = [int(c) for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    helpers = set().union(*(helpers_of(c) for c in children if Path(f"/proc/{c}").exists()))
    assert len(helpers) >= 3, "Ray's processes carry the token"
    proc.kill()
    proc.communicate()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in helpers):
        time.sleep(0.2)
    alive = [p for p in helpers if Path(f"/proc/{p}").exists()
             and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"]
    assert not alive, f"orphans left: {alive}"


def test_15_a_second_run_on_the_same_dst_is_refused_in_one_line(model, tmp_path):
    src, dst = many_pages(tmp_path / "src", 40, 384, 512), tmp_path / "out"  # minutes of work for one worker
    proc = start(model, src, dst, "--cpus", "1")
    try:
        wait_for_records(dst / "mchmc-upscale-report.jsonl", 1, proc)
        usage_error(upscale(model, src, dst), "another mchmc upscale is writing here")
    finally:
        proc.kill()
        proc.communicate()
