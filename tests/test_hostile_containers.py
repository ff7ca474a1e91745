"""Hostile containers (issue 28, release grade): whatever a CBZ or a PDF holds,
the plan counts its pages, the run turns each bad file (or bad page) into one
error record whose one-line message names it and the problem in words (no
Python type names), the other pages are upscaled, and the exit code is 1.
Page images are checked against their own codestream's header, not only the
size their PDF dictionary declares, before anything is decoded.

The files are made here (tests/hostile_containers.py); the runs use the real
CLI (Ray workers), the pieces are tested without it. Nothing is timed: "not
decoded" is shown by the error being ours, raised from the header."""
from __future__ import annotations

import importlib.util
import io
import re
import zipfile
from pathlib import Path

import pikepdf
import pytest
from pikepdf import Name
from PIL import Image

from hostile_containers import (cbz_with_an_unnamed_entry, ccitt_image, encoded_gray, image_declaring,
                                jp2_whose_codestream_says, one_image_pdf, padded_with_com, pdf_whose_kids_loop,
                                pdf_with_bits_a_name)
from mchmc.batch.plan import Plan, check_plan
from mchmc.batch.records import read_jsonl
from mchmc.errors import ContainerError, DecompressionBombError, PageError, PageTooLargeError
from mchmc.containers import zipvolume as cbz
from mchmc.pages import page_sizes, read_pages
from mchmc.containers import pdf as pdfdoc
from mchmc.pages.limits import page_memory_bytes
from mchmc.pages.meta import DEFAULT_MAX_PIXELS
from mchmc.pages.modes import pillow_open
from pdfs import dct, jpeg_bytes, save, scan_page
import test_safety_cli
from test_containers import texture
from test_safety_cli import mchmc, page, upscale

model = test_safety_cli.model  # the tiny random MCH-MC model file, a module-scoped fixture
HERE = Path(__file__).parent
HOSTILE = HERE / "hostile"
TYPE_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception)\b")
BAD = {"loop.pdf": "page tree", "noname.cbz": "empty name"}  # whole files refused, and what their message says


def one_line_naming(message: str, where: Path | str) -> None:
    assert message.startswith(f"{where}: ") and "\n" not in message, message
    assert not TYPE_NAME.search(message), f"a Python type name instead of the problem: {message}"


def make_src(root: Path) -> Path:
    src = root / "src"
    pdf_whose_kids_loop(src / "loop.pdf")
    pdf_with_bits_a_name(src / "bits.pdf")
    cbz_with_an_unnamed_entry(src / "noname.cbz")
    page(src / "good.png", 1)
    return src


@pytest.fixture(scope="module")
def runs(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    src = make_src(root)
    up = upscale(model, src, root / "out")
    cls = mchmc("classify", str(src), "--report", str(root / "cls.jsonl"), "--model", model, "--cpus", "2",
                "--tile", "32")
    return {"src": src, "dst": root / "out", "upscale": (up, root / "out" / "mchmc-upscale-report.jsonl"),
            "classify": (cls, root / "cls.jsonl")}


# ---------------------------------------------------------------- B6: the plan and the run go on

@pytest.mark.slow
@pytest.mark.parametrize("command", ["upscale", "classify"])
def test_each_bad_container_is_one_error_record_and_the_run_goes_on_with_exit_code_1(runs, command):
    res, report = runs[command]
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stdout + res.stderr
    records = {r.input: r for r in read_jsonl(report)}
    src = runs["src"]
    for name, words in BAD.items():
        r = records[str(src / name)]
        assert r.status == "error" and words in r.error, r
        one_line_naming(r.error, src / name)
        assert not [k for k in records if k.startswith(f"{src / name}!/")], "a refused file has no page records"
    assert records[str(src / "good.png")].status == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["upscale", "classify"])
def test_a_page_image_whose_bits_per_component_is_a_name_is_that_pages_error(runs, command):
    res, report = runs[command]
    records = {r.input: r for r in read_jsonl(report)}
    doc = runs["src"] / "bits.pdf"
    bad, good = records[f"{doc}!/page-002"], records[f"{doc}!/page-001"]
    assert bad.status == "error" and "/BitsPerComponent" in bad.error and good.status == "ok", (bad, good)
    one_line_naming(bad.error, f"{doc}!/page-002")
    assert records[str(doc)].pages == 2


