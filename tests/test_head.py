"""Retraining the category head alone (issue 19): only the head changes, so every
upscaled pixel stays bit-identical; the head learns from pooled F2 of whole pages
at several sizes and keeps the epoch with the lowest validation loss; the command
runs through the CLI and as a Prefect flow."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mchmc.engine import Engine, GapStats
from mchmc.model import build_model
from mchmc.modelfile import load_model, save_model
from mchmc.train.config import load_config
from mchmc.train.head import HeadFit, fit_head, image_features, page_f2, pooled, resized, windows

sys.path.insert(0, str(Path(__file__).parent))
from test_data import CATS, synth_dataset  # noqa: E402


def _clusters(n: int, seed: int, dims: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Three categories as separable clusters of positive 'F2 means'."""
    rng = np.random.default_rng(seed)
    centres = np.abs(np.random.default_rng(99).normal(0, 1, (3, dims)))
    y = rng.integers(0, 3, n)
    return (centres[y] + 0.15 * rng.normal(0, 1, (n, dims))).clip(0), y


def test_only_the_head_changes_and_the_upscaled_pixels_stay_bit_identical():
    torch.manual_seed(0)
    model = build_model("mch-mc")
    tuned, summary = fit_head(model, _clusters(300, 0), _clusters(90, 1), HeadFit(epochs=50), log=lambda _: None)
    before, after = model.state_dict(), tuned.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("head.") for k in changed)
    plane = np.random.default_rng(0).random((40, 52), dtype=np.float32)
    assert np.array_equal(Engine(model, tile=16).upscale(plane).sr, Engine(tuned, tile=16).upscale(plane).sr)
    assert summary["val_loss"] <= summary["val_loss_before"]


def test_the_head_learns_separable_pages_and_keeps_the_best_validation_epoch():
    torch.manual_seed(0)
    model = build_model("mch-mc")
    train = _clusters(600, 0) + _clusters(900, 3)  # pages and windows
    tuned, summary = fit_head(model, train, _clusters(150, 1) + _clusters(150, 4), HeadFit(epochs=300),
                              log=lambda _: None)
    assert summary["val_top1"] >= 0.98 > summary["val_top1_before"]
    x, y = _clusters(150, 2)  # unseen: the engine's own probabilities agree
    engine = Engine(tuned)
    hits = [int(np.argmax(engine.probabilities(GapStats(v, 1)))) == t for v, t in zip(x, y)]
    assert np.mean(hits) >= 0.98
    assert 1 <= summary["epoch"] <= 300


def test_pages_are_drawn_at_every_size_and_bounded_in_pixels():
    hr = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    assert resized(hr, 2.0).shape == (60, 45, 3)
    assert resized(hr, 0.5).shape == (240, 180, 3)
    assert resized(hr, 1.0) is hr or np.array_equal(resized(hr, 1.0), hr)
    crop = resized(hr, 0.5, max_pixels=100 * 100)
    assert crop.shape[0] * crop.shape[1] <= 100 * 100 and crop.shape[0] == 100
    engine = Engine(build_model("mch-mc"))
    pages, wins = image_features(engine, hr, "x", (0.5, 1.0, 2.0), count=4)
    assert pages.shape == (3, 32) and wins.shape == (12, 32)  # 4 patch-sized windows per size (60 x 45 holds one)
    assert np.allclose(pages[1], pooled(engine, hr), rtol=1e-5, atol=1e-6)  # the engine's pooling, exactly
    noisy, _ = image_features(engine, hr, "x", (1.0,), noise=(1, 0))  # JPEG level 1, seeded: the same twice
    assert np.array_equal(noisy, image_features(engine, hr, "x", (1.0,), noise=(1, 0))[0])
    assert not np.array_equal(noisy[0], pages[1])


def test_a_window_is_the_mean_of_f2_over_a_training_patch():
    """Phase 1 classified 30 x 30 LR patches: their unpadded F2 is 22 x 22, and a window's feature is its mean."""
    model = build_model("mch-mc").eval()
    page = np.random.default_rng(1).integers(0, 256, (40, 50), dtype=np.uint8)
    got = windows(page_f2(model, page), 5, np.random.default_rng(0))
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, 32 - 22 + 1, 5), rng.integers(0, 42 - 22 + 1, 5)
    with torch.no_grad():
        f2 = model.features(torch.from_numpy(page.astype(np.float32) / 255)[None, None])[0].double()
    want = np.stack([f2[:, a : a + 22, b : b + 22].mean((1, 2)).numpy() for a, b in zip(ys, xs)])
    assert np.allclose(got, want, atol=1e-5)
    assert windows(page_f2(model, page[:29]), 5, rng).shape == (0, 32)  # smaller than a patch: none


@pytest.mark.slow
@pytest.mark.parametrize("prefect", [False, True])
def test_train_head_runs_for_real_and_writes_a_model_with_provenance(tmp_path, prefect, monkeypatch):
    from typer.testing import CliRunner

    import mchmc.train.head as head
    from mchmc.cli.app import app

    monkeypatch.setattr(head, "CACHE", tmp_path / "cache")
    root = synth_dataset(tmp_path / "imgs", n=6)
    for c, folder in load_config("smoke").data.folders.items():  # the folder names the config expects
        (root / c).rename(root / folder)
    src = save_model(build_model("mch-mc"), tmp_path / "m.pt", {"config": "smoke"})
    out = tmp_path / "tuned.pt"
    args = ["train-head", str(src), "--out", str(out), "--data-root", str(root)]
    if not prefect:
        args.append("--no-prefect")
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "head retrained" in res.output
    tuned = load_model(out)
    prov = tuned.provenance["head_retrained"]
    assert prov["config"] == "smoke" and prov["train_images"] + prov["val_images"] < 6 * len(CATS)
    before = load_model(src).model.state_dict()
    assert all(torch.equal(v, tuned.model.state_dict()[k]) for k, v in before.items() if not k.startswith("head."))
    # the pooled features were kept: a refit reads them back and gives the same head
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1
    res = CliRunner().invoke(app, args[:3] + [str(tmp_path / "again.pt")] + args[4:])
    assert res.exit_code == 0, res.output
    assert prefect or "pooled features from" in res.output, res.output  # (Prefect's logger prints elsewhere)
    again = load_model(tmp_path / "again.pt").model.state_dict()
    assert all(torch.equal(v, again[k]) for k, v in tuned.model.state_dict().items())


def test_a_model_without_a_head_is_refused_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from mchmc.cli.app import app

    res = CliRunner().invoke(app, ["train-head", "srforall", "--out", str(tmp_path / "x.pt"), "--no-prefect"])
    assert res.exit_code == 2 and "no category head" in res.output
