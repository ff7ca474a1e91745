"""BT.601 'MATLAB' YCbCr as SR research uses it, exact round trips at 8 and 16 bits."""
import numpy as np
import pytest

from mchmc import colour


def test_known_values_match_matlab_rgb2ycbcr():
    rgb = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    ycc = colour.rgb_to_ycbcr(colour.to_unit(rgb, np.float64), np.float64) * 255
    expected = np.array([[16, 128, 128], [235, 128, 128], [81.481, 90.203, 240.0],
                         [144.553, 53.797, 34.214], [40.966, 240.0, 109.786]])
    np.testing.assert_allclose(ycc, expected, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_round_trip_is_exact_after_quantisation(dtype, rng):
    peak = np.iinfo(dtype).max
    rgb = rng.integers(0, peak + 1, size=(64, 64, 3), dtype=dtype)
    ycc = colour.rgb_to_ycbcr(colour.to_unit(rgb, np.float64), np.float64)
    back = colour.ycbcr_to_rgb(ycc, np.float64)
    assert np.abs(back - colour.to_unit(rgb, np.float64)).max() < 1e-12
    assert np.array_equal(colour.from_unit(back, dtype), rgb)


def test_float32_round_trip_within_float_error(rng):
    rgb = rng.random((32, 32, 3), dtype=np.float32)
    back = colour.ycbcr_to_rgb(colour.rgb_to_ycbcr(rgb))
    assert np.abs(back - rgb).max() < 1e-5


def test_y_alone_equals_first_channel(rng):
    rgb = rng.random((8, 9, 3))
    np.testing.assert_allclose(colour.rgb_to_y(rgb, np.float64), colour.rgb_to_ycbcr(rgb, np.float64)[..., 0])


def test_gray_page_is_its_own_luminance_on_the_network_scale(rng):
    g = rng.random((10, 10))
    as_rgb = np.repeat(g[..., None], 3, axis=2)
    np.testing.assert_allclose(colour.gray_to_y(g, np.float64), colour.rgb_to_y(as_rgb, np.float64), atol=1e-12)
    assert colour.gray_to_y(np.array([0.0, 1.0]), np.float64).tolist() == pytest.approx([16 / 255, 235 / 255])
    np.testing.assert_allclose(colour.y_to_gray(colour.gray_to_y(g, np.float64), np.float64), g, atol=1e-12)


def test_16_bit_and_8_bit_pages_share_one_scale():
    a8 = np.array([[0, 128, 255]], np.uint8)
    a16 = a8.astype(np.uint16) * 257
    np.testing.assert_allclose(colour.gray_to_y(colour.to_unit(a8)), colour.gray_to_y(colour.to_unit(a16)), atol=1e-6)


def test_y_8bit_is_the_metrics_scale():
    assert colour.y_8bit(np.full((2, 2, 3), 255, np.uint8))[0, 0] == pytest.approx(235.0)
    assert colour.y_8bit(np.zeros((2, 2), np.uint16))[0, 0] == pytest.approx(16.0)


@pytest.mark.parametrize("layout", ["1", "L8", "L16", "LA8", "RGB8", "RGB16", "RGBA8"])
def test_one_luminance_path_for_every_page_layout(rng, layout):
    """``colour.luminance`` is the upscaler's Y (``page_ycc``'s channel 0) for every page layout, the same
    in row strips, and ``y_8bit`` is it x 255 (issue 30: one path, one fp32 rounding)."""
    h, w = 37, 23
    bits = 16 if layout.endswith("16") else 8
    dtype = np.uint16 if bits == 16 else np.uint8
    channels = {"1": 0, "L8": 0, "L16": 0, "LA8": 2, "RGB8": 3, "RGB16": 3, "RGBA8": 4}[layout]
    px = rng.integers(0, np.iinfo(dtype).max + 1, (h, w, channels) if channels else (h, w), dtype=dtype)
    if layout == "1":
        px = px > 128
    u = colour.to_unit(px)
    if channels in (0, 2):
        ref = colour.gray_to_y(u if u.ndim == 2 else u[..., 0])
    else:
        ref = colour.rgb_to_ycbcr(u[..., :3])[..., 0]
    y = colour.luminance(px)
    assert y.dtype == np.float32 and np.array_equal(y, ref)
    assert np.array_equal(colour.luminance(px, rows=5), y)
    assert np.array_equal(colour.luminance_rows(px, 9, 20), y[9:20])
    assert np.array_equal(colour.y_8bit(px), y.astype(np.float64) * 255.0)


def test_the_luminance_module_sits_below_pages_and_train():
    """``mchmc.colour`` imports neither pages/ nor train/, and the category view no longer needs the
    upscaler (the old pages.category <-> pages.upscale cycle)."""
    import subprocess
    import sys

    code = ("import sys, mchmc.colour, mchmc.pages.category; "
            "print(sorted(m for m in sys.modules if m.startswith(('mchmc.pages.upscale', 'mchmc.train'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
