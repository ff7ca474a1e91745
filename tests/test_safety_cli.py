"""Never lose a page (issue 15), through the real CLI: real Ray workers, real
processes and real signals. Each test names the item it pins down.

Usage errors are checked to come back as one line and exit 2 with nothing
touched; the runs that do work share one archive that holds every trap at once
(a page that kills its worker, a file name that is not UTF-8, a symlink out of
SRC, files at output names that no run made)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mchmc.model import build_model
from mchmc.modelfile import save_model
from mchmc.batch.records import read_jsonl

pytestmark = pytest.mark.slow
CRASHERS = "crash1.png,crash2.png"  # pages that kill the worker process that touches them
ODD = os.fsdecode(b"scan-\xff\xfe.png")  # a file name that is not UTF-8


def page(path: Path, seed: int, h: int = 48, w: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def mchmc(*args, env=None, umask=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mchmc.cli.app", *args], capture_output=True, text=True,
                          errors="replace", timeout=600, env=env,
                          preexec_fn=(lambda: os.umask(umask)) if umask is not None else None, **kw)


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> str:
    torch.manual_seed(0)
    m = build_model("mch-mc")
    m.reset_parameters(0.05)
    return str(save_model(m, tmp_path_factory.mktemp("model") / "tiny.pt"))


def upscale(model, src, out, *extra, **kw):
    return mchmc("upscale", str(src), "--out", str(out), "--model", model, "--cpus", "2", "--tile", "32", *extra, **kw)


# ---------------------------------------------------------------- 1-5: inputs are never outputs

def usage_error(res, *words):
    assert res.returncode == 2, res.stdout + res.stderr
    err = lines(res.stderr)
    assert len(err) == 1 and "Traceback" not in res.stderr, res.stderr
    for w in words:
        assert w in err[0], err[0]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_1_dst_equal_to_src_is_refused_and_no_original_is_touched(model, tmp_path, overwrite):
    src = tmp_path / "src"
    page(src / "a.png", 1)
    page(src / "sub" / "b.png", 2)
    before = snapshot(src)
    usage_error(upscale(model, src, src, *overwrite), "DST is SRC")
    assert snapshot(src) == before and not (src / ".mchmc").exists()


def test_2_src_inside_dst_cannot_overwrite_an_input(model, tmp_path):
    page(tmp_path / "t" / "s" / "x.png", 1)
    page(tmp_path / "t" / "s" / "s" / "x.png", 2)
    before = snapshot(tmp_path / "t")
    usage_error(upscale(model, tmp_path / "t" / "s", tmp_path / "t", "--overwrite"), "overwrite an input")
    assert snapshot(tmp_path / "t") == before


def test_3_a_list_entry_inside_dst_cannot_be_its_own_output(model, tmp_path):
    page(tmp_path / "src" / "a.png", 1)
    listing = tmp_path / "l.txt"
    listing.write_text("src/a.png\n")
    before = snapshot(tmp_path / "src")
    usage_error(upscale(model, listing, tmp_path, "--overwrite"), "overwrite an input")
    assert snapshot(tmp_path / "src") == before


def test_3_a_list_entry_climbing_out_with_dotdot_lands_inside_dst(model, tmp_path):
    a = page(tmp_path / "src" / "a.png", 1)
    listing = tmp_path / "lists" / "l.txt"
    listing.parent.mkdir()
    listing.write_text("../src/a.png\n")
    before = a.read_bytes()
    res = upscale(model, listing, tmp_path / "out", "--overwrite")
    assert res.returncode == 0, res.stdout + res.stderr
    assert a.read_bytes() == before
    out = tmp_path / "out" / a.relative_to("/")
    assert out.is_file() and Image.open(out).size == (128, 96)
    assert sorted(p.name for p in (tmp_path / "src").iterdir()) == ["a.png"]


def test_4_a_symlinked_folder_inside_dst_is_refused_not_written_through(model, tmp_path):
    page(tmp_path / "src" / "sub" / "x.png", 1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "sub").symlink_to(elsewhere, target_is_directory=True)
    usage_error(upscale(model, tmp_path / "src", tmp_path / "out"), "outside DST")
    assert list(elsewhere.iterdir()) == []


def test_5_a_report_onto_an_input_is_refused(model, tmp_path):
    a = page(tmp_path / "src" / "a.png", 1)
    before = a.read_bytes()
    usage_error(upscale(model, tmp_path / "src", tmp_path / "out", "--report", str(a)), "report would overwrite")
    assert a.read_bytes() == before and not (tmp_path / "out").exists()


# ---------------------------------------------------------------- one real run with every trap

@pytest.fixture(scope="module")
def trapped(model, tmp_path_factory):
    """The archive, a first run (with the crashing pages armed) and its report."""
    root = tmp_path_factory.mktemp("traps")
    src, dst = root / "src", root / "out"
    for i in range(4):
        page(src / f"p{i}.png", 10 + i)
    page(src / "crash1.png", 20)
    page(src / "crash2.png", 21)
    page(src / ODD, 22)
    page(root / "outside" / "secret.png", 23)
    (src / "link.png").symlink_to(root / "outside" / "secret.png")
    dst.mkdir()
    (dst / "p2.png").write_bytes(b"")  # a 0-byte leftover at an output name
    page(dst / "p3.png", 99, 8, 8)  # an unrelated image at an output name
    foreign = {"p2.png": b"", "p3.png": (dst / "p3.png").read_bytes()}
    env = dict(os.environ, MCHMC_FAULT_KILL_ON=CRASHERS)
    res = upscale(model, src, dst, env=env, umask=0o022)
    records = {Path(r.input).name: r for r in read_jsonl(dst / "mchmc-upscale-report.jsonl")}
    return {"root": root, "src": src, "dst": dst, "res": res, "records": records, "foreign": foreign}


def test_6_files_no_run_made_are_conflicts_left_alone(trapped):
    rec, dst = trapped["records"], trapped["dst"]
    for name, data in trapped["foreign"].items():
        assert rec[name].status == "conflict" and "--overwrite" in rec[name].error
        assert (dst / name).read_bytes() == data, f"{name} was touched"
    assert trapped["res"].returncode == 1
    assert "conflict" in trapped["res"].stderr


def test_8_pages_that_kill_their_worker_are_errors_and_the_run_finishes(trapped):
    rec = trapped["records"]
    for name in CRASHERS.split(","):
        assert rec[name].status == "error" and "died 3 times" in rec[name].error, rec[name]
    assert rec["p0.png"].status == "ok" and rec["p1.png"].status == "ok"
    assert "every worker died" not in trapped["res"].stderr


def test_11_a_file_name_that_is_not_utf8_is_upscaled_and_reported(trapped):
    rec, dst = trapped["records"], trapped["dst"]
    assert rec[ODD].status == "ok" and (dst / ODD).is_file()
    (dst / "mchmc-upscale-report.csv").read_bytes().decode("utf-8")  # valid UTF-8
    assert not list(dst.glob("*.part"))


def test_4_a_symlinked_file_in_src_is_not_followed_and_said_so(trapped):
    assert "link.png" not in trapped["records"] and not (trapped["dst"] / "link.png").exists()
    assert "1 symlink(s) inside SRC not followed" in trapped["res"].stdout


def test_16_outputs_get_the_umask_mode_not_0600(trapped):
    for name in ("p0.png", "mchmc-upscale-report.jsonl", "mchmc-upscale-report.csv"):
        assert (trapped["dst"] / name).stat().st_mode & 0o777 == 0o644, name


def test_6_7_rerun_after_a_deleted_report_skips_with_evidence_and_keeps_categories(trapped, model):
    dst = trapped["dst"]
    first = trapped["records"]
    (dst / "mchmc-upscale-report.jsonl").unlink()
    with open(dst / "mchmc-upscale-report.csv", "w") as f:
        f.write("torn,")
    res = upscale(model, trapped["src"], dst, "--retry-failed")
    assert "Traceback" not in res.stderr
    again = {Path(r.input).name: r for r in read_jsonl(dst / "mchmc-upscale-report.jsonl")}
    for name in ("p0.png", "p1.png", ODD):
        assert again[name].status == "skipped"
        assert (again[name].category, again[name].probs) == (first[name].category, first[name].probs)
    for name in ("crash1.png", "crash2.png"):  # no fault armed now: retried, they get done
        assert again[name].status == "ok"
    assert again["p2.png"].status == "conflict" and res.returncode == 1
    res = upscale(model, trapped["src"], dst, "--overwrite")
    assert res.returncode == 0, res.stdout + res.stderr
    assert Image.open(dst / "p3.png").size == (128, 96), "--overwrite replaces the foreign file"


def test_7_a_torn_or_foreign_line_in_an_old_report_does_not_stop_the_next_run(model, tmp_path):
    page(tmp_path / "src" / "a.png", 1)
    dst = tmp_path / "out"
    dst.mkdir()
    (dst / "mchmc-upscale-report.jsonl").write_text('{"input": "x", "status": "maybe"}\n[1]\n{"inp')
    res = upscale(model, tmp_path / "src", dst)
    assert res.returncode == 0, res.stdout + res.stderr


# ---------------------------------------------------------------- helpers of runs that are watched while they work
# (here, test_safety_signals.py, test_report_cli.py, container_runs.py)

def many_pages(folder: Path, n: int = 60, h: int = 96, w: int = 128) -> Path:
    for i in range(n):
        page(folder / f"p{i:03d}.png", i, h, w)
    return folder


def start(model, src, dst, *extra, stderr=subprocess.PIPE):
    args = [sys.executable, "-m", "mchmc.cli.app", "upscale", str(src), "--out", str(dst), "--model", model,
            "--cpus", "2", "--tile", "16", *extra]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True)


def wait_for_records(report: Path, n: int, proc, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if report.exists() and len(report.read_text().splitlines()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("the run finished or stalled before it could be interrupted")


# ---------------------------------------------------------------- 9: bombs and memory, the hostile folder

def test_9_every_hostile_file_is_one_line_and_the_run_finishes(model, tmp_path):
    """tests/hostile/ (bombs of a few KB, forged headers, fuzz findings) through the real CLI,
    plus a real 2000 x 2000 page over a 0.6 GB --max-memory: each is one error record, refused
    before decoding, and the ordinary page beside them is upscaled."""
    import shutil

    hostile = Path(__file__).parent / "hostile"
    src = tmp_path / "src"
    shutil.copytree(hostile, src, ignore=shutil.ignore_patterns("*.py"))
    page(src / "ordinary.png", 1)
    ramp = np.linspace(0, 255, 2000, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(ramp, (2000, 1))] * 3, -1)).save(src / "big.png")
    res = upscale(model, src, tmp_path / "out", "--max-memory", "0.6")
    assert res.returncode == 1 and "Traceback" not in res.stdout + res.stderr, res.stderr
    # by path under src: tests/hostile/containers/ holds volumes, whose pages ("v.cbz!/001.png") share names
    rec = {str(Path(r.input).relative_to(src)): r for r in read_jsonl(tmp_path / "out" / "mchmc-upscale-report.jsonl")}
    assert rec["ordinary.png"].status == "ok"
    assert rec["big.png"].status == "error" and "over this worker's budget" in rec["big.png"].error
    assert rec["prog-bomb-9000.jpg"].status == "error" and rec["png-claims-22000.png"].status == "error"
    for name, r in rec.items():
        assert "\n" not in r.error and (r.status == "ok" or r.error.startswith(str(src / name))), r
    bombs = {n: r.error for n, r in rec.items() if "-claims-" in n or "-bomb-" in n}
    assert len(bombs) >= 7 and all("not decoded" in e or "over this worker's budget" in e for e in bombs.values()), \
        f"no bomb is decoded (a 9000 x 9000 decode alone took minutes): each is refused from its header: {bombs}"
