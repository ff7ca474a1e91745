"""CBZ / ZIP volumes (issue 20, items 1 and 3-5): one volume in, the same
volume out, every page 2x; the containers' own traps; resume mid-volume.

The volumes are made here. One real CLI run (Ray workers) over a SRC that
holds every kind at once: a good volume (ComicInfo.xml, nested folders, a
JPEG, a PNG and a gray page) beside the same pages as loose files, a volume
with zip-slip names, a ZIP bomb of a few KB, a volume with a page that cannot
be decoded and one that kills its worker, and an encrypted ZIP. Each test
reads what it pins down from that run; kill -9 and classify have their own."""
from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mchmc.batch.plan import Plan, check_plan
from mchmc.batch.records import PageRecord, read_jsonl
from mchmc.batch.options import BatchOptions
from mchmc.errors import ContainerError
from mchmc.containers.zipvolume import check_archive, count_pages, unsafe_name, write_container
from pages import smooth_rgb
import test_safety_cli
from container_runs import classified, killed_then_resumed, upscaled_loose
from test_safety_cli import upscale

COMIC_INFO = b'<?xml version="1.0"?>\n<ComicInfo><Series>Test</Series><Number>1</Number></ComicInfo>\n'
model = test_safety_cli.model  # the tiny random MCH-MC model file, a module-scoped fixture
PAGES = ["ch1/001.jpg", "ch1/002.png", "ch2/gray.png"]  # the good volume's pages, in order
SLIPS = ["../../evil.png", "/tmp/evil-abs.png", "C:\\evil.png"]


def texture(h: int, w: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 20, (h, w, 3))
    return np.clip(smooth_rgb(h, w, seed) * 255 + noise, 0, 255).round().astype(np.uint8)


def encoded(pixels: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **kw)
    return buf.getvalue()


def volume(path: Path, entries: list[tuple[str, bytes]], comment: bytes = b"", deflate_all: bool = False) -> Path:
    """A ZIP of ``entries`` in order; text entries deflated, images stored (as comic tools do)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries:
            stored = name.endswith((".jpg", ".png", "/")) and not deflate_all
            method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            z.writestr(zipfile.ZipInfo(name, (2024, 5, 17, 12, 30, 0)), data, compress_type=method)
        z.comment = comment
    return path


def patch_headers(path: Path, local: dict[int, bytes], central: dict[int, bytes]) -> None:
    """Overwrite fields of the first entry's local and central headers (offset -> bytes)."""
    data = bytearray(path.read_bytes())
    for base, fields in ((data.find(b"PK\x03\x04"), local), (data.rfind(b"PK\x01\x02"), central)):
        for offset, value in fields.items():
            data[base + offset : base + offset + len(value)] = value
    path.write_bytes(bytes(data))


def page_bytes() -> dict[str, bytes]:
    return {"ch1/001.jpg": encoded(texture(60, 80, 1), "JPEG", quality=85),
            "ch1/002.png": encoded(texture(70, 50, 2), "PNG"),
            "ch2/gray.png": encoded(texture(48, 64, 3)[..., 1], "PNG")}


def make_src(root: Path) -> Path:
    src, pages = root / "src", page_bytes()
    volume(src / "vol01.cbz", [("ComicInfo.xml", COMIC_INFO), ("ch1/", b""), ("ch1/001.jpg", pages["ch1/001.jpg"]),
                               ("ch1/002.png", pages["ch1/002.png"]), ("notes/readme.txt", b"scanned by hand\r\n"),
                               ("ch2/gray.png", pages["ch2/gray.png"])], comment=b"volume 1")
    for name, data in pages.items():  # the same pages, loose: what each page of the volume must equal
        (src / "loose" / name).parent.mkdir(parents=True, exist_ok=True)
        (src / "loose" / name).write_bytes(data)
    volume(src / "slip.cbz", [(n, pages["ch1/002.png"]) for n in SLIPS] + [("ok.png", pages["ch1/002.png"])])
    bomb = volume(src / "bomb.zip", [("page.png", b"\0" * (8 << 20))], deflate_all=True)
    with zipfile.ZipFile(bomb) as z:
        z.testzip()  # an honest ZIP until its sizes are forged
    huge = (3_900_000_000).to_bytes(4, "little")
    patch_headers(bomb, {22: huge}, {24: huge})  # declares 3.9 GB uncompressed from ~8 KB
    volume(src / "bad.cbz", [("001.png", pages["ch1/002.png"]), ("002.png", b"this is not a PNG"),
                             ("crash.png", pages["ch1/002.png"]), ("003.png", pages["ch1/002.png"])])
    locked = volume(src / "locked.zip", [("001.png", pages["ch1/002.png"])])
    patch_headers(locked, {6: b"\x01"}, {8: b"\x01"})  # the "encrypted" flag, as ZipCrypto sets it
    return src


