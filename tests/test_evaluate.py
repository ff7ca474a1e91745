"""Test-set scoring: the paper's 10-px border and crop 2 on known cases, and a model whose
output is known exactly (nearest neighbour) scored through the real evaluation path."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from mchmc.train.data import ImageRef, hr_lr_y, load_rgb
from mchmc.experiment.evaluate import (BICUBIC, bicubic_up, evaluate_bicubic, evaluate_model, image_metrics,
                            to_8bit_levels)
from mchmc.metrics import NET_BORDER, psnr, ssim

sys.path.insert(0, str(Path(__file__).parent))
from evidence import nearest_model  # noqa: E402
from test_data import synth_dataset  # noqa: E402


def test_paper_border_is_the_10_px_the_net_cannot_see():
    assert NET_BORDER == 10  # halo 5 LR px x scale 2
    hr = np.random.default_rng(0).random((60, 70)).astype(np.float32)
    sr8 = to_8bit_levels(hr)
    hr = sr8 / 255.0  # an HR on exact 8-bit levels, so an untouched SR is a perfect score
    bad = sr8.copy()
    bad[:10, :] = 0  # ruin exactly the 10-px border band
    bad[:, -10:] = 255
    m = image_metrics(bad, hr)
    assert m["psnr"] == float("inf") and m["ssim"] == pytest.approx(1.0)
    assert np.isfinite(m["psnr2"]) and m["psnr2"] < 20 and m["ssim2"] < 0.9
    bad[10, 30] += 51  # one pixel just inside the paper's centre
    assert np.isfinite(image_metrics(bad, hr)["psnr"])


def test_psnr_of_a_one_level_error_and_the_8_bit_rounding():
    hr = np.full((40, 40), 100 / 255.0)
    m = image_metrics(np.full((40, 40), 101.0), hr)
    assert m["psnr"] == pytest.approx(20 * np.log10(255.0)) == pytest.approx(48.1308, abs=1e-4)
    assert m["psnr"] == pytest.approx(m["psnr2"])
    assert to_8bit_levels(np.array([-0.1, 0.5, 1.2, 100.4 / 255])).tolist() == [0.0, 128.0, 255.0, 100.0]
    with pytest.raises(ValueError, match="differ in size"):
        image_metrics(np.zeros((40, 42)), hr)


@pytest.fixture(scope="module")
def refs(tmp_path_factory):
    root = synth_dataset(tmp_path_factory.mktemp("imgs"), n=2, size=(62, 74))
    return [ImageRef(c, p) for c in ("nature", "text") for p in sorted((root / c).glob("*.png"))]


def test_a_nearest_neighbour_model_scores_exactly_as_nearest_neighbour(refs):
    scores = evaluate_model(nearest_model(), refs, "NN", 3, tile=16)
    assert [(s.method, s.fold, s.category, s.name) for s in scores] == [("NN", 3, r.category, r.name) for r in refs]
    for s, r in zip(scores, refs):
        hr, lr = hr_lr_y(load_rgb(r.path), 2)
        sr8 = to_8bit_levels(np.kron(lr, np.ones((2, 2))))  # no shift, no border effect
        assert s.psnr == pytest.approx(psnr(sr8, hr * 255, 10), abs=1e-6)
        assert s.ssim == pytest.approx(ssim(sr8, hr * 255, 10), abs=1e-6)
        assert s.psnr2 == pytest.approx(psnr(sr8, hr * 255, 2), abs=1e-6)
        assert s.lr_pixels == lr.size and not s.classified and s.probs == ()


def test_the_bicubic_row_and_the_classifier_columns(refs):
    bic = evaluate_bicubic(refs, 3)
    nn = evaluate_model(nearest_model("mch-mc"), refs, "NN-MC", 3)
    for b, n, r in zip(bic, nn, refs):
        hr, lr = hr_lr_y(load_rgb(r.path), 2)
        assert b.method == BICUBIC
        assert b.psnr == pytest.approx(psnr(to_8bit_levels(bicubic_up(lr, hr.shape)), hr * 255, 10), abs=1e-6)
        assert b.psnr2 == pytest.approx(psnr(to_8bit_levels(bicubic_up(lr, hr.shape)), hr * 255, 2), abs=1e-6)
        assert n.predicted in ("nature", "manga", "text") and len(n.probs) == 3
        assert sum(n.probs) == pytest.approx(1.0, abs=1e-5) and n.correct == (n.predicted == n.category)
