"""Issue 29: teach it your archive. A user's own folders, from any working directory; a failed start
leaves nothing behind that blocks the corrected command (synthetic images; no ../shared needed)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
import pytest
from PIL import Image
from typer.testing import CliRunner

from mchmc.batch.records import read_jsonl
from mchmc.cli.app import app
from mchmc.modelfile import load_model
from mchmc.train.config import with_overrides
from mchmc.train.run import open_run

sys.path.insert(0, str(Path(__file__).parent))
from test_data import synth_config, synth_dataset  # noqa: E402

SMOKE_FOLDERS = {"nature": "nature_bsds100", "manga": "manga_manga109", "text": "text_hradis_bmvc_ocr_test_orig"}


def test_a_relative_data_root_is_the_current_directory_s(tmp_path, monkeypatch):
    """Item 5 / the relative-path bug: `--data-root own_data` run from another folder means ./own_data."""
    own = synth_dataset(tmp_path / "own_data")
    for cat, folder in SMOKE_FOLDERS.items():  # the smoke config's folder names
        (own / cat).rename(own / folder)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MCHMC_DATA_ROOT", raising=False)
    res = CliRunner().invoke(app, ["train", "--config", "smoke", "--no-prefect", "--runs", "runs",
                                   "--data-root", "own_data", "--cache", "cache", "--method", "SRforNature"])
    assert res.exit_code == 0, res.output
    assert str(tmp_path / "own_data") in (tmp_path / "runs" / "SRforNature-fold1-smoke" / "config.toml").read_text()


def test_a_failed_start_writes_nothing_and_the_corrected_command_runs(tmp_path):
    """Item 5: a start refused for its data leaves no run dir, so the corrected command is not refused."""
    good = synth_config(tmp_path, **{"mch.steps": 2})
    wrong = with_overrides(good, {"data.root": str(tmp_path / "no_such_folder")})
    with pytest.raises(Exception, match="image folder not found"):
        open_run(wrong, "SRforNature", "1", tmp_path / "runs")
    assert not (tmp_path / "runs").exists()
    assert open_run(good, "SRforNature", "1", tmp_path / "runs").dir.is_dir()


def test_a_run_dir_that_never_trained_takes_the_corrected_config(tmp_path):
    """Item 5: a run dir whose start failed later (say in prep) holds no training yet: the corrected config
    replaces its config.toml; one that has trained still refuses a different config."""
    good = synth_config(tmp_path)
    first = open_run(with_overrides(good, {"data.stride": {"nature": 30, "manga": 30, "text": 30}}),
                     "SRforNature", "1", tmp_path / "runs")
    run = open_run(good, "SRforNature", "1", tmp_path / "runs")
    assert run.dir == first.dir and "nature = 10" in (run.dir / "config.toml").read_text()
    (run.dir / "metrics.csv").write_text("step\n")  # training started
    with pytest.raises(Exception, match="different config"):
        open_run(with_overrides(good, {"mch.steps": 3}), "SRforNature", "1", tmp_path / "runs")


# ---------------------------------------------------------------- item 1: categories from folder names

def page(path: Path, seed: int, size=(96, 104), gray=False, quality: int | None = None) -> Path:
    """A smooth random page (gray or colour), PNG or a JPEG at ``quality``."""
    rng = np.random.default_rng(seed)
    h, w = size
    base = rng.random((h // 8 + 1, w // 8 + 1, 1 if gray else 3))
    img = (np.kron(base, np.ones((8, 8, 1)))[:h, :w] * 200 + rng.random((h, w, 1 if gray else 3)) * 40)
    im = Image.fromarray(img.astype(np.uint8)[..., 0] if gray else img.astype(np.uint8))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **({"quality": quality} if quality else {}))
    return path


def make_archive(root: Path, pages: dict[str, int], nested: bool = True) -> Path:
    """``pages[name]`` pages per category, half of them one folder deeper (a volume's folder)."""
    for i, (cat, n) in enumerate(pages.items()):
        for j in range(n):
            sub = root / cat / ("vol 1" if nested and j % 2 else "") / f"{j:03d}.png"
            page(sub, 100 * i + j)
    return root


def train_archive(args: list[str], cwd: Path, monkeypatch) -> object:
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("MCHMC_DATA_ROOT", raising=False)
    return CliRunner().invoke(app, ["train", "--config", "smoke", "--no-prefect", "--runs", "runs",
                                    "--cache", "cache", *args], terminal_width=200)


def test_three_categories_with_non_ascii_names_train_and_the_model_carries_them(tmp_path, monkeypatch):
    """Item 1: each sub-folder is a category, its name whatever the script, its pages at any depth; the header
    lists the categories with their page and pixel counts before any work; the model carries the names."""
    names = {"Zeitungsausschnitte ä": 5, "地図": 6, "фото": 5}
    make_archive(tmp_path / "my archive", names)
    res = train_archive(["--data", "my archive"], tmp_path, monkeypatch)
    assert res.exit_code == 0, res.output
    head = res.output.split("SRforMC, test fold")[0]
    for name, n in names.items():
        assert f"{name}: {n} pages, {n * 96 * 104 / 1e6:.1f} MP" in head
    assert "no JPEG pages -> clean LR" in head
    model = load_model(tmp_path / "runs" / "SRforMC-fold1-smoke-my_archive" / "model.pt")
    assert model.config.categories == tuple(sorted(names))
    assert model.config.arch == "mch-mc"


def test_one_category_trains_the_plain_mch_baseline(tmp_path, monkeypatch):
    """Item 1: K = 1 is the MCH baseline (nothing for a head to tell apart)."""
    make_archive(tmp_path / "a", {"scans": 5})
    res = train_archive(["--data", "a"], tmp_path, monkeypatch)
    assert res.exit_code == 0, res.output
    model = load_model(tmp_path / "runs" / "SRforAll-fold1-smoke-a" / "model.pt")
    assert model.config.arch == "mch" and not model.config.categories


def test_a_category_too_small_for_folds_is_refused_in_one_line_before_any_work(tmp_path, monkeypatch):
    make_archive(tmp_path / "a", {"maps": 5, "photos": 3})
    res = train_archive(["--data", "a"], tmp_path, monkeypatch)
    assert res.exit_code == 2
    err = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert err == [f"error: {tmp_path / 'a' / 'photos'}: 3 pages; a category needs at least 5 to make 5 folds "
                   "(one page per fold)"]
    assert not (tmp_path / "runs").exists()


def test_a_relative_data_from_another_directory_and_pages_at_any_depth(tmp_path, monkeypatch):
    """Item 1: ``--data`` is relative to the current directory; pages in sub-folders and CBZ volumes count."""
    arch = make_archive(tmp_path / "work" / "arch", {"covers": 5, "text": 3})
    vol = tmp_path / "vol.cbz"
    with zipfile.ZipFile(vol, "w") as z:
        for j in range(2):
            z.write(page(tmp_path / f"p{j}.png", 50 + j), f"pages/{j:03d}.png")
        z.writestr("ComicInfo.xml", "<x/>")
    (arch / "text" / "vol 2").mkdir()
    vol.rename(arch / "text" / "vol 2" / "vol.cbz")
    (arch / "text" / ".hidden.png").write_bytes(b"not a page")
    other = tmp_path / "elsewhere"
    other.mkdir()
    res = train_archive(["--data", "../work/arch", "--fold", "all"], other, monkeypatch)
    assert res.exit_code == 0, res.output
    assert "covers: 5 pages" in res.output and "text: 5 pages" in res.output
    view = next((other / "cache" / "archives").iterdir())
    assert sorted(p.name for p in (view / "text").iterdir()) == [
        "000.png", "002.png", "vol 1__001.png", "vol 2__vol.cbz__0000__000.png", "vol 2__vol.cbz__0001__001.png"]


def test_the_header_says_what_was_measured_jpeg_quality_and_gray(tmp_path):
    """Item 3: the degradation is the archive's own: JPEG qualities from the quantisation tables pick the noise
    level (as ``upscale --noise auto`` would), gray pages are counted apart."""
    from mchmc.train.archive import open_archive

    for j in range(6):
        page(tmp_path / "a" / "news" / f"{j}.jpg", j, gray=True, quality=60 + 2 * j)
        page(tmp_path / "a" / "photos" / f"{j}.png", 10 + j)
    archive = open_archive(tmp_path / "a", tmp_path / "cache")
    lines = archive.header_lines()
    assert "  news: 6 pages, 0.1 MP, 6 gray / 0 colour, 6 JPEG" in lines
    assert "  photos: 6 pages, 0.1 MP, 0 gray / 6 colour, 0 JPEG" in lines
    assert lines[-1] == ("  degradation: JPEG quality (from the quantisation tables) median 65, min 60, max 70 over "
                         "6 pages -> JPEG noise level 2 on the LR side")
    assert archive.noise_level == 2


# ---------------------------------------------------------------- item 4: fine-tune from a shipped model

def test_transfer_keeps_the_upscaler_and_the_texture_layer_and_starts_a_new_head():
    from mchmc.model import build_model
    from mchmc.train.transfer import transfer

    start = load_model("srformc").model
    model = build_model("mch-mc", categories=("maps", "photos"))
    assert transfer(start, model) == ["conv1", "conv2", "conv3", "head.0"]
    for name in ("conv1", "conv2", "conv3"):
        assert torch.equal(getattr(model, name).weight, getattr(start, name).weight)
    assert torch.equal(model.head[0].weight, start.head[0].weight) and model.head[2].weight.shape == (2, 256)
    plain = build_model("mch")
    assert transfer(start, plain) == ["conv1", "conv2", "conv3"]
    quality, other = build_model("mch-mc-quality"), build_model("mch-mc-quality", categories=("maps", "photos"))
    assert transfer(quality, other) == ["conv1", "conv2", "conv3", "tail.0", "tail.1", "tail.2", "head.0"]
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(quality.tail, other.tail)), "the tail is upscaler too"
    with pytest.raises(ValueError):  # a tail-less start does not fit a tailed model: that is widen's job
        transfer(start, other)