@pytest.mark.slow
def test_the_pdf_with_a_bad_page_is_written_with_that_page_unchanged(runs):
    import pikepdf

    with pikepdf.open(runs["src"] / "bits.pdf") as before, pikepdf.open(runs["dst"] / "bits.pdf") as after:
        old, new = (p.pages[1].obj.Resources.XObject.Im0 for p in (before, after))
        assert new.read_raw_bytes() == old.read_raw_bytes() and str(new.BitsPerComponent) == "/Eight"
        assert int(after.pages[0].obj.Resources.XObject.Im0.Width) == 64


def test_the_plan_counts_the_pages_of_hostile_containers_without_raising(tmp_path):
    src = make_src(tmp_path)
    assert check_plan(Plan(src, tmp_path / "out")).pages == 0 + 2 + 0 + 1


@pytest.mark.parametrize("name, make, fmt, words", [
    ("loop.pdf", pdf_whose_kids_loop, pdfdoc, "its page tree is damaged (object 2 0: Loop detected in /Pages structure"),
    ("noname.cbz", cbz_with_an_unnamed_entry, cbz, "entry 2 has an empty name: not a sound ZIP"),
], ids=["pdf-kids-loop", "cbz-unnamed-entry"])
def test_a_container_the_driver_cannot_walk_is_refused_in_one_line(tmp_path, name, make, fmt, words):
    path = make(tmp_path / name)
    with pytest.raises(ContainerError) as err:
        fmt.entries(path)
    one_line_naming(str(err.value), path)
    assert words in str(err.value) and fmt.count_pages(path) == 0


@pytest.mark.parametrize("key, value, told", [
    ("/BitsPerComponent", Name("/Eight"), "its image's /BitsPerComponent is /Eight, not 1, 2, 4, 8 or 16"),
    ("/Width", pikepdf.String("32"), "its image's /Width is (32), not a positive whole number"),
    ("/Height", pikepdf.Object.parse(b"23.5"), "its image's /Height is 23.5, not a positive whole number"),
    ("/Width", pikepdf.Object.parse(b"32.0"), ""),  # a whole number written as a real: taken
])
def test_a_page_image_whose_dictionary_lies_is_that_pages_error_told_as_the_pdf_writes_it(tmp_path, key, value, told):
    pdf = pikepdf.new()
    scan_page(pdf, dct(pdf, jpeg_bytes(texture(24, 32, 15)), 32, 24)).obj.Resources.XObject.Im0[key] = value
    path = save(pdf, tmp_path / "lies.pdf")
    (entry,) = pdfdoc.entries(path)
    assert entry.kind == "image", "counted as a page: its error is its record"
    if not told:
        pdfdoc.extract(path, entry, io.BytesIO())
        return
    with pytest.raises(ContainerError) as err:
        pdfdoc.extract(path, entry, io.BytesIO())
    assert str(err.value) == f"{path}!/page-001: {told}"


FUZZED = sorted((HOSTILE / "containers").iterdir())  # what tests/fuzz/fuzz_container.py found, byte for byte