@pytest.fixture(scope="module")
def world(model, tmp_path_factory):
    root = tmp_path_factory.mktemp("volumes")
    src, dst = make_src(root), root / "out"
    t0 = time.monotonic()
    res = upscale(model, src, dst, env=dict(os.environ, MCHMC_FAULT_KILL_ON="crash.png"))
    records = {r.input[len(str(src)) + 1:]: r for r in read_jsonl(dst / "mchmc-upscale-report.jsonl")}
    return {"root": root, "src": src, "dst": dst, "res": res, "records": records, "seconds": time.monotonic() - t0}


# ---------------------------------------------------------------- 1: the same volume out, every page 2x

@pytest.mark.slow
def test_a_volume_comes_back_whole_in_order_with_its_other_entries_byte_for_byte(world):
    with zipfile.ZipFile(world["src"] / "vol01.cbz") as zin, zipfile.ZipFile(world["dst"] / "vol01.cbz") as zout:
        assert zout.namelist() == zin.namelist(), "same entries, same order, same names"
        assert zout.comment == b"volume 1"
        for a, b in zip(zin.infolist(), zout.infolist()):
            assert (b.date_time, b.compress_type, b.external_attr) == (a.date_time, a.compress_type, a.external_attr)
        for name in ("ComicInfo.xml", "ch1/", "notes/readme.txt"):
            assert zout.read(name) == zin.read(name), name
        for name in PAGES:
            assert zout.read(name) == (world["dst"] / "loose" / name).read_bytes(), f"{name} differs from loose"
            with Image.open(io.BytesIO(zout.read(name))) as im, Image.open(io.BytesIO(zin.read(name))) as orig:
                assert im.size == (2 * orig.width, 2 * orig.height)
                assert (im.mode, im.format) == (orig.mode, orig.format)


@pytest.mark.slow
def test_the_report_has_a_record_per_page_and_one_for_the_volume(world):
    rec, res = world["records"], world["res"]
    for name in PAGES:
        r = rec[f"vol01.cbz!/{name}"]
        assert r.status == "ok" and r.output == str(world["dst"] / "vol01.cbz") + "!/" + name
        assert r.category and r.width and r.noise
        assert r.probs == pytest.approx(rec[f"loose/{name}"].probs, abs=1e-6)
    vol = rec["vol01.cbz"]
    assert vol.kind == "container" and vol.status == "ok" and vol.pages == 3
    assert sum(vol.by_category.values()) == 3 and vol.category == max(vol.by_category, key=vol.by_category.get)
    assert any("2 other entries copied byte for byte" in n for n in vol.notes), vol.notes
    # the summary counts pages: 3 loose + 3 + 1 (slip) + 4 (bad) image entries, not files
    assert "pages 11/11" in res.stdout and "CBZ / ZIP volumes: " in res.stdout, res.stdout
    assert not list(world["dst"].rglob("*.part"))
    waiting = list((world["dst"] / ".mchmc" / "containers").iterdir())
    assert len(waiting) == 1 and len(list(waiting[0].iterdir())) == 2, \
        "only bad.cbz's two finished pages wait (for --retry-failed): it was written with pages that failed"


# ---------------------------------------------------------------- 3: the containers' own traps

