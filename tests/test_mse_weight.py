"""``train.mse_weight`` and ``train.balance_mse``, a patch's weight in the MSE term by its category.
``mse_weight``: a factor per category on its patches' weight in the MSE term (issue 27: the quality
tier fits its nature images, training and validation alike, little better than the fast tier does, so a
fine-tune can give nature more of the network's attention). Off (empty) it changes nothing: configs
without it keep their config.toml, identity and loss. Synthetic images; no ../shared needed."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from mchmc.train.config import load_config, with_overrides
from mchmc.train.config_schema import ConfigError, PhaseConfig
from mchmc.train.config_toml import dump_config, run_identity
from mchmc.train.run import open_run, train_method
from mchmc.train.steps import loss_terms, mse_weights, patch_weights

sys.path.insert(0, str(Path(__file__).parent))
from test_data import synth_config


def test_unset_it_is_absent_from_config_toml_and_identity_and_set_it_round_trips():
    cfg = load_config("smoke")
    assert cfg.train.mse_weight == {}
    assert "mse_weight" not in dump_config(cfg) and "mse_weight" not in run_identity(cfg)["train"]
    on = with_overrides(cfg, {"train.mse_weight": {"nature": 2}})
    assert on.train.mse_weight == {"nature": 2.0}
    assert "mse_weight" in dump_config(on) and run_identity(on) != run_identity(cfg)
    assert load_config("smoke", {"train.mse_weight": {"nature": 2.0}}) == on


@pytest.mark.parametrize("bad", [-1.0, float("inf"), float("nan")])
def test_a_factor_must_be_finite_and_not_negative(bad):
    with pytest.raises(ConfigError, match="train.mse_weight: each factor must be a finite number >= 0"):
        load_config("smoke", {"train.mse_weight": {"nature": bad}})


def test_the_weights_are_balance_times_factor_and_none_when_both_are_off():
    counts = {"nature": 100, "manga": 700, "text": 200}
    assert patch_weights(counts, False, {}) is None  # the paper's plain mean, unchanged
    assert patch_weights(counts, False, {"nature": 2.5}) == {"nature": 2.5, "manga": 1.0, "text": 1.0}
    balanced = mse_weights(counts)
    both = patch_weights(counts, True, {"text": 0.5})
    assert both == pytest.approx({"nature": balanced["nature"], "manga": balanced["manga"],
                                  "text": balanced["text"] * 0.5})
    with pytest.raises(ConfigError, match=r"train.mse_weight: categories \['photos'\] are not this run's"):
        patch_weights(counts, False, {"photos": 2.0})


def test_balance_gives_each_category_the_same_total_weight():
    w = mse_weights({"manga": 700, "nature": 100, "text": 200, "empty": 0})
    for c, n in {"manga": 700, "nature": 100, "text": 200}.items():
        assert n * w[c] == pytest.approx(1000 / 3)  # 1000 patches in all: a third of the term each
    assert w["empty"] == 0.0


@pytest.mark.parametrize(("balance", "factors", "per_pixel"), [
    (False, {}, 3.0),  # the paper's plain mean: (3 * 1 + 9) / 4
    (True, {}, 5.0),  # balanced: the mean of the categories' means, (1 + 9) / 2
    (False, {"a": 3.0}, 4.5),  # category a weighed 3x: (3 * 3 + 9) / 4
])
def test_the_weights_set_each_categorys_share_of_the_mse_term(balance, factors, per_pixel):
    """Three patches of category a with error 1, one of category b with error 3 (squared: 1 and 9 per pixel)."""

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return x, None

    target = torch.zeros(4, 1, 2, 2)
    lr = torch.tensor([1.0, 1.0, 1.0, 3.0])[:, None, None, None].expand(4, 1, 2, 2).clone()
    cats = torch.tensor([0, 0, 0, 1])
    phase, ctx = PhaseConfig(1, 1e-4, 1e-5, 1.0, 0.0), torch.autocast("cpu", enabled=False)
    w = patch_weights({"a": 3, "b": 1}, balance, factors)
    mse_w = None if w is None else torch.tensor([w["a"], w["b"]])
    terms = loss_terms(Fixed(), lr, target, cats, torch.ones(2), phase, ctx, mse_w=mse_w)
    assert float(terms["loss"]) / 4 == pytest.approx(per_pixel)  # 4 output pixels a patch
    assert float(terms["mse"]) == pytest.approx(3.0)  # the logged per-pixel MSE stays unweighted


def test_a_run_trains_with_the_factors_and_records_them(tmp_path):
    """A real (tiny) run: the stage summary says which weights its MSE term used; a factor of 0 on every
    category but one trains a different model from the same start and data than the unweighted run."""
    common = {"phase1.steps": 2, "phase2.steps": 3, "mch.steps": 3, "train.log_every": 3}
    plain_cfg = synth_config(tmp_path / "a", **common)
    weighted_cfg = synth_config(tmp_path / "b", **common, **{"train.mse_weight": {"manga": 0.0, "text": 0.0}})
    train_method(plain_cfg, "SRforMC", "1", tmp_path / "a" / "runs")
    train_method(weighted_cfg, "SRforMC", "1", tmp_path / "b" / "runs")
    plain = open_run(plain_cfg, "SRforMC", "1", tmp_path / "a" / "runs")
    weighted = open_run(weighted_cfg, "SRforMC", "1", tmp_path / "b" / "runs")
    summary = json.loads(weighted.done_path("phase2").read_text())
    assert summary["mse_weights"] == {"nature": 1.0, "manga": 0.0, "text": 0.0}
    assert "mse_weights" not in json.loads(plain.done_path("phase2").read_text())
    a = torch.load(plain.model_path, weights_only=True)["state_dict"]["conv3.weight"]
    b = torch.load(weighted.model_path, weights_only=True)["state_dict"]["conv3.weight"]
    assert not torch.equal(a, b)
