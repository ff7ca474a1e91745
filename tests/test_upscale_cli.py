"""`mchmc upscale` / `mchmc classify` end to end: the real CLI in a subprocess,
a real Prefect flow (local ephemeral API) and a real local Ray pool of two CPU
workers, over an archive with nested folders, a multi-page TIFF, a page big
enough to be split across both workers, a bad page and a non-image file.

Every output is compared byte for byte with the same page processed in this
process by one worker without any splitting, so "exact" covers the pool, the
band split and the stitch. The runs are shared by the tests of this module
(start-up of Prefect + Ray costs seconds per run)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mchmc.batch.plan import Job
from mchmc.batch.options import BatchOptions
from mchmc.batch.worker.pageworker import PageWorker
from mchmc.model import build_model
from mchmc.modelfile import save_model
from mchmc.batch.records import read_jsonl
from pages import smooth_rgb

pytestmark = pytest.mark.slow
SPLIT = 50_000  # LR pixels: big.png (300 x 260 = 78,000) is split in two bands, the others are not
GOOD = ["a/page.png", "a/b/gray.png", "chapter.tif", "big.png", "photo.jpg"]


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """8-bit RGB: smooth colour plus noise, so the network's output is not trivial."""
    noise = np.random.default_rng(seed).normal(0, 20, (h, w, 3))
    return np.clip(smooth_rgb(h, w, seed) * 255 + noise, 0, 255).round().astype(np.uint8)