@pytest.mark.slow
def test_zip_slip_names_never_reach_the_file_system(world):
    root, dst = world["root"], world["dst"]
    assert not [p for p in root.parent.rglob("evil*")] and not Path("/tmp/evil-abs.png").exists()
    with zipfile.ZipFile(world["src"] / "slip.cbz") as zin, zipfile.ZipFile(dst / "slip.cbz") as zout:
        assert zout.namelist() == zin.namelist()
        for name in SLIPS:
            assert zout.read(name) == zin.read(name), "copied unchanged, not upscaled"
        assert Image.open(io.BytesIO(zout.read("ok.png"))).size == (100, 140)
    vol = world["records"]["slip.cbz"]
    assert vol.status == "ok" and vol.pages == 1
    assert any("unsafe name" in n and "../../evil.png" in n for n in vol.notes), vol.notes
    assert not any("evil" in k for k in world["records"] if k != "slip.cbz"), "never a page of its own"


@pytest.mark.slow
def test_a_zip_bomb_of_a_few_kb_is_refused_before_it_is_expanded(world):
    assert (world["src"] / "bomb.zip").stat().st_size < 20_000
    r = world["records"]["bomb.zip"]
    assert r.status == "error" and "ZIP bomb" in r.error and "not expanded" in r.error and "\n" not in r.error
    assert r.error.startswith(str(world["src"] / "bomb.zip"))
    assert not (world["dst"] / "bomb.zip").exists()
    assert not [p for p in world["dst"].rglob("*") if p.is_file() and p.stat().st_size > 1 << 20]


@pytest.mark.slow
def test_a_page_that_fails_is_one_error_and_the_volume_is_written_with_it_copied(world):
    rec = world["records"]
    assert rec["bad.cbz!/002.png"].status == "error" and "not an image" in rec["bad.cbz!/002.png"].error
    assert rec["bad.cbz!/002.png"].error.startswith(str(world["src"] / "bad.cbz") + "!/002.png: ")
    assert rec["bad.cbz!/crash.png"].status == "error" and "died 3 times" in rec["bad.cbz!/crash.png"].error
    assert rec["bad.cbz!/001.png"].status == rec["bad.cbz!/003.png"].status == "ok"
    vol = rec["bad.cbz"]
    assert vol.status == "ok" and any("2 copied unchanged" in n and "002.png" in n for n in vol.notes), vol.notes
    with zipfile.ZipFile(world["src"] / "bad.cbz") as zin, zipfile.ZipFile(world["dst"] / "bad.cbz") as zout:
        assert zout.namelist() == zin.namelist()
        assert zout.read("002.png") == zin.read("002.png") and zout.read("crash.png") == zin.read("crash.png")
        assert Image.open(io.BytesIO(zout.read("001.png"))).size == (100, 140)
    assert world["res"].returncode == 1, "a failed page makes the run exit 1"


@pytest.mark.slow
def test_an_encrypted_zip_is_a_one_line_error(world):
    r = world["records"]["locked.zip"]
    assert r.status == "error" and "encrypted ZIP" in r.error and "\n" not in r.error
    assert not (world["dst"] / "locked.zip").exists()
    err = [ln for ln in world["res"].stderr.splitlines() if "locked.zip" in ln]
    assert len(err) == 1 and "Traceback" not in world["res"].stderr


@pytest.mark.slow
def test_a_rerun_skips_the_finished_volumes_and_still_counts_their_pages(world, model):
    before = (world["dst"] / "vol01.cbz").stat().st_mtime_ns
    res = upscale(model, world["src"], world["dst"])
    again = {r.input[len(str(world["src"])) + 1:]: r for r in read_jsonl(world["dst"] / "mchmc-upscale-report.jsonl")}
    assert again["vol01.cbz"].status == "skipped"
    assert again["vol01.cbz"].by_category == world["records"]["vol01.cbz"].by_category
    assert (world["dst"] / "vol01.cbz").stat().st_mtime_ns == before
    assert "pages 11/11" in res.stdout, res.stdout


# ---------------------------------------------------------------- 4: kill -9 mid-volume, then resume

