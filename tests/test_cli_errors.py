"""Ordinary mistakes give one line and exit 2 before any work, and what a
waifu2x user expects is there (issue 16). The real CLI in a subprocess; the
usage errors never start Ray (no start-up line is printed)."""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mchmc.batch.records import read_jsonl


def mchmc(*args, preexec_fn=None, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mchmc.cli.app", *map(str, args)], capture_output=True, text=True,
                          errors="replace", timeout=300, preexec_fn=preexec_fn, **kw)


def page(path: Path, seed: int = 0, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 256, (24, 32, len(mode)), dtype=np.uint8)
    Image.fromarray(a if len(mode) > 1 else a[..., 0], mode).save(path)
    return path


def one_line_usage_error(res, *words) -> str:
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert "start-up" not in res.stdout, "refused before Ray started"
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_an_unwritable_dst_is_one_line(tmp_path):
    page(tmp_path / "s" / "a.png")
    one_line_usage_error(mchmc("upscale", tmp_path / "s", "--out", "/proc/mchmc-test-dst"), "cannot write here")


def test_an_unwritable_report_is_one_line(tmp_path):
    page(tmp_path / "s" / "a.png")
    one_line_usage_error(mchmc("upscale", tmp_path / "s", "--out", tmp_path / "o", "--report", "/proc/x/r.jsonl"),
                         "cannot write here")


def test_a_full_dst_is_one_line(tmp_path):
    """A file-size limit of 1 KB makes every write past it fail as on a full disk (EFBIG)."""
    page(tmp_path / "s" / "a.png")

    def small_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    one_line_usage_error(mchmc("upscale", tmp_path / "s", "--out", tmp_path / "o", preexec_fn=small_files),
                         "cannot write here")


def test_an_unknown_model_is_one_line(tmp_path):
    page(tmp_path / "s" / "a.png")
    one_line_usage_error(mchmc("upscale", tmp_path / "s", "--out", tmp_path / "o", "--model", "nosuchmodel"),
                         "nosuchmodel")
    assert not (tmp_path / "o").exists()


def test_classify_with_a_model_without_a_head_is_one_line(tmp_path):
    page(tmp_path / "s" / "a.png")
    one_line_usage_error(mchmc("classify", tmp_path / "s", "--model", "srforall"), "no classifier")


@pytest.mark.parametrize("dry", [["--dry-run"], []])
def test_two_inputs_onto_one_output_is_one_line_in_a_dry_run_and_a_real_one(tmp_path, dry):
    page(tmp_path / "s" / "a.png")
    page(tmp_path / "s" / "a.tif")
    one_line_usage_error(mchmc("upscale", tmp_path / "s", "--out", tmp_path / "o", "--format", "png", *dry),
                         "same output")


@pytest.mark.parametrize("args, words", [
    (["--bogus"], ["error: mchmc:", "No such option: --bogus"]),
    (["nosuchcommand"], ["No such command 'nosuchcommand'"]),
    (["upscale"], ["error: mchmc upscale:", "Missing argument 'src'", "mchmc upscale -h"]),
    (["upscale", "x", "--cpus", "abc"], ["Invalid value for '--cpus'"]),
    (["train-router", "--fold", "one"], ["error: mchmc train-router:", "'--fold'"]),
])
def test_click_usage_errors_are_one_line_too(args, words):
    """An unknown option, a missing argument, a value of the wrong type: one line on stderr, exit 2 (click
    drew a five-line box)."""
    one_line_usage_error(mchmc(*args), *words)


def test_the_command_alone_still_prints_its_help():
    res = mchmc()
    assert res.returncode == 2 and "Usage: mchmc" in res.stdout + res.stderr and "upscale" in res.stdout + res.stderr


def test_version_and_flags_look_like_flags():
    res = mchmc("--version")
    assert res.returncode == 0 and res.stdout.startswith("mchmc ")
    help_text = mchmc("upscale", "--help", env=dict(os.environ, COLUMNS="200")).stdout
    for flag in ("--overwrite", "--dry-run", "--prefect"):
        line = next(ln for ln in help_text.splitlines() if flag in ln)
        assert "<bool>" not in line, line


def test_bf16_where_it_is_not_native_warns_in_one_line(monkeypatch, capsys):
    import mchmc.precision as engine
    from mchmc.cli import upscale as up

    monkeypatch.setattr(engine, "native_bf16", lambda device="cpu": False)
    assert engine.resolve_precision("auto") == "fp32" and engine.resolve_precision("bf16") == "bf16"
    from cli.devices import Devices

    up._check("samples", None, True, 0, 1, None, None, True, {"precision": "bf16"}, Devices())
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no native bf16" in err
    monkeypatch.setattr(engine, "native_bf16", lambda device="cpu": True)
    assert engine.resolve_precision("auto") == "bf16"


