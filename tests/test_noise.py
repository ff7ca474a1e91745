"""`--noise auto|none|0..3` (issue 14): each page of a mixed archive gets its JPEG noise level, from its
quantisation tables, and the report says which level and why.

The model family here is made by the test (a copy of the shipped SRforMC and four variants whose conv3 bias
is shifted by a different amount), so which file upscaled a page can be read off its pixels."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mchmc.batch.plan import Job
from mchmc.batch.records import read_jsonl
from mchmc.batch.report.reportfile import CSV_COLUMNS
from mchmc.batch.options import BatchOptions
from mchmc.batch.worker.pageworker import PageWorker
from mchmc.modelfile import load_model, noise_variants, save_model, shipped_models
from mchmc.pages.meta import PageMeta
from mchmc.pages.noise import AUTO_LEVELS, NOISE_CHOICES, check_setting, choose, level_for_quality
from pages import smooth_rgb


def meta(quality: int | None, fmt: str = "JPEG") -> PageMeta:
    return PageMeta(path="p.jpg", format=fmt, mode="RGB", bits=8, width=8, height=8, jpeg_quality=quality)


def test_auto_maps_the_estimated_quality_to_a_level_and_says_why():
    assert choose("auto", meta(78)).level == 1 and choose("auto", meta(78)).reason == "jpeg q=78 -> 1"
    assert choose("auto", meta(99)).level is None and choose("auto", meta(99)).reason == "jpeg q=99 -> none"
    assert [choose("auto", meta(q)).level for q in (98, 86, 85, 73, 72, 55, 54, 10)] == [0, 0, 1, 1, 2, 2, 3, 3]
    lossless = choose("auto", meta(None, "PNG"))
    assert lossless.level is None and lossless.reason == "none: lossless source"
    assert choose("none", meta(40)).level is None and choose("2", meta(None, "PNG")).level == 2
    missing = choose("auto", meta(60), available=frozenset({0, 1}))  # the model has no level-2 variant
    assert missing.level is None and "no level-2 variant" in missing.reason


def test_thresholds_are_ordered_and_cover_every_quality():
    lows = [lo for lo, _ in AUTO_LEVELS]
    assert lows == sorted(lows, reverse=True) and lows[-1] == 0
    levels = [level_for_quality(q) for q in range(1, 101)]
    ranks = [-1 if x is None else x for x in levels]
    assert ranks == sorted(ranks, reverse=True)  # a better quality never gets a stronger level


def test_setting_is_checked():
    assert check_setting("AUTO") == "auto" and check_setting(" 3") == "3"
    with pytest.raises(ValueError, match="--noise must be one of auto, none, 0, 1, 2, 3"):
        check_setting("4")
    with pytest.raises(ValueError, match="--noise"):
        BatchOptions(noise="heavy")
    assert NOISE_CHOICES == ("auto", "none", "0", "1", "2", "3")


def make_family(folder: Path) -> Path:
    """m.pt (the shipped SRforMC) and m-noise<k>.pt, each with conv3's bias shifted by (k + 1) / 64."""
    folder.mkdir(parents=True, exist_ok=True)
    base = load_model("srformc")
    save_model(base.model, folder / "m.pt")
    for k in range(4):
        model = load_model("srformc").model
        with torch.no_grad():
            model.conv3.bias += (k + 1) / 64
        save_model(model, folder / f"m-noise{k}.pt")
    return folder / "m.pt"


def mixed_pages(src: Path) -> dict[str, int | None]:
    """The issue's mix: a clean PNG, JPEGs of q95, q75, q40 and a gray JPEG (q60); name -> expected level."""
    src.mkdir(parents=True)
    rgb = (smooth_rgb(40, 56, 3) * 255).round().astype(np.uint8)
    Image.fromarray(rgb).save(src / "clean.png")
    for q in (95, 75, 40):
        Image.fromarray(rgb).save(src / f"q{q}.jpg", quality=q)
    Image.fromarray(rgb[..., 1]).save(src / "gray.jpg", quality=60)
    return {"clean.png": None, "q95.jpg": 0, "q75.jpg": 1, "q40.jpg": 3, "gray.jpg": 2}


