"""Grad-CAM on F2: right size, the mass sits where the evidence is and moves with it,
and it equals Grad-CAM computed by brute force with autograd through the whole network."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mchmc.engine import Engine
from mchmc.gradcam import grad_cam, normalised
from mchmc.model import build_model

sys.path.insert(0, str(Path(__file__).parent))
from evidence import evidence_model, half_page  # noqa: E402


def share_left(heat: np.ndarray) -> float:
    return float(heat[:, : heat.shape[1] // 2].sum() / heat.sum())


def test_heat_maps_have_the_page_size_and_one_map_per_category():
    page = half_page(64, 128)
    cam = grad_cam(evidence_model(), page)
    assert cam.categories == ("nature", "manga", "text")
    assert cam.maps.shape == (3, 64, 128) and cam.maps.dtype == np.float32
    assert (cam.maps >= 0).all()
    odd = grad_cam(evidence_model(), half_page(37, 90)[:, :83], tile=16)
    assert odd.maps.shape == (3, 37, 83)


def test_mass_sits_on_the_evidence_and_moves_with_it():
    model = evidence_model()
    left_text = grad_cam(model, half_page(text_left=True))
    assert share_left(left_text.map("text")) > 0.95  # text evidence: the glyph half
    assert share_left(left_text.map("nature")) < 0.05  # photo evidence: the other half
    right_text = grad_cam(model, half_page(text_left=False))
    assert share_left(right_text.map("text")) < 0.05
    assert share_left(right_text.map("nature")) > 0.95
    # the page-level guess follows the evidence too
    text_only = half_page()[:, :64]
    assert grad_cam(model, np.hstack([text_only, text_only])).predicted == "text"
    photo_only = half_page()[:, 64:]
    assert grad_cam(model, np.hstack([photo_only, photo_only])).predicted == "nature"


def test_probabilities_are_the_engines():
    model, page = evidence_model(), half_page()
    cam = grad_cam(model, page, tile=20)
    eng = Engine(build_model("mch-mc"), tile=None)
    eng.model.load_state_dict(model.state_dict())
    np.testing.assert_allclose(cam.probs, eng.probabilities(eng.gap_stats(page)), atol=1e-6)
    assert cam.probs.sum() == pytest.approx(1.0)


def test_equals_brute_force_grad_cam_through_the_whole_network():
    """Autograd from the class logit back to F2 of the unpadded image (the pooled region):
    alpha = mean gradient per channel, map = ReLU(sum alpha F2); ours must match inside."""
    torch.manual_seed(0)
    model = build_model("mch-mc")
    model.reset_parameters(0.3)
    for mod in model.modules():
        if isinstance(mod, torch.nn.Conv2d | torch.nn.Linear):
            torch.nn.init.normal_(mod.bias, 0.0, 0.05)
    model.eval()
    plane = np.random.default_rng(5).random((23, 31)).astype(np.float32)
    cam = grad_cam(model, plane, tile=7)
    r = model.config.feature_halo
    x = torch.from_numpy(plane)[None, None]
    for d in range(3):
        f2 = model.features(x).detach().requires_grad_(True)  # (1, 32, 23-2r, 31-2r): the pooled positions
        logit = model.classify(f2.mean(dim=(2, 3)))[0, d]
        (grad,) = torch.autograd.grad(logit, f2)
        alpha = grad.mean(dim=(2, 3))[0]
        want = torch.relu(torch.einsum("k,khw->hw", alpha, f2[0].detach())).numpy()
        np.testing.assert_allclose(cam.maps[d, r:-r, r:-r], want, rtol=1e-4, atol=1e-7)


def test_normalised_and_errors():
    assert normalised(np.array([[0.0, 2.0], [1.0, 4.0]])).max() == 1.0
    assert not normalised(np.zeros((3, 3))).any()
    with pytest.raises(ValueError, match="no classifier"):
        grad_cam(build_model("mch"), half_page())