@pytest.mark.slow
def test_pages_errors_and_notes_in_words_a_user_knows(tmp_path):
    """A real run: a multi-page TIFF to a one-page format, an RGBA page to JPEG (its
    note reaches the record and the CSV), a bad page whose name holds a newline
    (its line stays one line), and a single file to an output *file* (-o x.png)."""
    import tifffile

    src = tmp_path / "s"
    tifffile.imwrite(page(src / "x.png").parent / "chapter.tif", np.zeros((2, 16, 16, 3), np.uint8),
                     photometric="rgb")
    page(src / "alpha.png", 1, "RGBA")
    (src / "bad\nname.png").write_bytes(b"not an image")
    res = mchmc("upscale", src, "--out", tmp_path / "o", "--format", "jpeg", "--cpus", "1", "--tile", "32")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    rec = {Path(r.input).name: r for r in read_jsonl(tmp_path / "o" / "mchmc-upscale-report.jsonl")}
    tif = rec["chapter.tif"]
    assert tif.status == "error" and "several pages" in tif.error and "output_name" not in tif.error
    assert "composited over white" in " ".join(rec["alpha.png"].notes)
    assert "composited over white" in (tmp_path / "o" / "mchmc-upscale-report.csv").read_text()
    bad = [ln for ln in res.stderr.splitlines() if "name.png" in ln]
    assert len(bad) == 1 and "bad\\nname.png" in bad[0]
    res = mchmc("upscale", src / "x.png", "--out", tmp_path / "single" / "big.png", "--cpus", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    with Image.open(tmp_path / "single" / "big.png") as im:
        assert im.size == (64, 48)


DRIVER = r"""
import os, sys, runpy
flag, sys.argv = sys.argv[1], ["mchmc", *sys.argv[2:]]
def tell(code, real=os._exit):  # a run that started Ray leaves through os._exit, skipping atexit
    open(flag, "w").write(str("torch" in sys.modules))
    real(code)
os._exit = tell
import atexit
atexit.register(lambda: open(flag, "w").write(str("torch" in sys.modules)))
runpy.run_module("mchmc.cli.app", run_name="__main__")
"""


@pytest.mark.slow
def test_the_driver_never_imports_torch(tmp_path):
    """Only the workers need torch: the driver checks the model from its header, plans, feeds
    Ray and writes the report, so its own start-up skips torch's seconds and its hundreds of MB."""
    page(tmp_path / "s" / "a.png")
    flag = tmp_path / "torch-imported"
    for args in (["--dry-run"], ["--cpus", "1"], ["--cpus", "1"]):  # a plan, a real run, a re-run with nothing to do
        res = subprocess.run([sys.executable, "-c", DRIVER, flag, "upscale", tmp_path / "s", "--out", tmp_path / "o",
                              *args], capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stdout + res.stderr
        assert flag.read_text() == "False", args
    assert (tmp_path / "o" / "a.png").is_file()


@pytest.mark.slow
def test_a_model_whose_weights_do_not_load_stops_the_run_in_one_line(tmp_path):
    """Its header is sound (so the checks before Ray pass); the workers cannot load its weights:
    one line naming the file and the reason, exit 2, nothing written."""
    import torch

    from mchmc.modelfile import load_model, save_model

    model = load_model("srformc").model
    path = save_model(model, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["conv2.weight"] = torch.zeros(1)
    torch.save(payload, path)
    page(tmp_path / "s" / "a.png")
    res = mchmc("upscale", tmp_path / "s", "--out", tmp_path / "o", "--model", path, "--cpus", "1")
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert str(path) in lines[0] and "conv2.weight" in lines[0], lines[0]
    assert not (tmp_path / "o" / "a.png").exists()


@pytest.mark.parametrize("command, args, words", [
    ("upscale", ["--max-memory", "nan"], ["--max-memory", "nan"]),
    ("upscale", ["--max-memory", "inf"], ["--max-memory", "inf"]),
    ("upscale", ["--max-memory", "1e400"], ["--max-memory", "inf"]),  # too big for a float: infinite
    ("upscale", ["--max-memory", "0.001"], ["--max-memory", "smallest page"]),  # would refuse every page
    ("upscale", ["--max-memory", "-1"], ["--max-memory"]),
    ("upscale", ["--max-pixels", "-5"], ["--max-pixels", "-5"]),
    ("upscale", ["--max-pixels", "0"], ["--max-pixels", "0"]),  # not a silent "no limit"
    ("classify", ["--max-pixels", "-5"], ["--max-pixels", "-5"]),
    ("classify", ["--max-pixels", "0"], ["--max-pixels", "0"]),
])
def test_out_of_range_limits_are_one_line_before_any_work(tmp_path, command, args, words):
    page(tmp_path / "s" / "a.png")
    out = ["--out", tmp_path / "o"] if command == "upscale" else ["--report", tmp_path / "r.jsonl"]
    one_line_usage_error(mchmc(command, tmp_path / "s", *out, "--cpus", "1", *args), *words)
    assert not (tmp_path / "o").exists() and not (tmp_path / "r.jsonl").exists()


@pytest.mark.parametrize("command", ["upscale", "classify"])
def test_more_cpu_workers_than_the_machine_has_cores_is_one_line(tmp_path, command):
    """A local run starts one worker process per --cpus: 1000 on a small machine would swamp it.
    (One more than the cores: little harm done if the check were missing; upscale's as a dry run.)"""
    page(tmp_path / "s" / "a.png")
    out = ["--out", tmp_path / "o", "--dry-run"] if command == "upscale" else ["--report", tmp_path / "r.jsonl"]
    cores = os.cpu_count() or 1
    line = one_line_usage_error(mchmc(command, tmp_path / "s", *out, "--cpus", cores + 1), "--cpus")
    assert f"{cores} " in line, line


def test_h_and_capital_v_work_as_waifu2x_users_type_them():
    res = mchmc("-h")
    assert res.returncode == 0 and "upscale" in res.stdout and "Usage" in res.stdout, res.stdout + res.stderr
    res = mchmc("upscale", "-h")
    assert res.returncode == 0 and "--max-memory" in res.stdout, res.stdout + res.stderr
    res = mchmc("classify", "-h")
    assert res.returncode == 0 and "--report" in res.stdout, res.stdout + res.stderr
    res = mchmc("-V")
    assert res.returncode == 0 and res.stdout.startswith("mchmc ") and res.stdout.count("\n") == 1, res.stdout
    assert res.stdout == mchmc("--version").stdout
