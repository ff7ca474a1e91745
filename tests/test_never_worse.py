"""Issue 29, "at least as good as the shipped model on every category": ``train.balance_mse`` (each category
weighs the same in the MSE term) and ``train.never_worse`` (a fine-tune whose Phase 1 trains the head alone on
the start's frozen features, and whose final model keeps the fine-tuned upscaler only if it is no worse than
the start's on any category of the validation pages). Synthetic images; no ../shared needed."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from mchmc.modelfile import load_model, save_model
from mchmc.train.config import load_config, with_overrides
from mchmc.train.config_schema import ConfigError
from mchmc.train.config_toml import dump_config, run_identity
from mchmc.train.run import open_run, train_method

sys.path.insert(0, str(Path(__file__).parent))
from test_data import synth_config

UPSCALER = ("conv1", "conv2", "conv3")


def same_upscaler(a, b) -> bool:
    return all(torch.equal(getattr(a, n).weight, getattr(b, n).weight) and
               torch.equal(getattr(a, n).bias, getattr(b, n).bias) for n in UPSCALER)


# ---------------------------------------------------------------- the keys: off by default, invisible there

def test_the_new_keys_are_off_and_absent_from_config_toml_unless_set():
    """A config that does not set them writes the config.toml (and has the identity) it had before they
    existed; set, they are written and read back."""
    cfg = load_config("smoke")
    assert not cfg.train.balance_mse and not cfg.train.never_worse
    text = dump_config(cfg)
    assert "balance_mse" not in text and "never_worse" not in text
    assert "balance_mse" not in run_identity(cfg)["train"]
    on = with_overrides(cfg, {"train.balance_mse": True, "train.never_worse": True, "train.init_from": "srformc"})
    assert "balance_mse = true" in dump_config(on) and "never_worse = true" in dump_config(on)
    assert run_identity(on) != run_identity(cfg)


def test_never_worse_needs_a_start_and_validation_pages_out_of_the_training_folds():
    with pytest.raises(ConfigError, match="train.never_worse: needs train.init_from"):
        load_config("smoke", {"train.never_worse": True})
    gated = {"train.never_worse": True, "train.init_from": "srformc"}
    for other in ({"train.validation": "test"}, {"train.val_images": 0}):  # it would choose on the test fold, or blind
        with pytest.raises(ConfigError, match="train.never_worse: decides on validation pages carved out"):
            load_config("smoke", {**gated, **other})


# balance_mse (each category weighs 1 / K) is tested with train.mse_weight in tests/test_mse_weight.py


# ---------------------------------------------------------------- never_worse: the gate picks each side

def start_file(tmp_path: Path, bias: float = 0.0) -> Path:
    """srformc as a model file, its output shifted by ``bias`` (0: as shipped)."""
    start = load_model("srformc")
    with torch.no_grad():
        start.model.conv3.bias += bias
    return save_model(start.model, tmp_path / f"start{bias}.pt", dict(start.provenance))


def gated_run(tmp_path: Path, start: Path, phase2: dict):
    over = {"train.init_from": str(start), "train.never_worse": True, "phase1.dropout": 0.0, **phase2}
    cfg = synth_config(tmp_path, **over)
    res = train_method(cfg, "SRforMC", "1", tmp_path / "runs")
    return open_run(cfg, "SRforMC", "1", tmp_path / "runs"), res


def test_phase1_trains_the_head_alone_and_a_worse_phase2_is_not_kept(tmp_path):
    """Phase 2 at a rate that wrecks the upscaler: worse on every category of the validation pages, so the run's
    model is Phase 1's: the start's upscaler, bit for bit, with the head Phase 1 trained on its features."""
    start = start_file(tmp_path)
    run, res = gated_run(tmp_path, start, {"phase2.lr": 0.05, "phase2.lr_conv3": 0.05})
    phase1 = load_model(run.phase_model_path("phase1"))
    assert same_upscaler(phase1.model, load_model(start).model)  # Phase 1 moved the head only
    assert phase1.provenance["head_only"] is True
    final = load_model(run.model_path)
    assert same_upscaler(final.model, load_model(start).model)
    assert torch.equal(final.model.head[2].weight, phase1.model.head[2].weight)
    gate = res["stages"]["phase2"]["gate"]
    assert gate["kept"] == "start" and gate["anchor"] == "phase1" and set(gate["worse"]) == set(run.categories)
    assert final.provenance["gate"]["kept"] == "start"
    assert final.provenance["validation"] == gate["start"]  # the figures of the model it holds


def test_a_phase2_better_on_every_category_is_kept(tmp_path):
    """A start whose output is off by +0.2 (every category far below what it can be), Phase 2 free to correct
    conv3: at least as good everywhere, so the run's model is Phase 2's."""
    start = start_file(tmp_path, bias=0.2)
    run, res = gated_run(tmp_path, start, {"phase2.lr": 1e-4, "phase2.lr_conv3": 1e-2, "phase2.steps": 30})
    gate = res["stages"]["phase2"]["gate"]
    assert gate["kept"] == "trained" and gate["worse"] == [] and all(g > 0 for g in gate["gain"].values())
    final = load_model(run.model_path)
    assert not same_upscaler(final.model, load_model(start).model)
    assert final.provenance["gate"]["kept"] == "trained"
    done = json.loads(run.done_path("phase2").read_text())
    assert done["gate"]["kept"] == "trained"


def test_the_gate_scores_the_validation_pages_only_whole(tmp_path):
    """What chooses is the validation pages (carved out of the training folds), whole; never the test fold."""
    from mchmc.train.gate import gate_validator

    cfg = synth_config(tmp_path, **{"train.init_from": "srformc", "train.never_worse": True, "train.val_images": 1})
    run = open_run(cfg, "SRforMC", "1", tmp_path / "runs")
    scored = {(v.category, v.name): v.hr.shape for v in gate_validator(run, 2).images}
    assert set(scored) == {(r.category, r.name) for r in run.split.val}
    assert not set(scored) & {(r.category, r.name) for r in run.split.test}
    assert all(shape == (96, 104) for shape in scored.values())  # whole pages, not val_crop's 96 x 96


def test_a_one_phase_plain_mch_run_falls_back_to_the_start_itself(tmp_path):
    """K = 1 (SRforAll, one phase): the anchor is the start's upscaler."""
    start = start_file(tmp_path)
    cfg = synth_config(tmp_path, **{"train.init_from": str(start), "train.never_worse": True, "mch.lr": 0.05,
                                    "mch.lr_conv3": 0.05})
    res = train_method(cfg, "SRforAll", "1", tmp_path / "runs")
    assert res["stages"]["mch"]["gate"]["kept"] == "start"
    assert same_upscaler(load_model(res["model"]).model, load_model(start).model)


def test_mchmc_train_says_what_the_gate_kept(tmp_path, monkeypatch):
    """``mchmc train --data ... --init``: the start line says the run is gated, the end says what was kept."""
    from mchmc.cli.app import app
    from test_own_archive import make_archive
    from typer.testing import CliRunner

    make_archive(tmp_path / "a", {"maps": 5, "photos": 5})
    (tmp_path / "gated.toml").write_text('base = "smoke"\n[train]\nnever_worse = true\n[phase1]\ndropout = 0.0\n'
                                         '[phase2]\nlr = 0.05\nlr_conv3 = 0.05\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MCHMC_DATA_ROOT", raising=False)
    res = CliRunner().invoke(app, ["train", "--config", "gated.toml", "--no-prefect", "--runs", "runs", "--cache",
                                   "cache", "--data", "a", "--init", "srformc"], terminal_width=400)
    assert res.exit_code == 0, res.output
    assert "never worse than the start: Phase 1 trains the head alone" in res.output
    assert "never-worse gate: kept the start's upscaler with the new head (phase1's model)" in res.output
    model = load_model(tmp_path / "runs" / "SRforMC-fold1-gated-a" / "model.pt")
    assert same_upscaler(model.model, load_model("srformc").model)