def test_init_from_a_shipped_model_on_an_archive_with_other_categories(tmp_path, monkeypatch):
    """Item 4: ``--init srformc`` on a K = 2 archive: the run starts from srformc's upscaler, with a new head over
    the archive's two categories; the provenance names where it started."""
    make_archive(tmp_path / "a", {"maps": 5, "photos": 5})
    res = train_archive(["--data", "a", "--init", "srformc"], tmp_path, monkeypatch)
    assert res.exit_code == 0, res.output
    assert "start srformc" in res.output
    model = load_model(tmp_path / "runs" / "SRforMC-fold1-smoke-a" / "model.pt")
    assert model.config.categories == ("maps", "photos") and model.provenance["init_from"] == "srformc"


# ---------------------------------------------------------------- item 2: the model carries its categories

FIVE = ("Zeitungen", "地図", "фото", "covers", "screentone")


def test_the_model_file_carries_its_names_and_k_and_shipped_models_load_unchanged(tmp_path):
    from mchmc.model import build_model
    from mchmc.modelfile import save_model

    path = save_model(build_model("mch-mc", categories=FIVE), tmp_path / "five.pt")
    loaded = load_model(path)  # weights_only=True inside
    assert loaded.config.categories == FIVE and loaded.model.head[2].out_features == 5
    assert load_model("srformc").config.categories == ("nature", "manga", "text")


