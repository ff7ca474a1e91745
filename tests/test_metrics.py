"""PSNR / SSIM on Y as SR papers compute them, checked on known cases and
against the peer benchmark's published bicubic figures on Set5 and Set14."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import shared_path
from mchmc.colour import y_8bit
from mchmc.metrics import NET_BORDER, crop, gaussian_window, psnr, ssim
from mchmc.model import ARCHITECTURES
from mchmc.resize import imresize


def test_default_border_is_what_the_unpadded_net_cannot_see():
    cfg = ARCHITECTURES["mch-mc"]
    assert NET_BORDER == cfg.halo * cfg.scale == 10
    assert crop(np.zeros((30, 40)), NET_BORDER).shape == (10, 20)


def test_psnr_known_values():
    a = np.zeros((20, 20))
    assert psnr(a + 1.0, a, border=0) == pytest.approx(10 * np.log10(255**2))  # MSE 1 -> 48.13 dB
    assert psnr(a, a, border=0) == float("inf")
    b = a.copy()
    b[0, 0] = 100.0  # the error sits in the border: cropped away
    assert psnr(b, a, border=2) == float("inf")


def test_ssim_identity_and_window():
    g = gaussian_window()
    assert g.shape == (11,) and g.sum() == pytest.approx(1.0) and g[5] == g.max()
    x = np.random.default_rng(0).random((40, 40)) * 255
    assert ssim(x, x, border=0) == pytest.approx(1.0)
    assert ssim(x, 255 - x, border=0) < 0


def test_ssim_constant_shift_known_value():
    # for flat images SSIM reduces to the luminance term (2 mx my + C1) / (mx^2 + my^2 + C1)
    c1 = (0.01 * 255) ** 2
    x, y = np.full((20, 20), 100.0), np.full((20, 20), 110.0)
    assert ssim(x, y, border=0) == pytest.approx((2 * 100 * 110 + c1) / (100**2 + 110**2 + c1))


def _bicubic_scores(folder: Path) -> tuple[float, float]:
    p, s = [], []
    for f in sorted(folder.glob("*.png")):
        hr = np.asarray(Image.open(f))
        hr = hr[..., :3] if hr.ndim == 3 else hr
        hr = hr[: hr.shape[0] // 2 * 2, : hr.shape[1] // 2 * 2]
        sr = imresize(imresize(hr, 0.5), 2)
        p.append(psnr(y_8bit(sr), y_8bit(hr), border=2))
        s.append(ssim(y_8bit(sr), y_8bit(hr), border=2))
    return float(np.mean(p)), float(np.mean(s))


@pytest.mark.parametrize("name,psnr_ref,ssim_ref", [("set5", 33.68, 0.9305), ("set14", 30.33, 0.8700)])
def test_bicubic_figures_match_the_peer_benchmark(name, psnr_ref, ssim_ref):
    p, s = _bicubic_scores(shared_path("datasets", name))
    assert p == pytest.approx(psnr_ref, abs=0.02)
    assert s == pytest.approx(ssim_ref, abs=0.0005)
