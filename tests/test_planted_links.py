"""Release-grade safety (issue 28, items A2-A5), through the real CLI where a
run can show it: links planted in DST never carry a write out of it (the lock,
the state folder, a volume's waiting pages, a mirrored page folder), SRC
inside DST is refused, and two entries of a volume never become one.

A link is planted where mchmc would write; its target, outside DST, must come
through the run byte for byte."""
from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from mchmc.batch.options import BatchOptions
from mchmc.batch.plan import Plan, PlanError, check_plan
from mchmc.batch.driver.prepare import prepare
from mchmc.batch.records import read_jsonl
from mchmc.batch.worker.pageworker import PageWorker
import test_safety_cli
from test_safety_cli import lines, page, snapshot, upscale, usage_error

model = test_safety_cli.model  # the tiny random MCH-MC model file, a module-scoped fixture
REPORT = "mchmc-upscale-report.jsonl"


def victim(folder: Path, name: str = "p001.png") -> Path:
    """A file outside DST that a planted link points at."""
    return page(folder / name, 99)


def cbz(path: Path, *names: str) -> Path:
    """A volume whose entries are small pages named ``names``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as z:
        for i, name in enumerate(names):
            z.write(page(path.parent.parent / "parts" / f"{i}{Path(name).suffix}", i + 10), name)
    return path


def pages_folder(dst: Path, volume: str) -> Path:
    """Where the run keeps a volume's finished pages: ``DST/.mchmc/containers/<digest of its output>``."""
    digest = hashlib.sha256(os.fsencode(os.path.abspath(dst / volume))).hexdigest()[:16]
    return dst / ".mchmc" / "containers" / digest


# ---------------------------------------------------------------- A2: the lock

@pytest.mark.slow
@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_a2_a_lock_planted_as_a_link_is_refused_in_one_line_and_its_target_untouched(model, tmp_path, link):
    page(tmp_path / "src" / "a.png", 1)
    target = victim(tmp_path / "elsewhere")
    before = target.read_bytes()
    (tmp_path / "out" / ".mchmc").mkdir(parents=True)
    lock = tmp_path / "out" / ".mchmc" / "lock"
    lock.symlink_to(target) if link == "symbolic" else os.link(target, lock)
    usage_error(upscale(model, tmp_path / "src", tmp_path / "out"), "lock")
    assert target.read_bytes() == before
    assert not (tmp_path / "out" / "a.png").exists()


# ---------------------------------------------------------------- A3: the state folder and what is under it

@pytest.mark.slow
def test_a3_a_state_folder_planted_as_a_link_is_refused_in_one_line_and_nothing_is_written_through(model, tmp_path):
    page(tmp_path / "src" / "a.png", 1)
    elsewhere = tmp_path / "elsewhere"
    victim(elsewhere)
    before = snapshot(elsewhere)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / ".mchmc").symlink_to(elsewhere, target_is_directory=True)
    usage_error(upscale(model, tmp_path / "src", tmp_path / "out"), ".mchmc", "symbolic link")
    assert snapshot(elsewhere) == before and sorted(p.name for p in elsewhere.iterdir()) == ["p001.png"]


@pytest.mark.slow
def test_a3_a_link_planted_for_a_volume_s_pages_is_an_error_and_nothing_outside_dst_is_replaced(model, tmp_path):
    src, dst, elsewhere = tmp_path / "src", tmp_path / "out", tmp_path / "elsewhere"
    cbz(src / "vol.cbz", "001.png", "002.png")
    page(src / "loose.png", 3)
    victim(elsewhere, "00000.png")
    victim(elsewhere, "00001.png")
    before = snapshot(elsewhere)
    folder = pages_folder(dst, "vol.cbz")
    folder.parent.mkdir(parents=True)
    folder.symlink_to(elsewhere, target_is_directory=True)
    res = upscale(model, src, dst)
    assert snapshot(elsewhere) == before, "a page written through the planted link"
    assert res.returncode == 1, res.stdout + res.stderr
    records = {Path(r.input).name: r for r in read_jsonl(dst / REPORT)}
    assert records["loose.png"].status == "ok", "the run goes on with the other pages"
    volume = records["vol.cbz"]
    assert volume.status == "error" and "symbolic link" in volume.error and len(lines(volume.error)) == 1
    assert not (dst / "vol.cbz").exists()


@pytest.mark.slow
def test_a3_a_page_folder_linked_after_the_plan_is_one_error_record_and_not_written_through(model, tmp_path):
    """The plan refuses a linked folder inside DST (test_safety_cli, item 4); one planted after
    the plan was checked is met by the worker that writes the page: its record is the error."""
    src, dst, elsewhere = tmp_path / "src", tmp_path / "out", tmp_path / "elsewhere"
    page(src / "chapter1" / "p001.png", 1)
    victim(elsewhere)
    before = snapshot(elsewhere)
    prep = prepare(str(src), str(dst), BatchOptions(model=model, tile=32))
    (job,) = prep.plan.jobs()
    (dst / "chapter1").symlink_to(elsewhere, target_is_directory=True)
    record = PageWorker(prep.options).process(job)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["p001.png"], "a temporary written through the link"
    assert snapshot(elsewhere) == before
    assert record.status == "error" and "chapter1: is a symbolic link" in record.error, record
    assert len(lines(record.error)) == 1


# ---------------------------------------------------------------- A4: SRC inside DST

@pytest.mark.slow
def test_a4_src_inside_dst_is_refused_in_one_line_before_any_work(model, tmp_path):
    arch = tmp_path / "arch"
    page(arch / "chapter1" / "p001.png", 1)
    page(arch / "p001.png", 2)  # another original, where chapter1's page would land
    before = snapshot(arch)
    usage_error(upscale(model, arch / "chapter1", arch, "--overwrite"), "inside DST")
    assert snapshot(arch) == before and not (arch / ".mchmc").exists()


# ---------------------------------------------------------------- A5: two entries, one output name

def test_a5_two_entries_of_a_volume_with_one_output_name_are_refused_as_two_loose_files_are(tmp_path):
    cbz(tmp_path / "src" / "vol.cbz", "001.png", "001.jpg", "002.jpg")
    plan = Plan(tmp_path / "src", tmp_path / "out", BatchOptions(format="png").output_name)
    with pytest.raises(PlanError, match=r"vol\.cbz!/001\.jpg: same output .*vol\.cbz!/001\.png as .*vol\.cbz!/001\.png"):
        check_plan(plan)
    assert check_plan(Plan(tmp_path / "src", tmp_path / "out")).pages == 3, "kept names never meet"


@pytest.mark.slow
def test_a5_the_cli_refuses_such_a_volume_in_one_line_and_writes_nothing(model, tmp_path):
    cbz(tmp_path / "src" / "vol.cbz", "001.png", "001.jpg")
    usage_error(upscale(model, tmp_path / "src", tmp_path / "out", "--format", "png"), "same output", "--format")
    assert not (tmp_path / "out" / "vol.cbz").exists()
