"""The per-page report survives a crash and sums up into the terminal table."""
import csv
import json

import pytest

from mchmc.batch.records import PageRecord, read_jsonl, summarise
from mchmc.batch.reportfile import ReportWriter, report_paths


def rec(name, status="ok", category="manga", error=""):
    return PageRecord(input=name, output=name + ".out", status=status, error=error, category=category,
                      probs=[0.1, 0.8, 0.1] if status == "ok" else [], width=100, height=50, seconds=0.5, worker="w0")


def test_records_are_on_disk_as_soon_as_written(tmp_path):
    w = ReportWriter(tmp_path / "r.jsonl")
    w.write(rec("a"))
    assert json.loads((tmp_path / "r.jsonl").read_text())["input"] == "a"  # before close
    w.write(rec("b", "error", "", "b: truncated file"))
    csv_path = w.close()
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


def test_torn_and_foreign_lines_are_passed_over_with_one_warning(tmp_path):
    path = tmp_path / "r.jsonl"
    with ReportWriter(path) as w:
        w.write(rec("a"))
    with open(path, "a") as f:
        f.write('[1, 2]\n{"input": "x", "status": "maybe"}\n{"other": "tool"}\n42\nnot json\n')
    with ReportWriter(path, append=True) as w:
        w.write(rec("b"))
    warnings = []
    assert [r.input for r in read_jsonl(path, on_bad=warnings.append)] == ["a", "b"]
    assert len(warnings) == 1 and "5 line(s)" in warnings[0]


def test_summary_counts_and_exit_code():
    records = [rec("a"), rec("b", category="text"), rec("c", "skipped", "text"), rec("d", "error", "", "d: bad")]
    s = summarise(records)
    assert s.by_status == {"ok": 2, "skipped": 1, "conflict": 0, "error": 1}
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