@pytest.mark.slow
def test_kill_9_mid_volume_then_resume_redoes_no_finished_page_and_gives_the_same_bytes(model, tmp_path):
    pages = {f"p{i:03d}.png": encoded(texture(96, 128, 100 + i), "PNG") for i in range(40)}
    src, dst = tmp_path / "src", tmp_path / "out"
    volume(src / "long.cbz", [("ComicInfo.xml", COMIC_INFO), *pages.items()])
    killed_then_resumed(model, src, dst, "long.cbz", len(pages))
    with zipfile.ZipFile(dst / "long.cbz") as z:
        assert z.namelist() == ["ComicInfo.xml", *pages] and z.read("ComicInfo.xml") == COMIC_INFO
        for name, data in pages.items():
            assert z.read(name) == upscaled_loose(model, tmp_path, name, data), name


# ---------------------------------------------------------------- 5: classify inside volumes

@pytest.mark.slow
def test_classify_reports_every_page_and_a_category_summary_per_volume(world, model, tmp_path):
    rec = classified(model, world["src"] / "vol01.cbz", tmp_path)
    vol = str(world["src"] / "vol01.cbz")
    for name in PAGES:
        r = rec[f"{vol}!/{name}"]
        assert r.output == "" and r.probs == pytest.approx(world["records"][f"vol01.cbz!/{name}"].probs, abs=1e-6)
    summary = rec[vol]
    assert summary.kind == "container" and summary.pages == 3 and summary.by_category == \
        world["records"]["vol01.cbz"].by_category
    assert any(n.startswith("pages by category: ") for n in summary.notes)


# ---------------------------------------------------------------- the pieces, without Ray

def test_unsafe_names():
    for name in ("../x.png", "a/../../x.png", "/etc/x.png", "\\x.png", "C:\\x.png", "c:x.png", "a\\..\\x.png",
                 "x\0.png"):
        assert unsafe_name(name), name
    for name in ("x.png", "ch1/001.jpg", "a..b/x.png", "...png", "ch 1/x.png"):
        assert not unsafe_name(name), name


def test_entries_sharing_their_data_are_a_bomb_even_when_each_looks_honest():
    infos = []
    for i in range(100):  # 10 MB each from 10 KB: under the floor one by one, 1 GB from a 20 KB file together
        info = zipfile.ZipInfo(f"{i:03d}.png")
        info.file_size, info.compress_size = 10 << 20, 10 << 10
        infos.append(info)
    with pytest.raises(ContainerError, match="ZIP bomb: 100 entries declare"):
        check_archive("v.cbz", infos, 20 << 10, None)
    check_archive("v.cbz", infos, 1 << 20, None)  # the same entries from 1 MB of data: ~1000:1, deflate's own


def test_write_container_replaces_pages_and_keeps_the_rest(tmp_path):
    src = volume(tmp_path / "v.cbz", [("ComicInfo.xml", COMIC_INFO), ("a/001.jpg", b"old page")], comment=b"c")
    new = tmp_path / "page.png"
    new.write_bytes(b"new page")
    with open(tmp_path / "out.cbz", "wb") as out:
        write_container(src, out, {1: ("a/001.png", new)})
    with zipfile.ZipFile(tmp_path / "out.cbz") as z:
        assert z.namelist() == ["ComicInfo.xml", "a/001.png"] and z.comment == b"c"
        assert z.read("a/001.png") == b"new page" and z.read("ComicInfo.xml") == COMIC_INFO
        assert z.getinfo("ComicInfo.xml").compress_type == zipfile.ZIP_DEFLATED
        assert z.getinfo("a/001.png").date_time == (2024, 5, 17, 12, 30, 0)


def test_a_volume_keeps_its_name_under_format_and_counts_its_pages(tmp_path):
    volume(tmp_path / "src" / "vol.cbz", [("1.jpg", b"x"), ("2.png", b"y"), ("info.txt", b"z"), ("../3.png", b""),
                                          ("__MACOSX/._1.jpg", b"fork"), (".cover.jpg", b"")])  # not pages: copied
    plan = Plan(tmp_path / "src", tmp_path / "out", BatchOptions(format="png").output_name)
    assert [j.dst.name for j in plan.jobs()] == ["vol.cbz"]
    assert check_plan(plan).pages == count_pages(tmp_path / "src" / "vol.cbz") == 2


def test_a_loose_page_record_is_written_as_before():
    assert set(PageRecord(input="a.png").to_dict()) == {
        "input", "output", "status", "error", "category", "probs", "width", "height", "seconds", "worker", "notes",
        "noise", "noise_reason", "model"}
