"""The report and the resume contract over many runs (issue 28: A1, D13-D17),
through the real CLI with real Ray workers.

The contract: the report names every page with its last result, whatever
the number of runs; a page that failed is retried only with
``--retry-failed`` (or ``--overwrite``), so a re-run with nothing new to do
starts no workers; the exit code tells new failures (1) from old ones (3);
the report is never written through a link, and one report is written by
one run at a time."""
from __future__ import annotations

import csv
import io
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import test_safety_cli
from hostile_containers import cbz_with_an_unnamed_entry
from test_safety_cli import lines, many_pages, page, start, upscale, wait_for_records
from test_safety_cli import usage_error as refused
from mchmc.batch.records import read_jsonl

pytestmark = pytest.mark.slow
model = test_safety_cli.model  # the tiny random MCH-MC model file, a module-scoped fixture
REPORT = "mchmc-upscale-report.jsonl"


def png_bytes(seed: int) -> bytes:
    """A page as ``page()`` makes it (64 x 48), as the bytes of a volume's entry."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- A1, D16: the report file itself

def test_a_report_that_is_a_symlink_to_a_page_is_refused_and_the_page_untouched(model, tmp_path):
    a = page(tmp_path / "src" / "a.png", 1)
    before = a.read_bytes()
    (tmp_path / "rep.jsonl").symlink_to(a)
    refused(upscale(model, tmp_path / "src", tmp_path / "out", "--report", str(tmp_path / "rep.jsonl")),
            "rep.jsonl", "symbolic link")
    assert a.read_bytes() == before and not (tmp_path / "out" / "a.png").exists()


def test_a_report_link_planted_in_dst_is_refused_without_any_flag(model, tmp_path):
    a = page(tmp_path / "src" / "a.png", 1)
    victim = page(tmp_path / "elsewhere" / "p001.png", 2)
    before = victim.read_bytes()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / REPORT).symlink_to(victim)
    refused(upscale(model, tmp_path / "src", tmp_path / "out"), REPORT, "symbolic link")
    assert victim.read_bytes() == before and a.exists() and not (tmp_path / "out" / "a.png").exists()


@pytest.mark.parametrize("command", ["upscale", "classify"])
@pytest.mark.parametrize("name", ["ledger.sqlite", "lock"])
def test_a_report_inside_dst_s_state_folder_is_refused_and_the_ledger_untouched(model, tmp_path, command, name):
    """``--report DST/.mchmc/ledger.sqlite`` turned the ledger into JSONL (every page then a conflict):
    mchmc's state folder holds only its own files."""
    from test_safety_cli import mchmc

    page(tmp_path / "src" / "a.png", 1)
    dst = tmp_path / "out"
    assert upscale(model, tmp_path / "src", dst).returncode == 0
    state = {p.name: p.read_bytes() for p in (dst / ".mchmc").iterdir() if p.is_file()}
    report = str(dst / ".mchmc" / name)
    res = upscale(model, tmp_path / "src", dst, "--report", report) if command == "upscale" else \
        mchmc("classify", str(tmp_path / "src"), "--model", model, "--cpus", "1", "--report", report)
    refused(res, ".mchmc", "state folder")
    assert {p.name: p.read_bytes() for p in (dst / ".mchmc").iterdir() if p.is_file()} == state


def test_two_runs_writing_one_report_the_second_is_refused_in_one_line(model, tmp_path):
    """D16: different DSTs, one --report: the second run would replace the first run's records."""
    report = tmp_path / "shared.jsonl"
    src = many_pages(tmp_path / "src", 40, 384, 512)  # minutes of work for one worker
    proc = start(model, src, tmp_path / "out1", "--cpus", "1", "--report", str(report))
    try:
        wait_for_records(report, 1, proc)
        page(tmp_path / "other" / "b.png", 3)
        refused(upscale(model, tmp_path / "other", tmp_path / "out2", "--report", str(report)),
                str(report), "another mchmc run is writing this report")
        assert not (tmp_path / "out2" / "b.png").exists()
    finally:
        proc.kill()
        proc.communicate()


# ---------------------------------------------------------------- D13-D15, D17: three runs over one archive

