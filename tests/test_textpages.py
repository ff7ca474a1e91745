"""Rendered document pages as text training data (issue 14, item 5): deterministic, cached, fonts held out,
in the training folds and validation but never a test fold, cut at their own stride, reported apart.

Synthetic category images plus pages rendered here (the system's fonts, or Pillow's built-in one when
there are none): no ../shared needed."""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from mchmc.train.config_schema import ConfigError
from mchmc.train.config import load_config, with_overrides
from mchmc.train.config_toml import run_identity
from mchmc.train.data import split_images
from mchmc.train.patches import PatchStore, PrepParams, positions, prepare
from mchmc.train.textpages import render_pages, rendered_folder, training_fonts
from mchmc.train.textpages.style import discover_fonts

from test_data import CATS, synth_config
from test_train import small_cfg

RENDERED = {"data.rendered_pages": 6, "data.rendered_seed": 11, "data.rendered_stride": 64}


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.png"))}


def test_the_same_seed_draws_the_same_pages_and_another_seed_others(tmp_path):
    render_pages(tmp_path / "a", 3, seed=5)
    render_pages(tmp_path / "b", 3, seed=5)
    render_pages(tmp_path / "c", 3, seed=6)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    assert set(digests(tmp_path / "a").values()).isdisjoint(digests(tmp_path / "c").values())
    manifest = json.loads((tmp_path / "a" / "MANIFEST.json").read_text())
    assert [p["kind"] for p in manifest["pages"]] == ["digital", "scanned", "digital"]


def test_held_out_font_families_never_set_a_training_page(tmp_path):
    families = discover_fonts()
    if not any("Condensed" in f for f in families):
        pytest.skip("no Condensed font family on this machine to hold out")
    kept = training_fonts("Condensed")
    assert kept and not any("Condensed" in f for f in kept) and set(kept) < set(families)
    folder = rendered_folder(tmp_path, 10, seed=3, hold_out="Condensed")
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    assert not any("Condensed" in f for f in manifest["fonts"])
    used = {p[k] for p in manifest["pages"] for k in ("body_font", "heading_font")}
    assert used and not any("Condensed" in f for f in used)


def test_a_rendered_set_is_made_once_whole_and_named_apart_from_dataset_images(tmp_path):
    folder = rendered_folder(tmp_path, 2, seed=9)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert rendered_folder(tmp_path, 2, seed=9) == folder  # a cache hit: nothing redrawn
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert sorted(p.name for p in (tmp_path / "rendered").iterdir()) == [folder.name]  # no temporary left
    assert all(n.startswith("rendered-s9-") for n in before if n.endswith(".png"))
    assert rendered_folder(tmp_path, 3, seed=9) != folder  # another count is another set


def test_rendered_pages_train_and_validate_but_are_never_a_test_fold(tmp_path):
    plain = with_overrides(synth_config(tmp_path), {"train.val_images": 1})
    cfg = with_overrides(plain, RENDERED)
    s, before = split_images(cfg, CATS, 2), split_images(plain, CATS, 2)
    rendered_train = [r for r in s.train if r.source == "rendered"]
    rendered_val = [r for r in s.val if r.source == "rendered"]
    assert len(rendered_train) == 5 and len(rendered_val) == 1  # 6 pages: one carved out for validation
    assert all(r.category == "text" and r.group == "text_rendered" for r in rendered_train + rendered_val)
    assert not {r.path for r in rendered_val} & {r.path for r in s.train}
    assert not any(r.source for r in s.test) and s.test == before.test  # the test fold is unchanged
    assert [r for r in s.val if not r.source] == before.val  # so are the categories' own validation images
    assert [r for r in s.train if not r.source] == before.train


def test_the_store_cuts_rendered_pages_at_their_own_stride(tmp_path):
    plain = synth_config(tmp_path)
    cfg = with_overrides(plain, RENDERED)
    base, res = prepare(plain.data, 2), prepare(cfg.data, 2)
    assert res.key != base.key and res.images["text"] == base.images["text"] + 6
    store = PatchStore(res.path)
    pages = [e for e in store.images if e["name"].startswith("rendered-")]
    expect = sum(len(positions(h, 60, 64, 2)) * len(positions(w, 60, 64, 2)) for h, w in (e["shape"] for e in pages))
    assert res.counts["text"] == base.counts["text"] + expect and expect > 0
    assert {k: v for k, v in res.counts.items() if k != "text"} == {k: v for k, v in base.counts.items() if k != "text"}
    assert prepare(cfg.data, 2).cache_hit
    # a store without rendered pages hashes what it always hashed, so existing stores and runs are found again
    assert "rendered_stride" not in PrepParams(60, {"text": 10}, 2).key_doc()