def mchmc(*args: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "mchmc.cli.app", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def make_archive(root: Path) -> Path:
    src = root / "scans"
    (src / "a" / "b").mkdir(parents=True)
    Image.fromarray(texture(70, 90, seed=1)).save(src / "a" / "page.png", dpi=(300, 300))
    Image.fromarray(texture(64, 48, seed=2)[..., 1]).save(src / "a" / "b" / "gray.png")
    import tifffile

    tifffile.imwrite(src / "chapter.tif", np.stack([texture(40, 50, seed=s) for s in (3, 4)]), photometric="rgb")
    Image.fromarray(texture(260, 300, seed=5)).save(src / "big.png")
    Image.fromarray(texture(60, 80, seed=6)).save(src / "photo.jpg", quality=90)
    (src / "bad.png").write_bytes(b"this is not a PNG at all")
    (src / "notes.txt").write_text("not an image")
    return src


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The archive, a small random MCH-MC model file, and the reference outputs."""
    root = tmp_path_factory.mktemp("upscale")
    src = make_archive(root)
    torch.manual_seed(0)
    model = build_model("mch-mc")
    model.reset_parameters(0.05)
    model_path = save_model(model, root / "tiny.pt")
    worker = PageWorker(BatchOptions(model=str(model_path), tile=64, split_pixels=0), name="ref")
    ref, probs = root / "ref", {}
    for rel in GOOD:
        rec = worker.process(Job(src / rel, ref / rel))
        assert rec.status == "ok", rec.error
        probs[rel] = rec.probs
    env = dict(os.environ, PREFECT_LOGGING_LEVEL="WARNING")
    return {"root": root, "src": src, "dst": src / "x2", "model": str(model_path), "ref": ref, "probs": probs,
            "env": env}


def upscale(world, *extra: str, **kw) -> subprocess.CompletedProcess:
    return mchmc("upscale", str(world["src"]), "--out", str(world["dst"]), "--model", world["model"], "--cpus", "2",
                 "--tile", "64", "--split-pixels", str(SPLIT), *extra, env=world["env"], cwd=world["root"], **kw)


def outputs(dst: Path) -> dict[str, bytes]:
    return {str(p.relative_to(dst)): p.read_bytes() for p in sorted(dst.rglob("*"))
            if p.is_file() and not p.name.startswith("mchmc-") and ".mchmc" not in p.parts}


@pytest.fixture(scope="module")
def first_run(world):
    res = upscale(world)
    return res, list(read_jsonl(world["dst"] / "mchmc-upscale-report.jsonl"))


def test_a_bad_page_fails_alone_and_sets_exit_code_1(world, first_run):
    res, records = first_run
    assert res.returncode == 1, res.stdout + res.stderr
    by_input = {Path(r.input).relative_to(world["src"]).as_posix(): r for r in records}
    assert set(by_input) == set(GOOD) | {"bad.png"}, "notes.txt is not a page; x2/ inside SRC is not scanned"
    bad = by_input["bad.png"]
    assert bad.status == "error" and bad.error.startswith(str(world["src"] / "bad.png")) and "not an image" in bad.error
    assert "\n" not in bad.error
    assert all(by_input[g].status == "ok" for g in GOOD)
    out = res.stdout + res.stderr
    assert "bad.png" in out and "not an image" in out
    assert "1 non-image file(s) ignored" in out
    lines = res.stdout.splitlines()  # not a terminal: plain progress lines, after the start-up line
    assert lines[0].startswith("start-up") and any(ln.startswith("pages 6/6") for ln in lines[1:]), res.stdout
    assert f"model: {world['model']} (--model)" in lines, "the summary says which model (or tier) ran and why"


def test_tree_is_mirrored_and_outputs_equal_a_one_worker_run_byte_for_byte(world, first_run):
    got, ref = outputs(world["dst"]), outputs(world["ref"])
    assert set(got) == set(GOOD)
    for rel in GOOD:
        assert got[rel] == ref[rel], f"{rel} differs from the single-worker, unsplit reference"
    with Image.open(world["dst"] / "a" / "page.png") as im:
        assert im.size == (180, 140) and im.info["dpi"] == pytest.approx((600, 600), abs=0.1)
    assert not any(p.name.endswith(".part") for p in world["dst"].rglob("*")), "no temporaries left"


def test_report_fields_and_the_big_page_was_shared_by_both_workers(world, first_run):
    _, records = first_run
    rec = {Path(r.input).name: r for r in records}
    big = rec["big.png"]
    assert (big.width, big.height) == (300, 260)
    assert len(big.worker.split(",")) == 2, f"big.png should be split across both workers, got {big.worker!r}"
    for name, r in rec.items():
        if r.status == "ok":
            assert r.category in ("nature", "manga", "text") and set(r.probs) == {"nature", "manga", "text"}
            assert sum(r.probs.values()) == pytest.approx(1, abs=1e-5) and r.category == max(r.probs, key=r.probs.get)
    for rel in GOOD:  # categories from split GAP sums equal the whole-page ones
        assert rec[Path(rel).name].probs == pytest.approx(world["probs"][rel], abs=1e-5)
    header = (world["dst"] / "mchmc-upscale-report.csv").read_text().splitlines()[0]
    assert header.split(",")[:5] == ["input", "output", "status", "error", "category"]
    from mchmc.batch.report.reportfile import CSV_COLUMNS

    assert header.split(",") == CSV_COLUMNS, "the CSV holds every documented column, sizes of the input"


def test_every_page_upscaled_has_its_thumbnail_and_a_row_in_the_html_report(world, first_run):
    """Issue 31: the band-split page and the multi-page TIFF too (tests/test_html_report.py for the rest)."""
    from mchmc.batch.report.thumbs import relative_path

    done = [r for r in first_run[1] if r.status == "ok"]
    assert len(done) == len(GOOD) and all((world["dst"] / relative_path(r.output)).is_file() for r in done)
    html = (world["dst"] / "mchmc-report.html").read_text()
    assert all(f'"{name}"' in html for name in GOOD)


def test_rerun_skips_finished_pages_and_keeps_their_categories(world, first_run):
    before = {p: p.stat().st_mtime_ns for p in world["dst"].rglob("*.png")}
    res = upscale(world)
    assert res.returncode == 3, "the bad page failed earlier: not retried, and said so by the exit code"
    records = list(read_jsonl(world["dst"] / "mchmc-upscale-report.jsonl"))
    statuses = {Path(r.input).name: r.status for r in records}
    assert statuses.pop("bad.png") == "failed-earlier" and set(statuses.values()) == {"skipped"}
    kept = {Path(r.input).name: r.category for r in records if r.status == "skipped"}
    first = {Path(r.input).name: r.category for r in first_run[1] if r.status == "ok"}
    assert kept == first
    assert {p: p.stat().st_mtime_ns for p in world["dst"].rglob("*.png")} == before, "nothing rewritten"
    assert not (world["dst"] / "x2").exists()


def test_classify_reports_the_same_categories_without_writing(world, first_run):
    report = world["root"] / "cls" / "report.jsonl"  # asked for as report.csv, as a user would
    res = mchmc("classify", str(world["src"]), "--report", str(report.with_suffix(".csv")), "--model", world["model"], "--cpus", "2",
                "--tile", "64", "--split-pixels", str(SPLIT), env=world["env"], cwd=world["root"])
    assert res.returncode == 1, res.stdout + res.stderr
    cls = {Path(r.input).relative_to(world["src"]).as_posix(): r for r in list(read_jsonl(report))}
    assert sorted(p.name for p in report.parent.iterdir()) == ["report.csv", "report.html", "report.jsonl"], \
        "nothing written but the report"
    for r in first_run[1]:
        if r.status == "ok":
            c = cls[Path(r.input).relative_to(world["src"]).as_posix()]
            assert c.output == "" and c.category == r.category
            assert c.probs == pytest.approx(r.probs, abs=1e-5)
    # classify has no DST: the upscaled pages under SRC/x2 are pages too, and are classified
    assert {k for k in cls if k.startswith("x2/")} == {f"x2/{g}" for g in GOOD}
    assert len(cls["big.png"].worker.split(",")) == 2
    counts = {c: sum(r.category == c for r in cls.values() if r.status == "ok") for c in ("nature", "manga", "text")}
    for cat, n in counts.items():  # the terminal summary counts what the report holds
        assert re.search(rf"│ {cat}\s+│ {n}\s+│", res.stdout), res.stdout


def test_kill_9_mid_run_then_resume_gives_the_same_bytes(world, tmp_path):
    """A run killed with SIGKILL (driver, Prefect and Ray processes all at once)
    leaves only whole outputs; the re-run finishes the rest, byte-identical."""
    src = tmp_path / "many"
    src.mkdir()
    for i in range(16):
        Image.fromarray(texture(120, 160, seed=10 + i)).save(src / f"p{i:02d}.png")
    dst = tmp_path / "out"
    report = dst / "mchmc-upscale-report.jsonl"
    args = ["upscale", str(src), "--out", str(dst), "--model", world["model"], "--cpus", "2", "--tile", "32"]
    proc = subprocess.Popen([sys.executable, "-m", "mchmc.cli.app", *args], env=world["env"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if report.exists() and len(report.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; give it more pages"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = [p for p in dst.glob("p*.png")]
    assert 3 <= len(done_before) < 16
    res = mchmc(*args, env=world["env"], cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    statuses = [r.status for r in list(read_jsonl(report))]
    assert statuses.count("skipped") >= len(done_before) and statuses.count("error") == 0
    worker = PageWorker(BatchOptions(model=world["model"], tile=32), name="ref")
    for i in range(16):
        rec = worker.process(Job(src / f"p{i:02d}.png", tmp_path / "ref" / f"p{i:02d}.png"))
        assert rec.status == "ok"
        assert (dst / f"p{i:02d}.png").read_bytes() == (tmp_path / "ref" / f"p{i:02d}.png").read_bytes(), i
    assert not [p for p in dst.iterdir() if p.name.endswith(".part")]


def test_more_gpus_than_the_machine_has_stops_before_any_work(world, tmp_path):
    ray_tmp = tmp_path / "ray"  # where a Ray started by this run would put its session
    res = mchmc("upscale", str(world["src"]), "--out", str(tmp_path / "g"), "--gpus", "2", "--model", world["model"],
                env=dict(world["env"], CUDA_VISIBLE_DEVICES="", RAY_TMPDIR=str(ray_tmp)))
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--gpus 2" in lines[0] and "0 usable GPU" in lines[0]
    assert not (tmp_path / "g").exists()
    assert not ray_tmp.exists(), "refused before Ray was started"


@pytest.mark.parametrize("args, message", [
    (["--precision", "fp8"], "--precision"),
    (["--tile", "0"], "--tile"),
    (["--format", "gif"], "gif"),
    (["--split-pixels", "-1"], "--split-pixels"),
])
def test_bad_options_are_usage_errors(world, tmp_path, args, message):
    res = mchmc("upscale", str(world["src"]), "--out", str(tmp_path / "o"), *args, env=world["env"])
    assert res.returncode == 2 and message in res.stderr
    assert not (tmp_path / "o").exists()


def test_missing_source_is_a_usage_error(tmp_path):
    res = mchmc("upscale", str(tmp_path / "nope"), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "no such file or folder" in res.stderr


def test_dry_run_lists_and_writes_nothing(world, tmp_path):
    res = mchmc("upscale", str(world["src"]), "--out", str(tmp_path / "d"), "--dry-run", "--model", world["model"],
                env=world["env"])
    assert res.returncode == 0
    lines = {tuple(ln.split("\t")) for ln in res.stdout.splitlines()}
    for rel in GOOD:
        assert ("upscale", str(world["src"] / rel), str(tmp_path / "d" / rel)) in lines
    assert "non-image file(s) ignored" in res.stderr
    assert not (tmp_path / "d").exists()
