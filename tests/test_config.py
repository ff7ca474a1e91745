"""Configs: the paper's values, strict loading, round trip."""
from __future__ import annotations

import tomllib

import pytest

from mchmc.train.config_schema import METHODS, ConfigError
from mchmc.train.config import CONFIG_DIR, config_from_dict, load_config, with_overrides
from mchmc.train.config_toml import dump_config


def test_shipped_configs_load_and_round_trip():
    names = sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))
    assert {"paper", "cpu", "best", "smoke"} <= set(names)
    for n in names:
        cfg = load_config(n)
        assert cfg.name == n
        assert config_from_dict(tomllib.loads(dump_config(cfg))) == cfg


def test_paper_config_is_the_paper():
    c = load_config("paper")
    p1, p2, m = c.phase1, c.phase2, c.mch
    assert (p1.r_mse, p1.r_sce, p1.lr, p1.lr_conv3, p1.dropout) == (0.1, 1.0, 1e-3, 1e-4, 0.5)  # Table 2
    assert (p2.r_mse, p2.r_sce, p2.lr, p2.lr_conv3, p2.dropout) == (1.0, 0.1, 1e-4, 1e-5, 0.0)
    assert (m.r_mse, m.r_sce, m.lr, m.lr_conv3, m.dropout) == (1.0, 0.0, 1e-4, 1e-5, 0.0)
    assert (p1.steps, p2.steps, m.steps) == (1_000_000, 10_000_000, 10_000_000)
    assert all(p.schedule == "constant" and p.warmup == 0 for p in (p1, p2, m))
    t = c.train
    assert (t.batch, t.init, t.init_std, t.betas) == (32, "paper", 1e-3, (0.9, 0.999))
    assert c.data.patch == 60 and c.data.stride == {"nature": 5, "manga": 10, "text": 5}
    assert c.folds.k == 5


@pytest.mark.parametrize("name", ["cpu", "best"])
def test_cpu_and_best_configs_keep_the_protocol(name):
    """Only the optimiser, init, precision, budget and (best) the text stride differ from the paper."""
    c, p = load_config(name), load_config("paper")
    assert c.data.patch == p.data.patch and c.train.batch == 32
    assert {k: v for k, v in c.data.stride.items() if k != "text"} == {"nature": 5, "manga": 10}
    for name in ("phase1", "phase2", "mch"):
        a, b = getattr(c, name), getattr(p, name)
        assert (a.r_mse, a.r_sce, a.dropout) == (b.r_mse, b.r_sce, b.dropout)
    assert c.phase1.lr_conv3 < c.phase1.lr, "Phase 1 keeps Table 2's slower conv3"


def test_best_is_cpu_with_a_longer_budget_and_fewer_text_patches():
    c, b = load_config("cpu"), load_config("best")
    assert (b.folds, b.train) == (c.folds, c.train)
    assert b.data.stride == {**c.data.stride, "text": 2 * c.data.stride["text"]}
    assert b.data.folders == c.data.folders and b.data.patch == c.data.patch
    assert b.phase1 == c.phase1
    for name in ("phase2", "mch"):
        a, z = getattr(c, name), getattr(b, name)
        assert z.steps > a.steps and z == type(a)(**{**a.__dict__, "steps": z.steps})


def test_phases_per_method():
    c = load_config("paper")
    assert [n for n, _ in c.phases("SRforMC")] == ["phase1", "phase2"]
    for m in METHODS:
        if m != "SRforMC":
            assert [n for n, _ in c.phases(m)] == ["mch"]
    with pytest.raises(ConfigError, match="unknown method"):
        c.phases("SRforCats")


@pytest.mark.parametrize("override, match", [
    ({"phase1.lr_typo": 1.0}, r"unknown key\(s\) lr_typo in \[phase1\]"),
    ({"bogus.x": 1}, r"unknown key\(s\) bogus in top level"),
    ({"phase1.dropout": 1.5}, r"phase1.dropout: must be in \[0, 1\)"),
    ({"phase2.lr": "fast"}, r"phase2.lr: expected a number"),
    ({"train.batch": 0}, r"train.batch: must be >= 1"),
    ({"train.batch": 2.5}, r"train.batch: expected an integer"),
    ({"train.precision": "fp8"}, r"train.precision: must be one of"),
    ({"mch.schedule": "linear"}, r"mch.schedule: must be one of"),
    ({"data.stride": {"nature": 5}}, r"data.stride: needs one stride per category"),
    ({"train.betas": [0.9]}, r"train.betas: expected a list of 2"),
    ({"data.patch": 61}, r"data.patch: must be an even"),
])
def test_bad_values_are_refused_with_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config("paper", override)


def test_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[phase1]\nsteps = -1\n")
    with pytest.raises(ConfigError, match=r"bad.toml: phase1.steps: must be >= 0"):
        load_config(bad)
    (tmp_path / "broken.toml").write_text("[phase1\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(tmp_path / "broken.toml")
    with pytest.raises(ConfigError, match="no config named 'nope'"):
        load_config("nope")


def test_overrides_and_frozen():
    c = with_overrides(load_config("smoke"), {"phase1.steps": 3, "data.root": "/x"})
    assert c.phase1.steps == 3 and c.data.root == "/x" and c.phase2 == load_config("smoke").phase2
    with pytest.raises(AttributeError):
        c.phase1.steps = 4  # type: ignore[misc]