def test_reports_csv_and_summaries_use_the_model_s_names(tmp_path):
    """Item 2: the JSONL keys ``probs`` by the model's names; the CSV's ``p_<name>`` columns, the summary's
    and the HTML page's categories follow them (the shipped three only for records without any)."""
    import csv

    from mchmc.batch.records import PageRecord, summarise
    from mchmc.batch.report.htmldata import payload
    from mchmc.batch.report.reportfile import ReportWriter

    recs = [PageRecord(input=str(tmp_path / f"{i}.png"), output="", status="ok", category=FIVE[i % 5],
                       probs={c: (0.6 if c == FIVE[i % 5] else 0.1) for c in FIVE}) for i in range(7)]
    with ReportWriter(tmp_path / "r.jsonl") as w:
        for r in recs:
            w.write(r)
    with open(tmp_path / "r.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [c for c in rows[0] if c.startswith("p_")] == [f"p_{c}" for c in FIVE]
    assert rows[1]["p_地図"] == "0.600000" and rows[1]["category"] == "地図"
    assert summarise(recs).by_category == {"Zeitungen": 2, "地図": 2, "фото": 1, "covers": 1, "screentone": 1}
    assert payload(recs, tmp_path, None)["categories"] == list(FIVE)
    assert summarise([PageRecord(input="a", output="", status="ok")]).by_category == {
        "nature": 0, "manga": 0, "text": 0, "uncategorised": 1}


def mchmc(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mchmc.cli.app", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env={**os.environ, "MCHMC_DATA_ROOT": ""})


@pytest.mark.slow
@pytest.mark.parametrize("names", [("maps", "photos"), FIVE], ids=["K2", "K5"])
def test_a_trained_archive_model_names_its_categories_in_upscale_classify_and_explain(names, tmp_path, monkeypatch):
    """Acceptance: K = 2 and K = 5 models trained (smoke size) from an archive, then used by ``upscale``,
    ``classify`` and ``explain``: every report (JSONL probs, CSV columns, the HTML page's data, the summary
    line, the explanation) speaks the model's names."""
    make_archive(tmp_path / "a", dict.fromkeys(names, 5), nested=False)
    assert train_archive(["--data", "a", "--fold", "all"], tmp_path, monkeypatch).exit_code == 0
    model = tmp_path / "runs" / "SRforMC-foldall-smoke-a" / "model.pt"
    assert load_model(model).config.categories == tuple(sorted(names))  # the folders, in sorted order
    names = tuple(sorted(names))
    src = tmp_path / "src"
    for i in range(2):
        page(src / f"p{i}.png", 900 + i, size=(64, 80))
    up = mchmc("upscale", src, "--out", tmp_path / "dst", "--model", model, "--cpus", "1", cwd=tmp_path)
    assert up.returncode == 0, up.stdout + up.stderr
    cls = mchmc("classify", src, "--report", tmp_path / "cls.jsonl", "--model", model, "--cpus", "1", cwd=tmp_path)
    assert cls.returncode == 0, cls.stdout + cls.stderr
    for jsonl in (tmp_path / "dst" / "mchmc-upscale-report.jsonl", tmp_path / "cls.jsonl"):
        recs = list(read_jsonl(jsonl))
        assert len(recs) == 2 and all(tuple(r.probs) == names and r.category in names for r in recs)
        header = jsonl.with_suffix(".csv").read_text(encoding="utf-8").splitlines()[0].split(",")
        assert [c for c in header if c.startswith("p_")] == [f"p_{c}" for c in names]
        html = next(jsonl.parent.glob("*.html")).read_text(encoding="utf-8")
        assert all(json.dumps(c) in html or c in html for c in names)
    assert any(c in cls.stdout + cls.stderr for c in names) and "nature" not in cls.stdout + cls.stderr
    res = CliRunner().invoke(app, ["explain", str(src / "p0.png"), "--out", str(tmp_path / "heat.png"),
                                   "--model", str(model)], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert all(c in res.output for c in names) and "nature" not in res.output


def test_schedule_checks_the_archive_when_scheduled_not_at_3_am(tmp_path, monkeypatch):
    """Item 6: ``mchmc schedule retrain --data`` refuses a bad archive in one line before anything is served."""
    make_archive(tmp_path / "a", {"maps": 5, "photos": 2})
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["schedule", "retrain", "--config", "smoke", "--interval", "60", "--data", "a",
                                   "--cache", "cache"], terminal_width=200)
    assert res.exit_code == 2 and res.output.strip().count("\n") == 0
    assert f"{tmp_path / 'a' / 'photos'}: 2 pages" in res.output