def _fuzz_harness():
    spec = importlib.util.spec_from_file_location("fuzz_container", HERE / "fuzz" / "fuzz_container.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("path", FUZZED, ids=[p.name for p in FUZZED])
def test_what_the_fuzzer_found_gives_one_line_errors_in_words(path, tmp_path):
    """The plan, the driver's checks, each page's extraction and reading, the assembly (the harness's
    steps): only one-line errors naming the file or its page, none a Python exception's name."""
    harness = _fuzz_harness()
    harness.check_bytes(path.read_bytes(), tmp_path, path.suffix[1:])


@pytest.mark.parametrize("fmt", ["cbz", "pdf"])
def test_the_container_fuzz_harness_runs_clean(fmt):
    """The seeds and 100 mutations of them (pure Python, no atheris): the harness stays runnable."""
    assert _fuzz_harness().mutation_fuzz(fmt, 100, seed=0) == []


def test_a_zip_entry_whose_offset_lies_before_the_file_is_told_so(tmp_path):
    path = HOSTILE / "containers" / "fuzz-cbz-offset-before-start.cbz"
    with pytest.raises(ContainerError, match=r"!/001\.png: cannot be read from the ZIP \(damaged headers: an "
                                             r"entry's offset lies outside the file\)"):
        cbz.extract(path, cbz.entries(path)[0], io.BytesIO())


# ---------------------------------------------------------------- C9: a page image's own header decides

def extracted(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The first page's image as the member call copies it out (refusals raise)."""
    (entry,) = [e for e in pdfdoc.entries(path) if e.kind == "image"]
    out = io.BytesIO()
    pdfdoc.extract(path, entry, out, max_pixels)
    return pillow_open(out)  # as the worker opens it: our limits, not Pillow's


def test_a_jpx_image_is_checked_against_its_codestreams_own_size_not_the_declared_one(tmp_path):
    """The issue's 2.7 KB JPX declared 100 x 100 and held 13000 x 13000 (3.55 GB with --max-pixels 1000000)."""
    jpx = encoded_gray(1500, "JPEG2000")
    path = one_image_pdf(tmp_path / "jpx.pdf", lambda pdf: image_declaring(pdf, jpx, "/JPXDecode", 100, 100))
    with pytest.raises(DecompressionBombError) as err:
        extracted(path, max_pixels=1_000_000)
    one_line_naming(str(err.value), f"{path}!/page-001")
    assert "JPEG 2000 data (its PDF dictionary says 100 x 100) header claims 1500x1500" in str(err.value)
    assert "--max-pixels" in str(err.value)
    assert extracted(path).size == (1500, 1500), "within the limit, the codestream's pixels come out"


def test_a_jp2_whose_codestream_says_more_than_its_header_box_is_refused_before_it_is_decoded(tmp_path):
    """Pillow reads a JP2's size from its header box, openjpeg decodes the codestream's SIZ: the issue's
    13000 x 13000 is checked in the codestream, and a box that disagrees with it is not believed."""
    jp2 = jp2_whose_codestream_says(64, 13000, 13000)
    path = one_image_pdf(tmp_path / "jpx.pdf", lambda pdf: image_declaring(pdf, jp2, "/JPXDecode", 100, 100))
    with pytest.raises(DecompressionBombError, match=r"JPEG 2000 codestream header claims 13000x13000 = "
                                                     r"169,000,000 pixels, more than the limit of 1,000,000"):
        extracted(path, max_pixels=1_000_000)
    with pytest.raises(PageError, match=r"header box says 64 x 64 but its codestream 13000 x 13000: damaged or "
                                        r"forged, not decoded"):
        extracted(path)


def test_a_page_image_over_the_workers_memory_budget_is_refused_before_it_is_decoded(tmp_path):
    """--max-memory weighs the pixels the codestream will make, as the loose page it becomes is weighed."""
    jpx = encoded_gray(1500, "JPEG2000")
    path = one_image_pdf(tmp_path / "jpx.pdf", lambda pdf: image_declaring(pdf, jpx, "/JPXDecode", 100, 100))
    (entry,) = [e for e in pdfdoc.entries(path) if e.kind == "image"]
    budget = page_memory_bytes(1500, 1500, 1, 1) - 1
    with pytest.raises(PageTooLargeError, match=r"the page image needs about .* \(1500 x 1500 gray, 8-bit\), over "
                                                r"this worker's budget"):
        pdfdoc.extract(path, entry, io.BytesIO(), max_bytes=budget)
    pdfdoc.extract(path, entry, io.BytesIO(), max_bytes=budget + 1)


def test_a_dct_image_with_decode_is_checked_against_its_jpegs_own_size(tmp_path):
    """/Decode makes a DCT image go out as decoded pixels: its JPEG's SOF is checked first."""
    jpeg = encoded_gray(1500, "JPEG", progressive=True)
    path = one_image_pdf(tmp_path / "dct.pdf",
                         lambda pdf: image_declaring(pdf, jpeg, "/DCTDecode", 100, 100, Decode=[1, 0]))
    with pytest.raises(DecompressionBombError, match=r"JPEG data \(its PDF dictionary says 100 x 100\) header "
                                                     r"claims 1500x1500"):
        extracted(path, max_pixels=1_000_000)


def test_the_progressive_bomb_behind_a_decode_array_is_refused_from_its_header(tmp_path):
    """The issue's 9000 x 9000 progressive bomb (2.9 KB) declared 100 x 100: refused for its density."""
    bomb = (HOSTILE / "prog-bomb-9000.jpg").read_bytes()
    path = one_image_pdf(tmp_path / "bomb.pdf",
                         lambda pdf: image_declaring(pdf, bomb, "/DCTDecode", 100, 100, Decode=[1, 0]))
    with pytest.raises(DecompressionBombError, match=r"claims 9000 x 9000 = 81,000,000 pixels from only "):
        extracted(path)


# ---------------------------------------------------------------- C10: padding does not hide a bomb

def test_a_progressive_bomb_padded_with_a_comment_is_refused_from_its_header(tmp_path):
    """The issue's 68 KB file: the 2.9 KB bomb padded with a COM segment (4 GB in a worker)."""
    path = tmp_path / "padded.jpg"
    path.write_bytes(padded_with_com((HOSTILE / "prog-bomb-9000.jpg").read_bytes(), 68_000))
    with pytest.raises(DecompressionBombError, match=r"from only 2\.7 KB of entropy-coded JPEG data") as err:
        page_sizes(path, check_density=True)
    one_line_naming(str(err.value), path)


def test_a_progressive_jpeg_needs_its_coefficient_buffers_on_top_of_a_baseline_ones_memory(tmp_path):
    """libjpeg holds a progressive JPEG's coefficients whole (2 bytes a sample) while it decodes."""
    budget = page_memory_bytes(3000, 2000, 1, 1) + (1 << 20)  # what a baseline page needs, and a little
    baseline, progressive = tmp_path / "baseline.jpg", tmp_path / "progressive.jpg"
    Image.new("L", (3000, 2000), 200).save(baseline, "JPEG")
    Image.new("L", (3000, 2000), 200).save(progressive, "JPEG", progressive=True)
    assert page_sizes(baseline, max_bytes=budget) == [(3000, 2000)]
    with pytest.raises(PageTooLargeError, match=r"over this worker's budget .* raise --max-memory"):
        page_sizes(progressive, max_bytes=budget)


# ---------------------------------------------------------------- C11: our --max-pixels, not Pillow's 179 MP

@pytest.fixture
def pillow_limit_lowered(monkeypatch):
    """Pillow's own bomb limit lowered to 100,000 pixels (it errs at twice that): a 1000 x 800 page then
    stands for a 14000 x 13000 one against its default 179 MP, without decoding one."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)


def test_a_ccitt_page_image_over_pillows_own_limit_is_decided_by_max_pixels(tmp_path, pillow_limit_lowered):
    path = one_image_pdf(tmp_path / "fax.pdf", lambda pdf: ccitt_image(pdf, 1000, 800))
    assert extracted(path).size == (1000, 800), "under --max-pixels: decoded, whatever Pillow's limit"
    with pytest.raises(DecompressionBombError) as err:
        extracted(path, max_pixels=500_000)
    one_line_naming(str(err.value), f"{path}!/page-001")
    assert "more than the limit of 500,000 (--max-pixels)" in str(err.value)


def test_a_ccitt_tiff_over_pillows_own_limit_is_decided_by_max_pixels(tmp_path, pillow_limit_lowered):
    path = tmp_path / "fax.tif"
    Image.new("1", (1000, 800), 1).save(path, "TIFF", compression="group4")
    assert [p.meta.width for p in read_pages(path)] == [1000]
    with pytest.raises(DecompressionBombError, match=r"more than the limit of 500,000 \(--max-pixels\)"):
        page_sizes(path, 500_000)


# ---------------------------------------------------------------- B6: a cut-short page in a volume, in words

def cut_short_pages() -> dict[str, bytes]:
    """Pages cut short as a copy that stopped would leave them: only a JPEG's first segment, half a
    JPEG, half a PNG (Pillow says ``OSError: Truncated File Read`` / ``image file is truncated``)."""
    jpeg, png = jpeg_bytes(texture(24, 32, 21)), io.BytesIO()
    Image.fromarray(texture(24, 32, 22)).save(png, "PNG")
    return {"001.jpg": b"\xff\xd8\xff\xe0garbage", "002.jpg": jpeg[:len(jpeg) // 2],
            "003.png": png.getvalue()[:len(png.getvalue()) // 2]}


@pytest.mark.parametrize("name", sorted(cut_short_pages()))
def test_a_cut_short_page_is_told_in_words_loose_or_in_a_volume(tmp_path, name):
    """Its error says the data is truncated or corrupt, and what the codec said, never the codec's
    exception type (``(OSError: Truncated File Read)`` was the message)."""
    data = cut_short_pages()[name]
    loose = tmp_path / name
    loose.write_bytes(data)
    with pytest.raises(PageError) as err:
        page_sizes(loose, DEFAULT_MAX_PIXELS, check_density=True)
        list(read_pages(loose, DEFAULT_MAX_PIXELS))
    one_line_naming(str(err.value), loose)
    assert "truncated or corrupt" in str(err.value)
    volume = tmp_path / "vol" / "vol.cbz"
    volume.parent.mkdir()
    with zipfile.ZipFile(volume, "w") as z:
        z.writestr(name, data)
    _fuzz_harness().check_bytes(volume.read_bytes(), volume.parent, "cbz")  # read step included
