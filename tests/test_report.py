"""The per-page report survives a crash, keeps every page's last result over
any number of runs, never writes through a link, and sums up into the
terminal table and the exit code."""
import csv
import json

import pytest

from mchmc.batch.records import PageRecord, read_jsonl, summarise
from mchmc.batch.report.reportfile import ReportBusy, ReportWriter, report_paths
from mchmc.fsutil import UnsafePath


PROBS = {"nature": 0.1, "manga": 0.8, "text": 0.1}


def rec(name, status="ok", category="manga", error=""):
    return PageRecord(input=name, output=name + ".out", status=status, error=error, category=category,
                      probs=PROBS if status == "ok" else {}, width=100, height=50, seconds=0.5, worker="w0")


def test_records_are_on_disk_as_soon_as_written(tmp_path):
    w = ReportWriter(tmp_path / "r.jsonl")
    w.write(rec("a"))
    assert json.loads((tmp_path / "r.jsonl").read_text())["input"] == "a"  # before close
    w.write(rec("b", "error", "", "b: truncated file"))
    csv_path = w.close()
    assert csv_path == tmp_path / "r.csv"
    rows = list(csv.DictReader(open(csv_path)))
    assert [r["status"] for r in rows] == ["ok", "error"]
    assert rows[0]["p_manga"] == "0.800000" and rows[1]["error"] == "b: truncated file"
    assert rows[0]["input_width"] == "100", "the CSV says whose size it is: the input's"


def test_a_torn_last_line_is_ignored(tmp_path):
    path = tmp_path / "r.jsonl"
    with ReportWriter(path) as w:
        w.write(rec("a"))
    with open(path, "a") as f:
        f.write('{"input": "b", "sta')
    assert [r.input for r in read_jsonl(path)] == ["a"]


def test_torn_and_foreign_lines_are_passed_over_with_one_warning(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    with ReportWriter(path) as w:
        w.write(rec("a"))
    with open(path, "a") as f:
        f.write('[1, 2]\n{"input": "x", "status": "maybe"}\n{"other": "tool"}\n42\nnot json\n')
    warnings = []
    assert [r.input for r in read_jsonl(path, on_bad=warnings.append)] == ["a"]
    assert len(warnings) == 1 and "5 line(s)" in warnings[0]
    with ReportWriter(path) as w:  # the next run says so once, and its report holds only records
        w.write(rec("b"))
    assert "5 line(s)" in capsys.readouterr().err
    assert [r.input for r in read_jsonl(path, on_bad=warnings.append)] == ["a", "b"] and len(warnings) == 1


def test_summary_counts_and_exit_code():
    records = [rec("a"), rec("b", category="text"), rec("c", "skipped", "text"), rec("d", "error", "", "d: bad")]
    s = summarise(records)
    assert s.by_status == {"ok": 2, "skipped": 1, "conflict": 0, "error": 1, "failed-earlier": 0}
    assert s.by_category == {"nature": 0, "manga": 1, "text": 2}, "skipped pages count in their earlier category"
    assert s.errors == [("d", "d: bad")] and s.exit_code == 1
    assert summarise(records[:3]).exit_code == 0
    assert summarise([rec("e", "conflict", "", "e: a file is already here")]).exit_code == 1


def test_a_model_without_a_head_gives_an_uncategorised_row():
    s = summarise([rec("a", category=""), rec("b", "skipped", "")])
    assert s.by_category["uncategorised"] == 2


def test_file_names_that_are_not_utf8_reach_both_reports(tmp_path):
    """os.fsdecode gives such names surrogate escapes: the JSONL keeps them exact, the CSV stays valid UTF-8."""
    import os

    name = os.fsdecode(b"scan-\xff\xfe.png")
    w = ReportWriter(tmp_path / "r.jsonl")
    w.write(rec(name))
    csv_path = w.close()
    assert [os.fsencode(r.input) for r in read_jsonl(tmp_path / "r.jsonl")] == [b"scan-\xff\xfe.png"]
    text = csv_path.read_bytes().decode("utf-8")  # strict: valid UTF-8
    assert "scan-\\udcff\\udcfe.png" in text


def test_unknown_status_is_refused():
    with pytest.raises(ValueError):
        PageRecord(input="x", status="maybe")


@pytest.mark.parametrize("given, jsonl, csv_name", [
    ("pages.csv", "pages.jsonl", "pages.csv"),
    ("pages.jsonl", "pages.jsonl", "pages.csv"),
    ("pages", "pages", "pages.csv"),
    ("pages.CSV", "pages.jsonl", "pages.CSV"),
])
def test_report_option_never_makes_the_streamed_jsonl_and_the_csv_one_file(tmp_path, given, jsonl, csv_name):
    j, c = report_paths(tmp_path / given)
    assert (j.name, c.name) == (jsonl, csv_name) and j != c


# ---------------------------------------------------------------- issue 28: the report over many runs


def test_each_run_adds_to_the_report_and_every_page_keeps_its_last_result(tmp_path):
    """D13, D17: a re-run (or a run on another single file into the same folder) replaces only the
    records of the pages it met; every other page keeps its record, volume pages included."""
    path = tmp_path / "r.jsonl"
    with ReportWriter(path) as w:
        for r in (rec("a.png"), rec("b.png", "error", "", "b.png: bad"), rec("vol.cbz!/001.jpg"), rec("doc.pdf!/page-001")):
            w.write(r)
    with ReportWriter(path) as w:
        w.write(rec("b.png"))
        w.write(rec("c.png", "skipped", "text"))
    got = {r.input: (r.status, r.category) for r in read_jsonl(path)}
    assert got == {"a.png": ("ok", "manga"), "b.png": ("ok", "manga"), "vol.cbz!/001.jpg": ("ok", "manga"),
                   "doc.pdf!/page-001": ("ok", "manga"), "c.png": ("skipped", "text")}
    assert len(path.read_text().splitlines()) == 5, "one line per page: the report does not grow with each run"
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert [r["input"] for r in rows] == list(got)


def test_a_crashed_run_loses_no_record_of_the_runs_before_it(tmp_path):
    path = tmp_path / "r.jsonl"
    with ReportWriter(path) as w:
        w.write(rec("a.png"))
    w = ReportWriter(path)
    w.write(rec("b.png"))  # the run dies here, without close()
    del w
    assert {r.input for r in read_jsonl(path)} == {"a.png", "b.png"}


def test_one_page_upscaled_into_two_folders_keeps_both_records(tmp_path):
    path = tmp_path / "r.jsonl"
    for out in ("d1", "d2"):
        with ReportWriter(path) as w:
            w.write(PageRecord(input="a.png", output=f"{out}/a.png"))
    assert [r.output for r in read_jsonl(path)] == ["d1/a.png", "d2/a.png"]


@pytest.mark.parametrize("linked", ["rep.jsonl", "rep.csv"])
def test_a_report_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path, linked):
    """A1: a planted ``rep.jsonl -> page`` (or ``rep.csv``) must never turn the page into a report."""
    page = tmp_path / "p001.png"
    page.write_bytes(b"\x89PNG precious")
    (tmp_path / linked).symlink_to(page)
    with pytest.raises(UnsafePath, match="symbolic link"):
        ReportWriter(tmp_path / "rep.jsonl")
    assert page.read_bytes() == b"\x89PNG precious"
    assert (tmp_path / "rep.jsonl").is_symlink() or not (tmp_path / "rep.jsonl").exists(), "refused before writing"