@pytest.fixture(scope="module")
def runs(model, tmp_path_factory):
    """An archive with a volume and loose pages, two of them (``crash.png``, loose and in the volume) killing
    their worker in the first run only; then a plain re-run, then a re-run with --retry-failed."""
    root = tmp_path_factory.mktemp("resume")
    src, dst = root / "src", root / "out"
    for i in range(2):
        page(src / f"p{i}.png", 10 + i)
    page(src / "crash.png", 12)
    vol = src / "vol.cbz"
    with zipfile.ZipFile(vol, "w") as z:
        for name, seed in (("001.png", 20), ("crash.png", 21)):
            z.writestr(name, png_bytes(seed))
    got = {}
    for run, extra, env in (("first", [], {"MCHMC_FAULT_KILL_ON": "crash.png"}), ("again", [], {}),
                            ("dry", ["--dry-run"], {}), ("retried", ["--retry-failed"], {})):
        res = upscale(model, src, dst, *extra, env=dict(os.environ, **env))
        records = {r.input[len(str(src)) + 1:]: r for r in read_jsonl(dst / REPORT)}
        got[run] = (res, records, (dst / "vol.cbz").read_bytes() if (dst / "vol.cbz").exists() else b"")
    return {"src": src, "dst": dst, **got}


def test_a_failure_is_told_once_and_the_first_run_exits_1(runs):
    res, rec, _ = runs["first"]
    assert res.returncode == 1, res.stdout + res.stderr
    assert rec["crash.png"].status == rec["vol.cbz!/crash.png"].status == "error"
    told = [ln for ln in (res.stdout + res.stderr).splitlines() if "died 3 times" in ln]
    assert len(told) == 2, told  # one line per failed page, not one more in the summary


def test_a_rerun_retries_no_known_failure_starts_no_worker_and_exits_3(runs):
    """D15: nothing new to do is no Ray, and an exit code a cron job can tell from a new failure."""
    res, rec, vol = runs["again"]
    assert res.returncode == 3, res.stdout + res.stderr
    assert "nothing to do, no workers started" in res.stdout
    assert "--retry-failed" in res.stdout and "Traceback" not in res.stderr
    assert rec["crash.png"].status == "failed-earlier" and "died 3 times" in rec["crash.png"].error
    assert vol == runs["first"][2], "the volume is left as the first run wrote it"


def test_a_dry_run_says_failed_earlier_of_a_volume_holding_a_page_that_failed(runs):
    """The dry run lists what the run would do: the volume is not skipped as done (the run counts its
    failed page as failed earlier and exits 3), as the loose page that failed is not."""
    res = runs["dry"][0]
    assert res.returncode == 0, res.stdout + res.stderr
    action = {ln.split("\t")[1][len(str(runs["src"])) + 1:]: ln.split("\t")[0] for ln in lines(res.stdout)}
    assert action == {"p0.png": "skip", "p1.png": "skip", "crash.png": "failed-earlier",
                      "vol.cbz": "failed-earlier"}, res.stdout


def test_a_volume_that_failed_whole_is_not_retried_and_the_summary_says_how_to(model, tmp_path):
    """Exit 3 for a volume refused whole in an earlier run, and the line saying why and what retries it."""
    src, dst = tmp_path / "src", tmp_path / "out"
    page(src / "a.png", 1)
    cbz_with_an_unnamed_entry(src / "noname.cbz")
    assert upscale(model, src, dst).returncode == 1
    again = upscale(model, src, dst)
    assert again.returncode == 3, again.stdout + again.stderr
    told = [ln for ln in lines(again.stdout) if "--retry-failed" in ln]
    assert len(told) == 1 and "1 volume(s) failed in an earlier run" in told[0], again.stdout


