"""Scanned PDFs (issue 20, item 2): one PDF in, the same PDF out with every
page image 2x, at the same page sizes in points; pages that are not plain
images left unchanged, with a note; the containers' traps and resume as for
CBZ volumes (tests/test_containers.py).

The PDFs are made here (tests/pdfs.py). One real CLI run (Ray workers) over a
SRC holding every kind at once: a two-page scan (an RGB JPEG page and a gray
lossless one) beside the same images as loose files, a document mixing scans
with vector text, a text-only document, an encrypted one and one whose page
image cannot be decoded. Each test reads what it pins down from that run;
kill -9 and classify have their own; the pieces are tested without Ray last."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pikepdf
import pytest
from pikepdf import Name
from PIL import Image

from mchmc.batch.volumecalls import MemberCall

from mchmc.batch.worker.volumework import run_member
from mchmc.batch.plan import Job
from mchmc.batch.records import read_jsonl, summarise
from mchmc.batch.options import BatchOptions
from mchmc.batch.worker.pageworker import PageWorker
from mchmc.errors import ContainerError
from mchmc.containers import pdf as pdfdoc
from pdfs import (dct, flate, jpeg_bytes, page, pixels, save, scan_page, size_pt, text_page, the_image,
                  with_metadata)
import test_safety_cli
from container_runs import classified, killed_then_resumed, upscaled_loose
from test_containers import texture
from test_safety_cli import upscale

model = test_safety_cli.model  # the tiny random MCH-MC model file, a module-scoped fixture
RGB, GRAY = texture(60, 80, 1), texture(48, 64, 3)[..., 1]


def two_page_scan(path: Path, **save_kw) -> Path:
    """The acceptance document: an RGB JPEG page and a gray lossless page, with Info and XMP metadata."""
    pdf = with_metadata(pikepdf.new())
    scan_page(pdf, dct(pdf, jpeg_bytes(RGB), 80, 60))
    scan_page(pdf, flate(pdf, GRAY))
    return save(pdf, path, **save_kw)


def make_src(root: Path) -> Path:
    src = root / "src"
    two_page_scan(src / "scan.pdf")
    (src / "loose").mkdir(parents=True)
    (src / "loose" / "page-1.jpg").write_bytes(jpeg_bytes(RGB))  # the very bytes of page 1's image
    Image.fromarray(GRAY).save(src / "loose" / "page-2.png")
    pdf = pikepdf.new()
    scan_page(pdf, dct(pdf, jpeg_bytes(texture(40, 50, 4)), 50, 40))
    text_page(pdf, b"Chapter one")  # vector text
    a, b = dct(pdf, jpeg_bytes(texture(20, 30, 5)), 30, 20), dct(pdf, jpeg_bytes(texture(20, 30, 6)), 30, 20)
    page(pdf, b"q 72 0 0 48 0 0 cm /A Do Q q 72 0 0 48 0 48 cm /B Do Q", (72, 96), A=a, B=b)  # two images
    ocr = b"BT /F1 10 Tf 3 Tr 5 5 Td (invisible words) Tj ET"  # an OCR layer over the scan: still a plain image
    scan_page(pdf, dct(pdf, jpeg_bytes(texture(40, 50, 7)), 50, 40), extra=ocr)
    save(pdf, src / "mixed.pdf")
    pdf = pikepdf.new()
    text_page(pdf)
    save(pdf, src / "vector.pdf")
    two_page_scan(src / "locked.pdf", encryption=pikepdf.Encryption(owner="owner", user="user"))
    pdf = pikepdf.new()
    scan_page(pdf, dct(pdf, jpeg_bytes(texture(40, 50, 8)), 50, 40))
    scan_page(pdf, dct(pdf, b"this is not a JPEG", 50, 40))
    save(pdf, src / "broken.pdf")
    return src


@pytest.fixture(scope="module")
def world(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("pdfs")
    src, dst = make_src(root), root / "out"
    res = upscale(model, src, dst)
    records = {r.input[len(str(src)) + 1:]: r for r in read_jsonl(dst / "mchmc-upscale-report.jsonl")}
    return {"src": src, "dst": dst, "res": res, "records": records}


# ---------------------------------------------------------------- the same PDF out, every page image 2x

@pytest.mark.slow
def test_a_scanned_pdf_comes_back_with_2x_images_at_the_same_page_sizes_and_its_metadata(world):
    src, dst = world["src"], world["dst"]
    with pikepdf.open(src / "scan.pdf") as before, pikepdf.open(dst / "scan.pdf") as after:
        assert len(after.pages) == len(before.pages) == 2
        for old, new in zip(before.pages, after.pages):
            assert [float(v) for v in new.mediabox] == [float(v) for v in old.mediabox]
            assert new.obj.Contents.read_bytes() == old.obj.Contents.read_bytes(), "placement untouched"
            o, n = the_image(old), the_image(new)
            assert (int(n.Width), int(n.Height)) == (2 * int(o.Width), 2 * int(o.Height))
        jpeg, gray = the_image(after.pages[0]), the_image(after.pages[1])
        assert jpeg.Filter == "/DCTDecode" and gray.Filter == "/FlateDecode" and gray.ColorSpace == "/DeviceGray"
        loose_jpeg = (dst / "loose" / "page-1.jpg").read_bytes()
        assert jpeg.read_raw_bytes() == loose_jpeg, "the page's JPEG is the loose page's JPEG"
        assert np.array_equal(pixels(jpeg), np.asarray(Image.open(dst / "loose" / "page-1.jpg")))
        assert np.array_equal(pixels(gray), np.asarray(Image.open(dst / "loose" / "page-2.png")))
        assert {k: str(after.docinfo[k]) for k in ("/Title", "/Author", "/Producer")} == \
            {k: str(before.docinfo[k]) for k in ("/Title", "/Author", "/Producer")}
        assert after.Root.Metadata.read_bytes() == before.Root.Metadata.read_bytes(), "XMP byte for byte"
        assert after.open_metadata()["dc:title"] == "Scanned volume (XMP)"


@pytest.mark.slow
def test_the_report_has_a_record_per_page_and_one_for_the_document(world):
    rec = world["records"]
    for n, loose in ((1, "loose/page-1.jpg"), (2, "loose/page-2.png")):
        r = rec[f"scan.pdf!/page-00{n}"]
        assert r.status == "ok" and r.output == f"{world['dst'] / 'scan.pdf'}!/page-00{n}"
        assert r.category and (r.width, r.height) == (rec[loose].width, rec[loose].height)
        assert (r.noise, r.noise_reason) == (rec[loose].noise, rec[loose].noise_reason), "noise chosen as loose"
        assert r.probs == pytest.approx(rec[loose].probs, abs=1e-6)
    assert "jpeg q=85" in rec["scan.pdf!/page-001"].noise_reason, "from the JPEG's own quantisation tables"
    doc = rec["scan.pdf"]
    assert doc.kind == "container" and doc.status == "ok" and doc.pages == 2 and sum(doc.by_category.values()) == 2
    assert "PDF documents: " in world["res"].stdout, world["res"].stdout
    assert not list(world["dst"].rglob("*.part"))
    waiting = list((world["dst"] / ".mchmc" / "containers").iterdir())
    assert len(waiting) == 1, "only broken.pdf's finished pages wait (for --retry-failed): a page of it failed"


@pytest.mark.slow
def test_pages_that_are_not_plain_images_are_left_unchanged_with_a_note(world):
    doc = world["records"]["mixed.pdf"]
    assert doc.status == "ok" and doc.pages == 2, doc
    assert "page 2: vector text, left unchanged" in doc.notes and "page 3: several images, left unchanged" in doc.notes
    assert any("1 page(s) carry invisible text" in n for n in doc.notes), doc.notes
    with pikepdf.open(world["src"] / "mixed.pdf") as before, pikepdf.open(world["dst"] / "mixed.pdf") as after:
        for i in (1, 2):  # byte for byte: content and images
            old, new = before.pages[i].obj, after.pages[i].obj
            assert new.Contents.read_raw_bytes() == old.Contents.read_raw_bytes()
            assert [x.read_raw_bytes() for x in new.Resources.XObject.values()] == \
                [x.read_raw_bytes() for x in old.Resources.XObject.values()]
        ocr = after.pages[3].obj
        assert int(ocr.Resources.XObject.Im0.Width) == 100 and b"invisible words" in ocr.Contents.read_bytes()


@pytest.mark.slow
def test_a_pdf_without_page_images_is_skipped_with_a_note(world):
    r = world["records"]["vector.pdf"]
    assert r.status == "skipped" and r.error == "" and r.output == ""
    assert r.notes[0].startswith("no page is a plain image") and "page 1: vector text, left unchanged" in r.notes
    assert not (world["dst"] / "vector.pdf").exists()


@pytest.mark.slow
def test_an_encrypted_pdf_is_a_one_line_error(world):
    r = world["records"]["locked.pdf"]
    assert r.status == "error" and "encrypted PDF" in r.error and "\n" not in r.error
    assert r.error.startswith(str(world["src"] / "locked.pdf")) and not (world["dst"] / "locked.pdf").exists()
    err = [ln for ln in world["res"].stderr.splitlines() if "locked.pdf" in ln]
    assert len(err) == 1 and "Traceback" not in world["res"].stderr, world["res"].stderr
    assert summarise([r]).exit_code == 1, "as an encrypted ZIP: the run exits 1"


@pytest.mark.slow
def test_a_page_that_fails_is_one_error_and_the_pdf_is_written_with_that_page_unchanged(world):
    rec = world["records"]
    bad = rec["broken.pdf!/page-002"]
    assert bad.status == "error" and bad.error.startswith(str(world["src"] / "broken.pdf") + "!/page-002: ")
    assert rec["broken.pdf!/page-001"].status == "ok"
    doc = rec["broken.pdf"]
    assert doc.status == "ok" and any("1 left unchanged as they failed (page-002)" in n for n in doc.notes), doc.notes
    with pikepdf.open(world["src"] / "broken.pdf") as before, pikepdf.open(world["dst"] / "broken.pdf") as after:
        assert the_image(after.pages[1]).read_raw_bytes() == b"this is not a JPEG"
        assert int(the_image(after.pages[0]).Width) == 2 * int(the_image(before.pages[0]).Width)
    assert world["res"].returncode == 1


# ---------------------------------------------------------------- kill -9 mid-document, then resume

@pytest.mark.slow
def test_kill_9_mid_document_then_resume_redoes_no_finished_page_and_gives_the_same_pages(model, tmp_path):
    images = [jpeg_bytes(texture(96, 128, 100 + i)) for i in range(40)]
    src, dst = tmp_path / "src", tmp_path / "out"
    pdf = with_metadata(pikepdf.new())
    for data in images:
        scan_page(pdf, dct(pdf, data, 128, 96))
    save(pdf, src / "long.pdf")
    killed_then_resumed(model, src, dst, "long.pdf", len(images))
    with pikepdf.open(dst / "long.pdf") as out:
        assert len(out.pages) == 40 and str(out.docinfo["/Title"]) == "Scanned volume"
        for i, data in enumerate(images):
            assert the_image(out.pages[i]).read_raw_bytes() == upscaled_loose(model, tmp_path, f"{i}.jpg", data), i


# ---------------------------------------------------------------- classify inside documents

@pytest.mark.slow
def test_classify_reports_every_page_and_a_category_summary_per_document(world, model, tmp_path):
    rec = classified(model, world["src"] / "mixed.pdf", tmp_path)
    doc = str(world["src"] / "mixed.pdf")
    for n in (1, 4):
        r = rec[f"{doc}!/page-00{n}"]
        assert r.output == "" and r.probs == pytest.approx(world["records"][f"mixed.pdf!/page-00{n}"].probs, abs=1e-6)
    summary = rec[doc]
    assert summary.kind == "container" and summary.pages == 2 and sum(summary.by_category.values()) == 2
    assert any(n.startswith("pages by category: ") for n in summary.notes)
    assert "page 2: vector text, not classified" in summary.notes


# ---------------------------------------------------------------- the pieces, without Ray

def test_which_pages_are_plain_images(tmp_path):
    pdf = pikepdf.new()
    image = dct(pdf, jpeg_bytes(texture(20, 30, 9)), 30, 20)
    w, h = size_pt(image)
    scan_page(pdf, image)
    scan_page(pdf, flate(pdf, GRAY), extra=b"0 0 m 10 10 l S")  # a line drawn over the scan
    page(pdf, b"q %.2f 0 0 %.2f 0 0 cm /Im0 Do Q" % (w / 2, h), (w, h), Im0=image)  # covers half the page
    form = pikepdf.Stream(pdf, b"/Im0 Do", Type=Name.XObject, Subtype=Name.Form, BBox=[0, 0, 1, 1],
                          Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=flate(pdf, GRAY))))
    page(pdf, b"q 100 0 0 50 0 0 cm /Fm0 Do Q", (100, 50), Fm0=form)  # the scan inside a form: still one
    scan_page(pdf, image)  # the first page's image again: upscaled once, for both
    page(pdf, b"", (100, 100))
    found = pdfdoc.entries(save(pdf, tmp_path / "d.pdf"))
    assert [e.kind for e in found] == ["image", "other", "other", "image", "same", "other"]
    assert [e.suffix for e in found if e.kind == "image"] == [".jpg", ".png"]
    assert [n.split(": ", 1)[1] for n in pdfdoc.entry_notes(found)] == [
        "2 plain image page(s), the rest as below", "vector content, left unchanged", "its image does not cover the page, left unchanged",
        "the same image as page 1, upscaled with it", "no image, left unchanged"]
    assert pdfdoc.count_pages(tmp_path / "d.pdf") == 2


@pytest.mark.parametrize("user", ["user", ""])
def test_an_encrypted_pdf_is_refused_even_when_it_opens_without_a_password(tmp_path, user):
    path = two_page_scan(tmp_path / "locked.pdf", encryption=pikepdf.Encryption(owner="owner", user=user))
    with pytest.raises(ContainerError, match=r"encrypted PDF: not supported; decrypt it") as err:
        pdfdoc.entries(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
    assert pdfdoc.count_pages(path) == 0


def test_page_images_keep_their_format_whatever_format_says(model, tmp_path):
    """--format names a file format; a PDF page image is a stream: JPEG stays JPEG, pixels stay lossless."""
    path = two_page_scan(tmp_path / "scan.pdf")
    worker = PageWorker(BatchOptions(model=model, tile=32, format="tiff"), name="w")
    for entry, kind in zip(pdfdoc.entries(path), ("JPEG", "PNG")):
        page_file = tmp_path / f"{entry.index:05d}{entry.suffix}"
        call = MemberCall(Job(Path(f"{path}!/{entry.name}"), Path(f"{tmp_path}/o.pdf!/{entry.name}")), path, entry,
                          entry.name, page_file, keeps_format=True)
        record = run_member(worker, call)
        assert record.status == "ok" and record.output.endswith(f"o.pdf!/{entry.name}"), record
        assert Image.open(page_file).format == kind and worker.options.format == "tiff"
