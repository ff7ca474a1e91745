"""Issue 29: teach it your archive. A user's own folders, from any working directory; a failed start
leaves nothing behind that blocks the corrected command (synthetic images; no ../shared needed)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mchmc.cli.app import app
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