def test_a_second_writer_of_one_report_is_refused_in_one_line(tmp_path):
    """D16: two runs (different DSTs) writing one --report: the second is refused."""
    with ReportWriter(tmp_path / "r.jsonl") as w:
        w.write(rec("a.png"))
        with pytest.raises(ReportBusy, match="another mchmc run is writing this report") as err:
            ReportWriter(tmp_path / "r.jsonl")
        assert "\n" not in str(err.value) and str(tmp_path / "r.jsonl") in str(err.value)
    ReportWriter(tmp_path / "r.jsonl").close()  # free again once the first run is done
    assert [r.input for r in read_jsonl(tmp_path / "r.jsonl")] == ["a.png"]


def test_probs_are_keyed_by_category_and_old_reports_with_a_list_still_read(tmp_path):
    """D17: ``probs`` says which number is which category; a report of an older mchmc is still read."""
    assert json.loads(json.dumps(rec("a").to_dict()))["probs"] == PROBS
    path = tmp_path / "old.jsonl"
    path.write_text('{"input": "a", "category": "manga", "probs": [0.1, 0.8, 0.1]}\n'
                    '{"input": "b", "status": "error", "error": "b: bad", "probs": []}\n')
    assert [r.probs for r in read_jsonl(path)] == [PROBS, {}]


def test_the_csv_says_which_rows_are_pages_and_which_volumes(tmp_path):
    with ReportWriter(tmp_path / "r.jsonl") as w:
        w.write(rec("vol.cbz!/001.jpg"))
        w.write(PageRecord(input="vol.cbz", kind="container", pages=1, by_category={"manga": 1}))
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert [r["kind"] for r in rows] == ["page", "volume"]


@pytest.mark.parametrize("line", ['{"input": "a", "probs": "abc"}', '{"input": "a", "notes": 5}',
                                  '{"input": "a", "width": "wide"}', '{"input": "a", "probs": {"manga": "x"}}',
                                  '{"input": "a", "by_category": {"manga": 1.5}}', '{"input": "a", "seconds": true}'])
def test_a_record_of_the_wrong_shape_is_passed_over(tmp_path, line):
    path = tmp_path / "r.jsonl"
    path.write_text(line + "\n" + json.dumps(rec("b").to_dict()) + "\n")
    warnings = []
    assert [r.input for r in read_jsonl(path, on_bad=warnings.append)] == ["b"] and len(warnings) == 1


def test_the_exit_code_tells_new_failures_from_old_ones():
    """D15: 0 every page done; 1 a page failed (or met a conflict) in this run; 3 nothing failed in this run,
    but pages that failed in an earlier run, unchanged since, were not retried."""
    old = PageRecord(input="b", status="failed-earlier", error="b: bad")
    assert summarise([rec("a"), old]).exit_code == 3
    assert summarise([rec("a"), old, rec("c", "error", "", "c: bad")]).exit_code == 1
    assert summarise([rec("a"), rec("b", "skipped")]).exit_code == 0
    vol = PageRecord(input="v.cbz", status="skipped", kind="container", pages=3, by_category={"manga": 2})
    s = summarise([vol])
    assert (s.by_status["skipped"], s.by_status["failed-earlier"], s.exit_code) == (2, 1, 3), \
        "a finished volume with a page that failed: that page failed earlier"
