"""The HTML report (issue 31) without a browser: what the page is built from,
that file names stay data, that links stay relative, that it is written only
inside DST, and the thumbnails the workers keep. The browser tests are
tests/test_html_browser.py."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mchmc.batch.report import thumbs
from mchmc.batch.report.htmldata import COLUMNS, href
from mchmc.batch.report.htmlreport import build, embed_json, find_report, html_path, previous_run
from mchmc.batch.records import CONTAINER, PageRecord
from mchmc.batch.report.reportfile import ReportWriter
from mchmc.fsutil import UnsafePath
from mchmc.modelconfig import CATEGORIES

HOSTILE = "<img src=x onerror=alert(1)>.png"
COL = {c: i for i, c in enumerate(COLUMNS)}


def rec(src: Path, dst: Path, name: str, category="text", probs=(0.1, 0.2, 0.7), **kw) -> PageRecord:
    return PageRecord(input=str(src / name), output=str(dst / name), category=category, probs=dict(zip(CATEGORIES, probs)),
                      width=60, height=40, seconds=1.0, **kw)


def data_of(html: Path) -> dict:
    found = re.search(r'<script type="application/json" id="mchmc-data">(.*?)</script>', html.read_text(), re.S)
    return json.loads(found.group(1))


@pytest.fixture
def run(tmp_path):
    """A DST with a report of loose pages (one hostile name), a failure and a volume of five pages."""
    src, dst = tmp_path / "src", tmp_path / "dst"
    dst.mkdir()
    records = [rec(src, dst, "a/p1.png", probs=(0.05, 0.05, 0.9)), rec(src, dst, "a/p2.png", probs=(0.3, 0.3, 0.4)),
               rec(src, dst, HOSTILE, category="manga", probs=(0.1, 0.8, 0.1)),
               PageRecord(input=str(src / "bad.png"), output=str(dst / "bad.png"), status="error",
                          error=f"{src / 'bad.png'}: truncated file")]
    records += [rec(src, dst, f"vol.cbz!/{i:03d}.jpg", category=c, probs=(0.2, 0.6, 0.2))
                for i, c in enumerate(["manga", "manga", "manga", "manga", "nature"])]
    records.append(PageRecord(input=str(src / "vol.cbz"), output=str(dst / "vol.cbz"), kind=CONTAINER, pages=5,
                              by_category={"manga": 4, "nature": 1}))
    with ReportWriter(dst / "mchmc-upscale-report.jsonl") as w:
        for r in records:
            w.write(r)
    return {"src": src, "dst": dst, "jsonl": dst / "mchmc-upscale-report.jsonl"}


def test_the_page_is_written_beside_the_report_and_holds_every_page_and_the_volume(run):
    page = build(run["jsonl"], dst=run["dst"], run={"model": "srformc", "precision": "fp32"})
    assert page == run["dst"] / "mchmc-report.html"
    data = data_of(page)
    names = [row[COL["name"]] for row in data["rows"]]
    assert names[:4] == ["a/p1.png", "a/p2.png", HOSTILE, "bad.png"] and len(names) == 9
    assert [v["name"] for v in data["volume_records"]] == ["vol.cbz"]
    assert data["summary"]["pages"] == 9 and data["summary"]["failed"] == 1
    assert data["run"]["model"] == "srformc" and data["run"]["report"] == "mchmc-upscale-report.jsonl"


def test_review_first_lists_the_least_confident_the_odd_one_out_and_the_failures(run):
    data = data_of(build(run["jsonl"], dst=run["dst"]))
    rows, review = data["rows"], data["review"]
    assert rows[review["lowest"][0]][COL["name"]] == "a/p2.png", "the least confident page first"
    assert [rows[i][COL["name"]] for i in review["odd"]] == ["vol.cbz!/004.jpg"], "nature in a manga volume"
    assert [rows[i][COL["name"]] for i in review["failed"]] == ["bad.png"]
    assert rows[review["failed"][0]][COL["error"]].endswith("bad.png: truncated file")
    assert [c["category"] for c in review["categories"]] == ["nature", "manga", "text"], "least confident first"


def test_a_classify_run_s_page_links_the_inputs_and_nothing_else(tmp_path):
    src, reports = tmp_path / "scans", tmp_path / "reports"
    reports.mkdir()
    with ReportWriter(reports / "cls.jsonl") as w:
        w.write(PageRecord(input=str(src / "a" / "p 1.png"), category="text", probs={"nature": 0.1, "manga": 0.1, "text": 0.8}))
    row = data_of(build(reports / "cls.jsonl"))["rows"][0]
    assert (reports / "cls.html").is_file() and row[COL["name"]] == "p 1.png"
    assert row[COL["before"]] == "../scans/a/p%201.png" and row[COL["after"]] is None and row[COL["thumb"]] is None


def test_file_names_stay_data_inside_the_page(tmp_path):
    nasty = "</script><script>window.__pwned=1</script><!--\u2028\u2029&amp;.png"
    text = embed_json({"name": nasty})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"name": nasty}
    src, dst = tmp_path / "src", tmp_path / "dst"
    dst.mkdir()
    with ReportWriter(dst / "mchmc-upscale-report.jsonl") as w:
        w.write(rec(src, dst, nasty))  # a folder "</script><script>window.__pwned=1<" and a page in it
        w.write(rec(src, dst, "plain.png"))
    html = build(dst / "mchmc-upscale-report.jsonl", dst=dst).read_text()
    assert html.count("</script>") == 3, "only the page's own three script elements end"
    assert "<!--" not in html and "__pwned=1</script>" not in html
    assert data_of(dst / "mchmc-report.html")["rows"][0][COL["name"]] == nasty


def test_links_are_relative_and_every_segment_is_percent_encoded(tmp_path):
    base = tmp_path / "dst"
    assert href(str(base / "a b" / "javascript:alert(1).png"), base) == "a%20b/javascript%3Aalert%281%29.png"
    assert href(str(tmp_path / "src" / "p#1?.png"), base) == "../src/p%231%3F.png"
    odd = os.fsdecode(b"scan-\xff.png")
    assert href(str(base / odd), base) == "scan-%FF.png", "a name that is not UTF-8 keeps its bytes"


def test_the_page_has_a_policy_that_allows_only_its_own_script_and_style_and_local_images(run):
    html = build(run["jsonl"], dst=run["dst"]).read_text()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', html).group(1)
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy and "img-src 'self' file: data:" in policy
    assert "http" not in html.replace('http-equiv', ""), "no address of any server anywhere in the page"


def test_a_link_planted_at_the_page_s_name_is_replaced_never_written_through(run, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (run["dst"] / "mchmc-report.html").symlink_to(victim)
    build(run["jsonl"], dst=run["dst"])
    assert victim.read_text() == "keep me" and not (run["dst"] / "mchmc-report.html").is_symlink()


def test_a_rebuild_keeps_what_the_run_was_asked_and_finds_the_report_from_dst(run):
    build(run["jsonl"], dst=run["dst"], run={"model": "mine.pt", "precision": "bf16"})
    assert find_report(run["dst"]) == (run["jsonl"], None), "no state folder: no thumbnails to look for"
    (run["dst"] / ".mchmc").mkdir()
    assert find_report(run["dst"]) == (run["jsonl"], run["dst"])
    build(run["jsonl"], dst=run["dst"])
    assert previous_run(run["dst"] / "mchmc-report.html")["model"] == "mine.pt"
    assert find_report(run["src"]) is None


def test_mchmc_report_dst_builds_the_page_again_from_the_jsonl(run):
    from typer.testing import CliRunner

    from mchmc.cli.app import app

    (run["dst"] / ".mchmc").mkdir()
    with open(run["jsonl"], "a") as f:  # a resumed run appended a page
        f.write(json.dumps(rec(run["src"], run["dst"], "later.png").to_dict()) + "\n")
    result = CliRunner().invoke(app, ["report", str(run["dst"])])
    assert result.exit_code == 0 and "mchmc-report.html" in result.output
    assert "later.png" in [row[COL["name"]] for row in data_of(run["dst"] / "mchmc-report.html")["rows"]]


def test_mchmc_report_says_in_one_line_how_many_lines_were_not_page_records(run):
    from typer.testing import CliRunner

    from mchmc.cli.app import app

    with open(run["jsonl"], "a") as f:  # a torn line, and another tool's JSON
        f.write('{"input": "torn\n{"a": 1}\n')
    result = CliRunner().invoke(app, ["report", str(run["jsonl"])])
    assert result.exit_code == 0, "the page records there are still make the page"
    said = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(said) == 1 and str(run["jsonl"].name) in said[0] and "2 line(s) that are not page records" in said[0]


def test_the_page_is_named_after_a_report_given_by_name(tmp_path):
    assert html_path(tmp_path / "mchmc-classify-report.jsonl") == tmp_path / "mchmc-report.html"
    assert html_path(tmp_path / "cls.jsonl") == tmp_path / "cls.html"
    assert html_path(tmp_path / "r.html") == tmp_path / "r.html.html", "never the JSONL itself"


# ---------------------------------------------------------------- thumbnails

@pytest.mark.parametrize("pixels", [np.zeros((900, 300), np.bool_), np.full((300, 900), 60000, np.uint16),
                                     np.zeros((500, 400, 2), np.uint8), np.zeros((400, 500, 4), np.uint8),
                                     np.zeros((40, 30, 3), np.uint8)])
def test_a_thumbnail_is_a_small_jpeg_of_any_page_layout(pixels, tmp_path):
    path = tmp_path / "t.jpg"
    path.write_bytes(thumbs.thumbnail(pixels))
    im = Image.open(path)
    h, w = pixels.shape[:2]
    assert im.format == "JPEG" and max(im.size) == min(thumbs.SIDE, max(h, w))
    assert abs(im.size[0] / im.size[1] - w / h) < 0.05, "the page's proportions"


def test_the_thumbnail_is_kept_under_dst_s_state_folder_and_the_page_finds_it(run):
    out = str(run["dst"] / "a/p1.png")
    thumbs.make(run["dst"], out, np.zeros((80, 120, 3), np.uint8))
    assert (run["dst"] / thumbs.relative_path(out)).is_file()
    thumbs.make(run["dst"], str(run["dst"] / "vol.cbz-page.png"), np.zeros((8, 8), np.uint8))
    thumbs.rename(run["dst"], str(run["dst"] / "vol.cbz-page.png"), str(run["dst"] / "vol.cbz!/000.jpg"))
    rows = data_of(build(run["jsonl"], dst=run["dst"]))["rows"]
    found = {row[COL["name"]]: row[COL["thumb"]] for row in rows if row[COL["thumb"]]}
    assert found == {"a/p1.png": thumbs.relative_path(out), "vol.cbz!/000.jpg": thumbs.relative_path(
        str(run["dst"] / "vol.cbz!/000.jpg"))}


def test_a_thumbnail_never_goes_through_a_planted_link_and_never_fails_the_page(run, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run["dst"] / ".mchmc").mkdir()
    (run["dst"] / ".mchmc" / "thumbs").symlink_to(elsewhere, target_is_directory=True)
    thumbs.make(run["dst"], str(run["dst"] / "a/p1.png"), np.zeros((8, 8), np.uint8))  # no error
    assert list(elsewhere.iterdir()) == []
    with pytest.raises(UnsafePath):
        thumbs.save(run["dst"], "x", b"data")


def test_a_flow_run_links_to_the_page_as_a_prefect_artifact(run, monkeypatch):
    pytest.importorskip("prefect")
    import mchmc.flows.upscale as flow

    made = []
    monkeypatch.setattr(flow, "create_link_artifact", lambda link, **kw: made.append((link, kw)))
    flow.report_link(str(run["jsonl"]), "upscale")
    assert made == [], "no page yet: no link"
    page = build(run["jsonl"], dst=run["dst"])
    flow.report_link(str(run["jsonl"]), "upscale")
    assert made == [(page.as_uri(), {"link_text": "mchmc-report.html", "key": "mchmc-upscale-report",
                                     "description": made[0][1]["description"]})]
