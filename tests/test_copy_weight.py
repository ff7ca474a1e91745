"""train.copy_weight: how much a reduced copy of an image (data.copy_scales) weighs in the draw of patches.

"area" (the default, unset: every config and run keeps its text and identity) draws every patch alike, so a
copy at size s weighs s**2 of its full-size one. "image" repeats a reduced copy's patches 1 / s**2 times on
average, so every copy of an image weighs alike, as bench/scale_pilot.py drew them (issue 27, session 10).
Synthetic images; no ../shared needed."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from mchmc.train.config import load_config, with_overrides
from mchmc.train.config_schema import ConfigError
from mchmc.train.config_toml import dump_config, run_identity
from mchmc.train.patches import PatchStore, prepare
from mchmc.train.run import open_run, prep_stage, train_method, training_rows

sys.path.insert(0, str(Path(__file__).parent))
from test_data import synth_config

SCALED = {"data.noise_level": 1, "data.noise_copies": 4, "data.copy_scales": [1, 0.8]}


def _store(tmp_path) -> PatchStore:
    return PatchStore(prepare(synth_config(tmp_path, **SCALED).data, 2).path)


def test_unset_it_is_absent_from_config_toml_and_identity():
    cfg = load_config("smoke")
    assert cfg.train.copy_weight == "area"
    assert "copy_weight" not in dump_config(cfg) and "copy_weight" not in run_identity(cfg)["train"]
    on = with_overrides(cfg, {"train.copy_weight": "image"})
    assert 'copy_weight = "image"' in dump_config(on) and run_identity(on) != run_identity(cfg)


@pytest.mark.parametrize("value", ["pixels", "", "IMAGE"])
def test_an_unknown_weighting_is_refused_in_one_line(value):
    with pytest.raises(ConfigError, match="train.copy_weight: must be one of area, image"):
        load_config("smoke", {"train.copy_weight": value})


def test_each_copy_of_an_image_weighs_as_much_as_its_full_size_one(tmp_path):
    st = _store(tmp_path)
    keys = list(st.ids)
    rows = st.rows_for(keys)
    weighted = st.image_weighted(rows, seed=0)
    for key in keys:
        full, small = st.copies[key][0], st.copies[key][1]
        n_full, n_small = ((st.index[rows, 0] == i).sum() for i in (full, small))
        w_full, w_small = ((st.index[weighted, 0] == i).sum() for i in (full, small))
        assert n_small < n_full, "a reduced copy has fewer patches"
        assert w_full == n_full, "a full-size copy's patches are each drawn once"
        assert n_small / 0.64 - 4 * np.sqrt(n_small) <= w_small <= n_small / 0.64 + 4 * np.sqrt(n_small)
    assert set(weighted.tolist()) == set(rows.tolist()), "nothing added that was not the image's, nothing lost"
    assert np.all(np.bincount(weighted)[rows] >= 1)


def test_the_weighted_rows_are_a_function_of_the_seed(tmp_path):
    """A resumed run recomputes its rows: they must come out the same."""
    st = _store(tmp_path)
    rows = st.rows_for(list(st.ids))
    a, b = st.image_weighted(rows, seed=3), st.image_weighted(rows, seed=3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, st.image_weighted(rows, seed=4))


def test_a_store_of_full_size_copies_is_left_as_it_is(tmp_path):
    st = PatchStore(prepare(synth_config(tmp_path, **{"data.noise_level": 1, "data.noise_copies": 2}).data,
                            2).path)
    rows = st.rows_for(list(st.ids))
    assert np.array_equal(st.image_weighted(rows, seed=0), rows)


def test_a_run_draws_the_weighted_rows_and_its_summary_counts_them(tmp_path):
    """A real (tiny) run: training_rows is the weighted list only under "image", and the stage summary counts
    the patches it drew from."""
    common = {**SCALED, "phase1.steps": 2, "phase2.steps": 2, "mch.steps": 2, "train.log_every": 2}
    area_cfg = synth_config(tmp_path / "a", **common)
    image_cfg = synth_config(tmp_path / "b", **common, **{"train.copy_weight": "image"})
    area, image = (open_run(c, "SRforMC", "1", tmp_path / d / "runs") for c, d in ((area_cfg, "a"), (image_cfg, "b")))
    for run in (area, image):
        prep_stage(run)
    plain = training_rows(area, PatchStore(area.store_path))
    store = PatchStore(image.store_path)
    assert np.array_equal(training_rows(image, store), store.image_weighted(plain, image_cfg.train.seed))
    train_method(image_cfg, "SRforMC", "1", tmp_path / "b" / "runs")
    summary = json.loads(image.done_path("phase2").read_text())
    assert sum(summary["train_patches"].values()) == len(training_rows(image, store)) > len(plain)
