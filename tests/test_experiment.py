"""The experiment end to end: a tiny config (synthetic images, tens of steps) over 2 folds x 2
methods through the real Prefect flow (ephemeral API) produces the report; a re-run does only
what is missing; a cell trained earlier by hand is reused; the CLI commands around it."""
from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from mchmc.cli.app import app
from mchmc.train.config import load_config
from mchmc.train.config_toml import dump_config
from mchmc.experiment.cells import Cell, ExperimentError, cell_status, plan_cells

sys.path.insert(0, str(Path(__file__).parent))
from evidence import evidence_model, half_page  # noqa: E402
from test_data import synth_dataset  # noqa: E402

CATS = ("nature", "manga", "text")


def tiny_config(tmp_path: Path) -> Path:
    """The smoke config on synthetic images, written as a TOML file (usable by the flow and the CLI)."""
    root = synth_dataset(tmp_path / "imgs")
    ov = {"name": "tiny", "data.root": str(root), "data.cache_dir": str(tmp_path / "cache"), "data.limit": 0,
          "data.folders": {c: c for c in CATS}, "data.stride": {"nature": 10, "manga": 20, "text": 10},
          "phase1.steps": 20, "phase2.steps": 20, "mch.steps": 20, "train.log_every": 10,
          "train.checkpoint_every": 10, "train.batch": 16, "train.val_crop": 64}
    path = tmp_path / "tiny.toml"
    path.write_text(dump_config(load_config("smoke", ov)))
    return path


def mtimes(runs: Path, name: str) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in sorted(runs.glob(f"*/{name}"))}


def test_plan_orders_cells_fold_major_and_refuses_bad_selections():
    cfg = load_config("smoke")
    cells = plan_cells(cfg, [2, 1], ["SRforMC", "SRforAll"])
    assert cells == [Cell("Bicubic", 2), Cell("SRforAll", 2), Cell("SRforMC", 2),
                     Cell("Bicubic", 1), Cell("SRforAll", 1), Cell("SRforMC", 1)]
    assert len(plan_cells(cfg)) == 5 * 6
    with pytest.raises(ExperimentError, match=r"fold\(s\) \[9\] outside 1..5"):
        plan_cells(cfg, [9])
    with pytest.raises(ExperimentError, match="unknown method"):
        plan_cells(cfg, None, ["SRforCats"])


def test_cli_usage_errors_exit_2_with_one_line(tmp_path):
    r = CliRunner().invoke(app, ["experiment", "--config", "smoke", "--folds", "7", "--plan"])
    assert r.exit_code == 2 and "outside 1..5" in r.output
    r = CliRunner().invoke(app, ["experiment", "--config", "smoke", "--folds", "x", "--plan"])
    assert r.exit_code == 2 and "--folds" in r.output
    r = CliRunner().invoke(app, ["report", str(tmp_path / "nowhere"), "--no-prefect"])
    assert r.exit_code == 2 and f"{tmp_path / 'nowhere'}: no such runs folder" in r.output
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(app, ["report", str(tmp_path / "empty"), "--no-prefect"])
    assert r.exit_code == 2 and "no evaluated cells" in r.output
    bad = tmp_path / "runs" / "SRforMC-fold1-cpu" / "evaluation.json"
    bad.parent.mkdir(parents=True)
    (bad.parent / "config.toml").write_text(dump_config(load_config("cpu")))
    bad.write_text("{truncated")
    r = CliRunner().invoke(app, ["report", str(tmp_path / "runs"), "--no-prefect"])
    assert r.exit_code == 1 and f"error: {bad}: unreadable evaluation record" in r.output.replace("\n", "")