def test_configs_refuse_the_benchmark_seed_and_rendered_pages_without_text(tmp_path):
    cfg = synth_config(tmp_path)
    with pytest.raises(ConfigError, match="rendered_seed.*benchmark"):
        with_overrides(cfg, {**RENDERED, "data.rendered_seed": 0})
    with pytest.raises(ConfigError, match="rendered_pages.*text"):
        with_overrides(cfg, {**RENDERED, "data.folders": {"nature": "nature"}, "data.stride": {"nature": 10}})
    # configs written before rendered pages existed keep their identity (run dirs reopen, retraining keys hold)
    assert not any(k.startswith("rendered") for k in run_identity(load_config("best"))["data"])
    assert run_identity(load_config("best-text"))["data"]["rendered_pages"] == 200


def test_a_run_reports_the_rendered_pages_apart_and_keeps_the_mean_over_categories(tmp_path):
    from mchmc.train.run import train_method

    cfg = small_cfg(tmp_path, **{"train.precision": "fp32", "train.val_images": 1, "train.val_crop": 96,
                                 "phase1.steps": 4, "phase2.steps": 4, **RENDERED})
    out = train_method(cfg, "SRforMC", "1", tmp_path / "runs")
    with open(Path(out["run_dir"]) / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    last = rows[-1]
    assert "psnr_text_rendered" in last
    assert float(last["psnr_mean"]) == pytest.approx(np.mean([float(last[f"psnr_{c}"]) for c in CATS]), abs=1e-3)
    folds = json.loads((Path(out["run_dir"]) / "folds.json").read_text())
    assert len(folds["validation"]["text_rendered"]) == 1 and len(folds["rendered"]["train"]) == 5


def test_rendered_pages_can_teach_the_upscaler_and_leave_the_category_head_alone(tmp_path):
    """``data.rendered_category = false``: a rendered page's patches count in the MSE term, not in the
    category loss (nor in alpha), so synthetic pages cannot teach the head that crisp drawn lines are text."""
    import torch

    from mchmc.model import build_model
    from mchmc.train.config_schema import PhaseConfig
    from mchmc.train.steps import loss_terms
    from mchmc.train.patches import class_weights
    from mchmc.train.run import train_method

    torch.manual_seed(0)
    m = build_model("mch-mc")
    x, y = torch.rand(4, 1, 30, 30), torch.rand(4, 1, 40, 40)
    c, alpha = torch.tensor([0, 1, 2, 2]), torch.tensor([0.5, 0.25, 1.0])
    ph, off = PhaseConfig(r_mse=1.0, r_sce=0.1), torch.autocast("cpu", enabled=False)
    every, none = loss_terms(m, x, y, c, alpha, ph, off), loss_terms(m, x, y, c, alpha, ph, off, torch.ones(4))
    assert torch.equal(every["sce"], none["sce"])
    masked = loss_terms(m, x, y, c, alpha, ph, off, torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert 0 < masked["sce"] < every["sce"] and torch.equal(masked["mse"], every["mse"])
    assert loss_terms(m, x, y, c, alpha, ph, off, torch.zeros(4))["sce"] == 0

    cfg = small_cfg(tmp_path, **{"train.precision": "fp32", "train.val_images": 1, "train.val_crop": 96,
                                 "phase1.steps": 2, "phase2.steps": 2, **RENDERED, "data.rendered_category": False})
    out = train_method(cfg, "SRforMC", "1", tmp_path / "runs")
    done = json.loads((Path(out["run_dir"]) / "checkpoints" / "phase1.done.json").read_text())
    store = PatchStore(prepare(cfg.data, 2).path)
    run_train = split_images(cfg, CATS, 1).train
    labelled = store.counts(store.rows_for([r for r in run_train if not r.source]))
    assert done["alpha"] == pytest.approx(class_weights(labelled))  # the rendered patches do not weigh in
    assert done["train_patches"]["text"] > labelled["text"]  # but they are trained on
