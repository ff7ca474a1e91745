"""A wider MCH-MC for the noise levels (issue 14): ``train.arch`` picks a registered variant of the method's
architecture, ``train.init_from`` a narrower model of the same design, widened so that it starts out computing
what the narrow one computes (Net2WiderNet, :mod:`mchmc.train.widen`); old configs keep their identity."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from mchmc.model import ARCHITECTURES, build_model
from mchmc.modelfile import load_model, save_model
from mchmc.train.config_schema import ConfigError
from mchmc.train.config import load_config, with_overrides
from mchmc.train.config_toml import run_identity
from mchmc.train.retrain import source_key
from mchmc.train.run import train_method
from mchmc.train.widen import deepen, widen

sys.path.insert(0, str(Path(__file__).parent))
from test_train import small_cfg  # noqa: E402


def _narrow() -> torch.nn.Module:
    torch.manual_seed(1)
    model = build_model("mch-mc")
    model.reset_parameters(0.05)
    return model.eval()


@pytest.mark.parametrize("channels", [(64, 32), (96, 48), (100, 33)])
def test_a_widened_model_computes_what_the_narrow_one_did(channels):
    narrow = _narrow()
    wide = widen(narrow, build_model("mch-mc", channels=channels).eval(), seed=3)
    x = torch.rand(2, 1, 37, 41)
    with torch.no_grad():
        (sr_a, logits_a), (sr_b, logits_b) = narrow(x), wide(x)
    assert sr_b.shape == sr_a.shape
    torch.testing.assert_close(sr_b, sr_a, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(logits_b, logits_a, atol=1e-5, rtol=1e-5)


def test_the_symmetry_breaking_noise_moves_the_output_only_a_little():
    narrow = _narrow()
    wide = widen(narrow, build_model("mch-mc-wide").eval(), seed=0, noise=1e-3)
    x = torch.rand(1, 1, 30, 30)
    with torch.no_grad():
        diff = (wide(x)[0] - narrow(x)[0]).abs().max().item()
    assert 0 < diff < 1e-2


def test_only_the_same_design_widened():
    with pytest.raises(ValueError, match="cannot widen"):
        widen(build_model("mch-mc-wide"), build_model("mch-mc"))
    with pytest.raises(ValueError, match="differ in more than their widths"):
        widen(build_model("mch"), build_model("mch-mc-wide"))


def test_train_arch_is_checked_in_one_line():
    cfg = load_config("smoke")
    assert cfg.arch("SRforMC") == "mch-mc" and cfg.arch("SRforAll") == "mch"
    assert with_overrides(cfg, {"train.arch": "mch-mc-wide"}).arch("SRforMC") == "mch-mc-wide"
    with pytest.raises(ConfigError, match="train.arch: must be") as info:
        with_overrides(cfg, {"train.arch": "huge"})
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="not a variant of SRforAll's 'mch'"):
        with_overrides(cfg, {"train.arch": "mch-mc-wide"}).arch("SRforAll")


def test_configs_without_the_key_keep_their_identity_and_retraining_keys():
    cfg = load_config("best")
    assert "arch" not in run_identity(cfg)["train"]
    wide = with_overrides(cfg, {"train.arch": "mch-mc-wide"})
    assert run_identity(wide)["train"]["arch"] == "mch-mc-wide"
    assert source_key(cfg, "SRforMC", "1", "d") != source_key(wide, "SRforMC", "1", "d")


@pytest.mark.parametrize("arch", ["mch-mc-wide", "mch-mc-quality"])
def test_a_wide_run_starts_from_the_narrow_model_and_ships_the_wide_one(tmp_path, arch):
    start = save_model(_narrow(), tmp_path / "narrow.pt")
    cfg = small_cfg(tmp_path, **{"train.arch": arch, "train.init_from": str(start), "phase1.steps": 0,
                                 "train.precision": "fp32"})
    out = train_method(cfg, "SRforMC", "1", tmp_path / "runs")
    trained = load_model(out["model"])
    assert trained.model.config == ARCHITECTURES[arch]
    assert trained.provenance["init_from"] == str(start)


def test_identity_tail_layers_leave_what_the_model_computes_exactly_as_it_was():
    """Net2DeeperNet: each inserted 3x3 layer starts as the identity on the ReLU map it reads; the deeper model
    computes, on a window one pixel wider per layer, exactly what the shallow one computes."""
    narrow = _narrow()
    deep = deepen(narrow, 2)
    assert deep.config.tail == (32, 32) and deep.config.halo == narrow.config.halo + 2
    x = torch.rand(2, 1, 37, 41)
    with torch.no_grad():
        assert torch.equal(deep(x)[0], narrow(x[..., 2:-2, 2:-2])[0])
        assert torch.equal(deep.features(x), narrow.features(x))  # F2 and the head untouched


@pytest.mark.parametrize("start", ["mch-mc", "mch-mc-wide"])
def test_the_quality_tier_starts_from_a_shipped_design_computing_what_it_did(start):
    """Issue 27: mch-mc-quality (96/48 and three 64-channel tail layers) grown from the paper's MCH-MC or from
    the wide noise models' design: the same SR on the same pixels (its halo is 3 px wider), the same logits."""
    torch.manual_seed(2)
    narrow = build_model(start)
    narrow.reset_parameters(0.05)
    narrow.eval()
    quality = widen(narrow, build_model("mch-mc-quality").eval(), seed=5)
    x = torch.rand(2, 1, 40, 47)
    with torch.no_grad():
        (sr_a, _), (sr_b, logits_b) = narrow(x[..., 3:-3, 3:-3]), quality(x)
    torch.testing.assert_close(sr_b, sr_a, atol=1e-6, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(logits_b, narrow(x)[1], atol=1e-5, rtol=1e-5)
    noisy = widen(narrow, build_model("mch-mc-quality").eval(), seed=5, noise=1e-3)
    with torch.no_grad():
        assert 0 < (noisy(x)[0] - sr_a).abs().max().item() < 1e-2


def test_a_tail_is_never_shortened():
    with pytest.raises(ValueError, match="cannot shorten a tail"):
        widen(build_model("mch-mc-quality"), build_model("mch-mc-wide"))