def test_explain_writes_the_overlay_and_prints_the_probabilities(tmp_path):
    from mchmc.colour import y_to_gray
    from mchmc.modelfile import save_model

    model = save_model(evidence_model(), tmp_path / "evidence.pt")
    page = tmp_path / "page.png"
    Image.fromarray(np.rint(np.clip(y_to_gray(half_page(96, 160)), 0, 1) * 255).astype(np.uint8)).save(page)
    out = tmp_path / "heat.png"
    r = CliRunner().invoke(app, ["explain", str(page), "--out", str(out), "--model", str(model)], terminal_width=160)
    assert r.exit_code == 0, r.output
    assert "text" in r.output and "nature" in r.output and "%" in r.output
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 600
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    r = CliRunner().invoke(app, ["explain", str(bad), "--out", str(out), "--model", str(model)])
    assert r.exit_code == 1 and f"error: {bad}:" in r.output and len(r.output.strip().splitlines()) == 1
    from mchmc.model import build_model
    mch = save_model(build_model("mch"), tmp_path / "mch.pt")
    r = CliRunner().invoke(app, ["explain", str(page), "--model", str(mch)])
    assert r.exit_code == 2 and "expected 'mch-mc'" in r.output, "a model without a head is a usage error"
    r = CliRunner().invoke(app, ["explain", str(tmp_path / "nope.png")])
    assert r.exit_code == 2 and "no such file" in r.output
    r = CliRunner().invoke(app, ["explain", str(page), "--model", "nosuchmodel"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
    window = tmp_path / "window.png"
    r = CliRunner().invoke(app, ["explain", str(page), "--out", str(window), "--model", str(model), "--method",
                                 "window"], terminal_width=160)
    assert r.exit_code == 0 and window.is_file(), r.output
    r = CliRunner().invoke(app, ["explain", str(page), "--method", "occlusion"])
    assert r.exit_code == 2 and "--method must be gradcam or window" in r.output


@pytest.mark.slow
def test_smoke_experiment_two_folds_two_methods_through_the_flow(tmp_path):
    pytest.importorskip("prefect")
    from prefect.artifacts import Artifact

    from mchmc.flows.experiment import experiment_flow
    from mchmc.train.run import train_method

    config = tiny_config(tmp_path)
    cfg = load_config(config)
    runs = tmp_path / "runs"
    # a cell trained earlier by hand (`mchmc train`) is reused, not retrained
    train_method(cfg, "SRforAll", 1, runs)
    by_hand = (runs / "SRforAll-fold1-tiny" / "model.pt").stat().st_mtime_ns

    result = experiment_flow(str(config), [1, 2], ["SRforAll", "SRforMC"], str(runs))
    assert result["cells"] == {f"{m} fold {f}": "done" for f in (1, 2) for m in ("Bicubic", "SRforAll", "SRforMC")}
    assert (runs / "SRforAll-fold1-tiny" / "model.pt").stat().st_mtime_ns == by_hand
    assert all(cell_status(cfg, c, runs).state == "done" for c in plan_cells(cfg, [1, 2], ["SRforAll", "SRforMC"]))
    doc = json.loads((runs / "SRforMC-fold2-tiny" / "evaluation.json").read_text())
    assert len(doc["scores"]) == 3 and all(s["predicted"] in CATS for s in doc["scores"])  # 1 test image per category

    rep = Path(result["report"]["path"])
    assert rep == runs / "report-tiny" / "report.md"
    text = rep.read_text()
    for heading in ("## Table 7", "### Table 7, cell by cell", "### SRforMC − SRforAll", "## Table 8", "## Table 9",
                    "## Table 10"):
        assert heading in text, heading
    assert "| SRforMC (paper) | 31.31 / 0.8883 | 36.46 / 0.9694 | 25.57 / 0.9565 | 31.29 / 0.9389 |" in text
    assert "Cells evaluated: **6 of 30**" in text and "SRforNature fold 1" in text  # what is still missing
    for fig in ("fig11", "fig12", "fig13"):
        with Image.open(runs / "report-tiny" / f"{fig}.png") as im:
            assert im.format == "PNG" and im.width >= 500, fig
        assert f"]({fig}.png)" in text
    assert len((runs / "report-tiny" / "scores.csv").read_text().splitlines()) == 1 + 6 * 3
    table7 = Artifact.get("experiment-tiny-table7")
    assert table7 is not None and "SRforMC (paper)" in str(table7.data)
    assert Artifact.get("experiment-tiny-report") is not None

    # a re-run does nothing: every cell is current
    evals, models = mtimes(runs, "evaluation.json"), mtimes(runs, "model.pt")
    again = experiment_flow(str(config), [1, 2], ["SRforAll", "SRforMC"], str(runs), report=False)
    assert set(again["cells"].values()) == {"cached"}
    assert mtimes(runs, "evaluation.json") == evals and mtimes(runs, "model.pt") == models

    # a lost evaluation record is redone alone (CLI, without Prefect); nothing is retrained
    (runs / "SRforMC-fold2-tiny" / "evaluation.json").unlink()
    cli = ["experiment", "--config", str(config), "--folds", "1-2", "--methods", "SRforAll,SRforMC", "--runs", str(runs)]
    r = CliRunner().invoke(app, cli + ["--plan"], terminal_width=160)
    assert r.exit_code == 0 and "trained" in r.output and "0 training steps to run" in r.output
    r = CliRunner().invoke(app, cli + ["--no-prefect", "--no-report"], terminal_width=160)
    assert r.exit_code == 0, r.output
    after = mtimes(runs, "evaluation.json")
    assert {k for k in after if after[k] != evals.get(k)} == {"SRforMC-fold2-tiny"}
    assert mtimes(runs, "model.pt") == models

    out = tmp_path / "published"
    r = CliRunner().invoke(app, ["report", str(runs), "--no-prefect", "--out", str(out)], terminal_width=200)
    assert r.exit_code == 0, r.output
    text = (out / "report.md").read_text()
    assert f"by `mchmc report {runs} --config tiny --out {out}`" in text and (out / "fig13.png").is_file()
    assert "6 cells" in r.output and "SRforMC" in r.output
    from mchmc.fsutil import file_mode
    for f in ("report.md", "fig11.png", "scores.csv"):  # created like any file (not mkstemp's private 0600)
        assert stat.S_IMODE((out / f).stat().st_mode) == file_mode(), f


def test_the_report_prints_the_standalone_table8_when_saved_beside_it(tmp_path):
    from mchmc.experiment.report import TABLE8_BENCH, _table8_bench

    assert _table8_bench(tmp_path) == []  # not measured: nothing printed
    secs = {"MCH": {"nature": 0.1, "manga": 0.4, "text": 0.2, "all": 0.25, "ms_per_lr_mp": 700.0},
            "MCH-MC": {"nature": 0.1, "manga": 0.42, "text": 0.2, "all": 0.26, "ms_per_lr_mp": 728.0}}
    (tmp_path / TABLE8_BENCH).write_text(json.dumps({"fold": 1, "images": 61, "repeat": 3, "threads": 2, "tile": 256,
                                                     "load_before": 0.1, "seconds": secs}))
    text = "\n".join(_table8_bench(tmp_path))
    assert "| MCH | 0.100 | 0.400 | 0.200 | 0.250 | 700 |" in text
    assert "| MCH-MC / MCH | 1.000 | 1.050 | 1.000 | 1.040 |  |" in text
    assert "best of 3" in text and "load average before the run 0.1" in text


def test_training_time_is_the_cells_steps_at_their_median_logged_rate():
    """A paused or resumed interval (a tiny rate) must not count: the median rate ignores it."""
    from mchmc.experiment.tables import training_time_rows

    def rows(rates, per_row=1000):
        return [{"total_step": str(per_row * (i + 1)), "steps_per_s": str(r)} for i, r in enumerate(rates)]

    curves = {"SRforAll": {1: rows([40, 40, 0.5, 40]), 2: rows([20, 20, 20, 20])},  # 4,000 steps each
              "SRforMC": {1: rows([50, 50, 50], per_row=2000)}, "SRforText": {}}
    got = {r["method"]: r for r in training_time_rows(curves)}
    assert set(got) == {"SRforAll", "SRforMC", "all"}  # a method with no evaluated cell is left out
    assert got["SRforAll"]["cells"] == "2" and got["SRforAll"]["median steps/s"] == "30.0"
    assert got["SRforAll"]["hours"] == f"{(4000 / 40 + 4000 / 20) / 3600:.1f}"
    assert got["SRforAll"]["hours per cell"] == f"{(4000 / 40 + 4000 / 20) / 2 / 3600:.2f}"
    assert got["SRforMC"]["hours per cell"] == f"{6000 / 50 / 3600:.2f}"
    assert got["all"]["cells"] == "3"
    assert training_time_rows({"SRforAll": {}}) == []


def test_gain_on_the_curves_is_taken_at_equal_back_propagations_and_at_each_end():
    from mchmc.experiment.tables import curve_gain_rows

    def rows(start, values):  # one row per 1,000 total steps from ``start``
        return [{"total_step": str(start + 1000 * i), "psnr_nature": str(v), "psnr_mean": str(v + 1)}
                for i, v in enumerate(values)]

    all_ = {1: rows(1000, [20, 21, 22]), 2: rows(1000, [20, 21, 23]), 3: rows(1000, [20, 20, 20])}
    mc = {1: rows(1000, [19, 22, 23, 25]), 2: rows(1000, [19, 21, 24, 24])}  # 1,000 steps more; fold 3 not trained
    got = {r["back-propagations"]: r for r in curve_gain_rows(all_, mc, steps=(2000, 3000, 9000))}
    assert set(got) == {"2,000", "3,000", "each at its end"}  # no fold logged 9,000: no row
    assert got["2,000"]["folds"] == "2" and got["2,000"]["nature"] == "+0.50 ± 0.71"  # (+1, 0)
    assert got["3,000"]["nature"] == "+1.00 ± 0.00" and got["3,000"]["mean"] == "+1.00 ± 0.00"
    assert got["each at its end"]["nature"] == "+2.00 ± 1.41"  # (25 - 22, 24 - 23)
    assert curve_gain_rows(all_, {}) == []


def test_every_method_is_compared_with_srforall_on_the_same_images():
    from mchmc.experiment.evaluate import ImageScore
    from mchmc.experiment.tables import versus_all_rows

    def score(method, fold, cat, name, psnr):
        return ImageScore(method=method, fold=fold, category=cat, name=name, psnr=psnr, ssim=0.9, psnr2=psnr,
                          ssim2=0.9, seconds=0.1, lr_pixels=100)

    scores = [score("SRforAll", 1, "nature", "a", 30.0), score("SRforAll", 1, "manga", "b", 34.0),
              score("SRforNature", 1, "nature", "a", 30.5), score("SRforNature", 1, "manga", "b", 33.0),
              score("SRforAll", 2, "nature", "c", 28.0), score("SRforAll", 2, "manga", "d", 36.0)]
    rows = {r["− SRforAll, PSNR [dB]"]: r for r in versus_all_rows(scores)}
    assert set(rows) == {"SRforNature", "SRforNature (paper)"}  # methods not trained here are left out
    assert rows["SRforNature"]["nature"] == "+0.50" and rows["SRforNature"]["manga"] == "-1.00"  # fold 1 only
    assert rows["SRforNature"]["average"] == "-0.25"
    assert rows["SRforNature (paper)"]["nature"] == "+0.09" and rows["SRforNature (paper)"]["manga"] == "-0.77"


def test_a_cell_is_claimed_by_one_process_at_a_time(tmp_path):
    """Two experiment processes on one runs folder: the second passes over a cell the
    first holds; a claim left by a dead process is taken over; a released claim is free."""
    import subprocess

    from mchmc.experiment.cells import CLAIMS, claim_cell

    with claim_cell(tmp_path, "SRforAll-fold1-cpu") as mine:
        assert mine
        holder = subprocess.run([sys.executable, "-c", (
            "import sys; from mchmc.experiment.cells import claim_cell\n"
            f"with claim_cell({str(tmp_path)!r}, 'SRforAll-fold1-cpu') as m: sys.exit(0 if m else 3)")])
        assert holder.returncode == 3  # another live process holds it
        with claim_cell(tmp_path, "SRforMC-fold1-cpu") as other:
            assert other  # other cells stay free
    holder = subprocess.run([sys.executable, "-c", (
        "import sys; from mchmc.experiment.cells import claim_cell\n"
        f"with claim_cell({str(tmp_path)!r}, 'SRforAll-fold1-cpu') as m: sys.exit(0 if m else 3)")])
    assert holder.returncode == 0  # released: free for the next process

    killed = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from mchmc.experiment.cells import claim_cell\n"
        f"with claim_cell({str(tmp_path)!r}, 'SRforText-fold2-cpu') as m:\n"
        "    print(m, flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    assert killed.stdout.readline().strip() == "True"
    with claim_cell(tmp_path, "SRforText-fold2-cpu") as mine:
        assert not mine  # held by a live process
    killed.kill()
    killed.wait()
    with claim_cell(tmp_path, "SRforText-fold2-cpu") as mine:
        assert mine  # a killed holder's claim is gone with it
    assert (tmp_path / CLAIMS / "SRforText-fold2-cpu").exists()


def test_explain_a_page_with_a_cjk_name_draws_no_boxes(tmp_path, caplog):
    """The title is the file name: no "Glyph ... missing from font" (a box) whatever the fonts
    installed; the full name is in the printed table."""
    import warnings

    from mchmc.colour import y_to_gray
    from mchmc.modelfile import save_model

    model = save_model(evidence_model(), tmp_path / "evidence.pt")
    page = tmp_path / "第1話_p003.png"
    Image.fromarray(np.rint(np.clip(y_to_gray(half_page(48, 96)), 0, 1) * 255).astype(np.uint8)).save(page)
    out = tmp_path / "heat.png"
    with warnings.catch_warnings(record=True) as caught, caplog.at_level("WARNING"):
        warnings.simplefilter("always")
        r = CliRunner().invoke(app, ["explain", str(page), "--out", str(out), "--model", str(model)],
                               terminal_width=200)
    assert r.exit_code == 0, r.output
    said = [str(w.message) for w in caught] + [rec.getMessage() for rec in caplog.records]
    assert not [m for m in said if "missing from font" in m or "Glyph" in m], said
    assert "第1話_p003.png" in "".join(r.output.split())  # (the table title wraps a long path)
    with Image.open(out) as im:
        assert im.format == "PNG"
