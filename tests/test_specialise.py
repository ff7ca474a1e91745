"""``train.specialise``: a run that trains on some categories' patches only, a specialist upscaler for pages
the category head has named (issue 27: whether the category choosing the reconstruction closes the quality
tier's last gaps). Its folds and validation images are the run's own, every category's, so what a
specialist costs the other categories is measured too. Unset it changes nothing. Synthetic images; no
../shared needed."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mchmc.train.config import load_config, with_overrides
from mchmc.train.config_schema import ConfigError
from mchmc.train.config_toml import dump_config, run_identity
from mchmc.train.run import open_run, train_method

sys.path.insert(0, str(Path(__file__).parent))
from test_data import synth_config


def test_unset_it_is_absent_from_config_toml_and_identity_and_a_list_round_trips():
    cfg = load_config("smoke")
    assert cfg.train.specialise == ()
    assert "specialise" not in dump_config(cfg) and "specialise" not in run_identity(cfg)["train"]
    on = with_overrides(cfg, {"train.specialise": ["manga"]})
    assert on.train.specialise == ("manga",)
    assert 'specialise = ["manga"]' in dump_config(on) and run_identity(on) != run_identity(cfg)
    assert load_config("smoke", {"train.specialise": ["manga"]}) == on


@pytest.mark.parametrize(("value", "why"), [
    ("manga", "train.specialise: expected a list"),
    ([1], r"train.specialise\[0\]: expected a string"),
    (["manga", "manga"], "train.specialise: names a category twice"),
])
def test_it_is_a_list_of_distinct_category_names(value, why):
    with pytest.raises(ConfigError, match=why):
        load_config("smoke", {"train.specialise": value})


def test_a_category_the_run_does_not_have_is_refused_before_the_run_dir_is_written(tmp_path):
    cfg = synth_config(tmp_path, **{"train.specialise": ["photos"]})
    with pytest.raises(ConfigError, match=r"train.specialise: categories \['photos'\] are not this run's"):
        open_run(cfg, "SRforMC", "1", tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_specialist_trains_on_its_categorys_patches_and_validates_on_every_category(tmp_path):
    """A real (tiny) run beside the same run on every category: the same folds and validation images, the
    specialist's stage summary counts its own category's patches and images only, and the metrics it logs
    still score every category."""
    common = {"phase1.steps": 2, "phase2.steps": 3, "mch.steps": 3, "train.log_every": 3}
    every_cfg = synth_config(tmp_path / "a", **common)
    only_cfg = synth_config(tmp_path / "b", **common, **{"train.specialise": ["nature"], "phase2.r_sce": 0.0})
    train_method(every_cfg, "SRforMC", "1", tmp_path / "a" / "runs")
    train_method(only_cfg, "SRforMC", "1", tmp_path / "b" / "runs")
    every = open_run(every_cfg, "SRforMC", "1", tmp_path / "a" / "runs")
    only = open_run(only_cfg, "SRforMC", "1", tmp_path / "b" / "runs")
    assert [(r.category, r.name) for r in only.split.val] == [(r.category, r.name) for r in every.split.val]
    assert only.split.folds == every.split.folds
    a = json.loads(every.done_path("phase2").read_text())
    b = json.loads(only.done_path("phase2").read_text())
    assert set(a["train_patches"]) == {"nature", "manga", "text"}
    assert b["train_patches"] == {"nature": a["train_patches"]["nature"]}
    assert 0 < b["train_images"] < a["train_images"]
    header = only.metrics_path.read_text().splitlines()[0]
    assert all(f"psnr_{c}" in header.split(",") for c in ("nature", "manga", "text"))