def test_every_page_keeps_its_last_result_category_noise_and_model_in_the_report(runs):
    """D13: the re-run's report still names every page of the volume, and the skipped pages keep their
    noise level and model (D17: probabilities by category name)."""
    first, again = runs["first"][1], runs["again"][1]
    assert set(again) == set(first) == {"p0.png", "p1.png", "crash.png", "vol.cbz", "vol.cbz!/001.png",
                                        "vol.cbz!/crash.png"}
    for name in ("p0.png", "p1.png"):
        r = again[name]
        assert r.status == "skipped" and (r.category, r.noise, r.model) == (
            first[name].category, first[name].noise, first[name].model)
        assert r.model == "tiny.pt" and r.noise == "none" and set(r.probs) == {"nature", "manga", "text"}
    assert again["vol.cbz!/001.png"].status == "ok" and again["vol.cbz!/001.png"].noise == "none"
    rows = list(csv.DictReader(open(runs["dst"] / "mchmc-upscale-report.csv")))
    assert {r["input"][len(str(runs["src"])) + 1:]: r["kind"] for r in rows}["vol.cbz"] == "volume"


def test_retry_failed_redoes_only_the_failed_pages_and_the_volume_gets_them_2x(runs):
    """D14: a page that failed inside a volume is retried (with --retry-failed), its finished pages are not."""
    res, rec, vol = runs["retried"]
    assert res.returncode == 0, res.stdout + res.stderr
    assert rec["crash.png"].status == rec["vol.cbz!/crash.png"].status == "ok"
    assert rec["vol.cbz!/001.png"].status == "skipped" and rec["p0.png"].status == "skipped"
    with zipfile.ZipFile(io.BytesIO(vol)) as z:
        assert Image.open(io.BytesIO(z.read("crash.png"))).size == (128, 96)
        assert Image.open(io.BytesIO(z.read("001.png"))).size == (128, 96)
    assert not any((runs["dst"] / ".mchmc" / "containers").iterdir()), "nothing left waiting"


def test_single_file_runs_into_one_folder_keep_each_others_records(model, tmp_path):
    """D17: ``upscale a.png --out d`` then ``upscale b.png --out d``: one report with both."""
    for name, seed in (("a.png", 1), ("b.png", 2)):
        res = upscale(model, page(tmp_path / name, seed), tmp_path / "d")
        assert res.returncode == 0, res.stdout + res.stderr
    assert sorted(Path(r.input).name for r in read_jsonl(tmp_path / "d" / REPORT)) == ["a.png", "b.png"]


# ---------------------------------------------------------------- B7: a ledger that cannot be read

def test_an_unreadable_ledger_is_set_aside_in_one_line_and_the_run_goes_on(model, tmp_path):
    page(tmp_path / "src" / "a.png", 1)
    state = tmp_path / "out" / ".mchmc"
    state.mkdir(parents=True)
    (state / "ledger.sqlite").write_bytes(b"not SQLite at all" * 100)
    res = upscale(model, tmp_path / "src", tmp_path / "out")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stdout + res.stderr
    said = [ln for ln in res.stderr.splitlines() if "ledger.sqlite" in ln]
    assert len(said) == 1 and "set aside" in said[0], res.stderr
    assert (tmp_path / "out" / "a.png").is_file() and len(list(state.glob("ledger.sqlite.bad-*"))) == 1


def test_an_html_page_that_cannot_be_written_is_one_line_in_words(model, tmp_path):
    """A folder planted at ``DST/mchmc-report.html``: the run warns in one line and still exits 0 (the JSONL
    and CSV are the report), ``mchmc report DST`` errs in one line; neither names a Python type."""
    import re

    from test_safety_cli import mchmc

    page(tmp_path / "src" / "a.png", 1)
    (tmp_path / "out" / "mchmc-report.html").mkdir(parents=True)
    run = upscale(model, tmp_path / "src", tmp_path / "out")
    again = mchmc("report", str(tmp_path / "out"), env=dict(os.environ, COLUMNS="80"))
    assert run.returncode == 0 and again.returncode == 1, run.stderr + again.stderr
    for res, word in ((run, "warning: "), (again, "error: ")):
        told = [ln for ln in lines(res.stderr) if "HTML report" in ln]
        assert len(lines(res.stderr)) == len(told) == 1 and told[0].startswith(word), res.stderr
        assert "Is a directory" in told[0] and not re.search(r"\b[A-Z]\w*Error\b", told[0]), told[0]