def test_variants_are_found_beside_the_model(tmp_path):
    model = make_family(tmp_path / "fam")
    assert noise_variants(model) == {k: tmp_path / "fam" / f"m-noise{k}.pt" for k in range(4)}
    assert noise_variants(tmp_path / "fam" / "m-noise1.pt") == {}
    shipped = shipped_models()
    assert set(noise_variants("srformc")) == {k for k in range(4) if f"srformc-noise{k}" in shipped}


def mchmc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mchmc.cli.app", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_mixed_run_gives_each_page_its_level_in_the_report(tmp_path):
    model = make_family(tmp_path / "fam")
    expected = mixed_pages(tmp_path / "src")
    res = mchmc("upscale", str(tmp_path / "src"), "--out", str(tmp_path / "dst"), "--model", str(model),
                "--cpus", "1", "--format", "png")
    assert res.returncode == 0, res.stderr
    records = {Path(r.input).name: r for r in read_jsonl(tmp_path / "dst" / "mchmc-upscale-report.jsonl")}
    assert {n: r.noise for n, r in records.items()} == {n: "none" if k is None else str(k) for n, k in expected.items()}
    assert records["clean.png"].noise_reason == "none: lossless source"
    assert records["q75.jpg"].noise_reason == "jpeg q=75 -> 1"
    assert records["gray.jpg"].noise_reason == "jpeg q=60 -> 2"
    assert ("noise reduction of the files upscaled now: level 0 on 1 file(s), level 1 on 1 file(s), "
            "level 2 on 1 file(s), level 3 on 1 file(s), none on 1 file(s)") in res.stdout
    assert records["q75.jpg"].model == "m-noise1.pt" and records["clean.png"].model == "m.pt"
    with open(tmp_path / "dst" / "mchmc-upscale-report.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == CSV_COLUMNS and {r["noise"] for r in rows} == {"none", "0", "1", "2", "3"}
    # the pixels say which model ran: each page equals that level forced in this process (its variant file,
    # and on a colour JPEG the chroma network at that level)
    for name, level in expected.items():
        worker = PageWorker(BatchOptions(model=str(model), noise="none" if level is None else str(level), format="png"))
        out = tmp_path / "ref" / f"{name}.png"
        out.parent.mkdir(exist_ok=True)
        rec = worker.process(Job(tmp_path / "src" / name, out))
        assert rec.status == "ok", rec.error
        got = np.asarray(Image.open(tmp_path / "dst" / Path(name).with_suffix(".png")))
        assert np.array_equal(got, np.asarray(Image.open(out))), name
    # --noise none: every page with the clean model; --noise 2: every page at level 2
    res = mchmc("upscale", str(tmp_path / "src"), "--out", str(tmp_path / "none"), "--model", str(model),
                "--cpus", "1", "--noise", "none")
    assert res.returncode == 0, res.stderr
    assert {r.noise for r in read_jsonl(tmp_path / "none" / "mchmc-upscale-report.jsonl")} == {"none"}
    res = mchmc("classify", str(tmp_path / "src"), "--model", str(model), "--cpus", "1", "--noise", "2",
                "--report", str(tmp_path / "cls.jsonl"))
    assert res.returncode == 0, res.stderr
    assert {(r.noise, r.noise_reason) for r in read_jsonl(tmp_path / "cls.jsonl")} == {("2", "--noise 2")}


def test_a_level_the_model_lacks_is_one_line_and_exit_2(tmp_path):
    mixed_pages(tmp_path / "src")
    lone = tmp_path / "lone.pt"
    save_model(load_model("srformc").model, lone)
    res = mchmc("upscale", str(tmp_path / "src"), "--out", str(tmp_path / "dst"), "--model", str(lone),
                "--noise", "2")
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and "has no noise-level 2 variant" in res.stderr, res.stderr
    assert not (tmp_path / "dst").exists()


def test_help_states_the_auto_thresholds():
    from mchmc.cli.app import NOISE_HELP

    for (low, level), (high, _) in zip(AUTO_LEVELS[1:], AUTO_LEVELS):
        assert f"{low}-{high - 1} {level}" in NOISE_HELP
    assert f"q>={AUTO_LEVELS[0][0]} none" in NOISE_HELP
