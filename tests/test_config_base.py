"""Config inheritance (``base = ...``) and ``init_from`` naming a run (issue 30)."""
from __future__ import annotations

import pytest

from mchmc.train.config import CONFIG_DIR, load_config
from mchmc.train.config_schema import ConfigError
from mchmc.train.config_toml import dump_config


def write(path, text):
    path.write_text(text)
    return path


def test_base_is_resolved_and_only_the_differences_are_stated(tmp_path):
    child = write(tmp_path / "longer.toml", 'base = "best"\n[phase2]\nsteps = 7\n[data]\nstride = { nature = 1, '
                  'manga = 2, text = 3 }\n')
    cfg, best = load_config(child), load_config("best")
    assert cfg.name == "longer" and cfg.description == ""  # name and description describe one file
    assert cfg.phase2.steps == 7 and cfg.phase2.lr == best.phase2.lr  # a section merges key by key
    assert cfg.data.stride == {"nature": 1, "manga": 2, "text": 3}  # a table value replaces the base's whole
    assert (cfg.train, cfg.phase1, cfg.mch, cfg.data.folders) == (best.train, best.phase1, best.mch, best.data.folders)


def test_base_by_path_is_relative_to_the_file_and_recursive(tmp_path):
    (tmp_path / "sub").mkdir()
    write(tmp_path / "a.toml", 'base = "paper"\ndescription = "a"\n[train]\nbatch = 8\n')
    write(tmp_path / "sub" / "b.toml", 'base = "../a.toml"\n[train]\nseed = 3\n')
    cfg = load_config(tmp_path / "sub" / "b.toml")
    assert (cfg.name, cfg.description, cfg.train.batch, cfg.train.seed) == ("b", "", 8, 3)
    assert cfg.phase2 == load_config("paper").phase2


def test_a_resolved_config_has_no_base_and_loads_the_same(tmp_path):
    child = write(tmp_path / "c.toml", 'base = "noise1-text"\n[train]\nseed = 5\n')
    cfg = load_config(child)
    assert "base" not in dump_config(cfg)
    assert load_config(write(tmp_path / "resolved.toml", dump_config(cfg)), {"name": "c"}) == cfg


@pytest.mark.parametrize("text, match", [
    ('base = "no-such-config"\n', r"x.toml: base 'no-such-config': no config named"),
    ('base = "missing/y.toml"\n', r"x.toml: base 'missing/y.toml': no such config file"),
    ("base = 3\n", r"x.toml: base: expected a config name or a .toml path, got 3"),
    ('base = "paper"\n[train]\nbatchsize = 3\n', r"x.toml: unknown key\(s\) batchsize in \[train\]"),
    ('base = "paper"\nbogus = 1\n', r"x.toml: unknown key\(s\) bogus in top level"),
])
def test_bad_bases_are_one_line_errors(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match) as err:
        load_config(write(tmp_path / "x.toml", text))
    assert "\n" not in str(err.value)


def test_unknown_key_in_a_base_names_the_base(tmp_path):
    write(tmp_path / "parent.toml", 'base = "paper"\n[phase1]\nstepz = 1\n')
    with pytest.raises(ConfigError, match=r"parent.toml: unknown key\(s\) stepz in \[phase1\]"):
        load_config(write(tmp_path / "child.toml", 'base = "parent.toml"\n'))


def test_base_cycle_is_refused(tmp_path):
    write(tmp_path / "a.toml", 'base = "b.toml"\n')
    write(tmp_path / "b.toml", 'base = "a.toml"\n')
    with pytest.raises(ConfigError, match=r"base cycle: a.toml -> b.toml -> a.toml"):
        load_config(tmp_path / "a.toml")
    write(tmp_path / "self.toml", 'base = "self.toml"\n')
    with pytest.raises(ConfigError, match=r"base cycle: self.toml -> self.toml"):
        load_config(tmp_path / "self.toml")


def test_init_from_names_a_run(tmp_path):
    """A run by method, fold and config resolves to its model's path: the same config (and identity) the
    path gave."""
    named = write(tmp_path / "n.toml", 'base = "best"\n[train]\ninit_from = { method = "SRforMC", fold = 1, '
                  'config = "best" }\n')
    path = write(tmp_path / "p.toml", 'base = "best"\n[train]\ninit_from = "runs/SRforMC-fold1-best/model.pt"\n')
    a, b = load_config(named), load_config(path, {"name": "n"})
    assert a.train.init_from == "runs/SRforMC-fold1-best/model.pt" and a == b and dump_config(a) == dump_config(b)
    other = write(tmp_path / "o.toml", 'base = "best"\n[train]\ninit_from = { method = "SRforAll", fold = "all", '
                  'config = "cpu", runs = "elsewhere" }\n')
    assert load_config(other).train.init_from == "elsewhere/SRforAll-foldall-cpu/model.pt"


@pytest.mark.parametrize("table, match", [
    ('{ method = "SRforMC", fold = 1 }', r"train.init_from: a run is .* missing config"),
    ('{ method = "SRforMC", fold = 1, config = "best", step = 3 }', r"unknown key\(s\) step"),
    ('{ method = "SRforMC", fold = 0, config = "best" }', r"train.init_from.fold: a fold number or \"all\""),
    ('{ method = "SRforMC", fold = 1, config = 2 }', r"train.init_from.config: expected a string"),
])
def test_bad_run_names_are_refused(tmp_path, table, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path / "x.toml", f'base = "best"\n[train]\ninit_from = {table}\n'))


def test_shipped_configs_say_what_they_inherit():
    """The noise-level families state their level and their starting run, not the whole recipe."""
    for k in (0, 2, 3):
        for kind in ("warm", "wide", "text"):
            text = (CONFIG_DIR / f"noise{k}-{kind}.toml").read_text()
            assert f'base = "noise1-{kind}"' in text and "[phase2]" not in text
