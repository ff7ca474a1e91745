"""The tiled engine: exact against whole-image inference for every tile size,
exact GAP statistics across tiles, bounded tile memory, bf16 within half an
8-bit step of fp32, CPU and (when present) CUDA."""
import numpy as np
import pytest

from mchmc.modelfile import shipped_models
import torch

from mchmc.engine import Engine, Region, pool_interval, split
from mchmc.model import ARCHITECTURES, build_model


def net(name="mch-mc", std=0.05, seed=0):
    torch.manual_seed(seed)
    model = build_model(name)
    model.reset_parameters(std)  # larger than the paper's 0.001 so outputs are not ~0
    return model


def reference(model, plane):
    """Whole-image inference the obvious way: replicate-pad by the halo, one forward pass."""
    h = model.config.halo
    x = torch.from_numpy(np.pad(plane, h, mode="edge"))[None, None]
    with torch.no_grad():
        return model.reconstruct(model.features(x))[0, 0].numpy()


SIZES = [(1, 1), (1, 7), (6, 4), (9, 9), (23, 31), (64, 40)]
TILES = [None, 1, 2, 3, 7, 16, 1000]


# timm style: the engine's exactness tests run on every registered variant with a category head (the paper's
# MCH-MC, the wide noise models' and the quality tier's, whose tail layers widen the halo beyond F2's)
HEADED = [name for name, cfg in ARCHITECTURES.items() if cfg.has_classifier]


@pytest.fixture(scope="module", params=HEADED)
def any_model(request):
    return net(request.param)


@pytest.fixture(scope="module")
def model():
    return net()


@pytest.mark.parametrize("size", SIZES)
def test_output_is_exactly_twice_the_input(any_model, size):
    plane = np.random.default_rng(0).random(size, dtype=np.float32)
    sr = Engine(any_model, tile=None).upscale(plane).sr
    assert sr.shape == (2 * size[0], 2 * size[1]) and sr.dtype == np.float32
    np.testing.assert_allclose(sr, reference(any_model, plane), atol=1e-5)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("tile", TILES)
def test_tiled_equals_whole_image(any_model, size, tile):
    plane = np.random.default_rng(1).random(size, dtype=np.float32)
    whole = Engine(any_model, tile=None).upscale(plane, gap=True)
    tiled = Engine(any_model, tile=tile).upscale(plane, gap=True)
    assert np.abs(tiled.sr - whole.sr).max() <= 1e-5
    assert tiled.gap.count == whole.gap.count
    np.testing.assert_allclose(tiled.gap.total, whole.gap.total, rtol=1e-7, atol=1e-6)  # rows summed in fp32


@pytest.mark.parametrize("tile", [1, 5, 13, None])
def test_tiled_category_probabilities_equal_whole_image(any_model, tile):
    plane = np.random.default_rng(2).random((45, 38), dtype=np.float32)
    engine = Engine(any_model, tile=tile)
    p_tiled = engine.probabilities(engine.upscale(plane, gap=True).gap)
    p_whole = Engine(any_model, tile=None).probabilities(Engine(any_model, tile=None).gap_stats(plane))
    assert p_tiled.shape == (3,) and p_tiled.sum() == pytest.approx(1.0)
    assert np.abs(p_tiled - p_whole).max() <= 1e-5


def test_pooling_region_is_f2_of_the_unpadded_image(any_model):
    """Paper-faithful: GAP over exactly the F2 positions that never see padding."""
    plane = np.random.default_rng(3).random((30, 26), dtype=np.float32)
    stats = Engine(any_model, tile=7).gap_stats(plane)
    with torch.no_grad():
        f2 = any_model.features(torch.from_numpy(plane)[None, None])[0]
    assert stats.count == f2.shape[1] * f2.shape[2] == (30 - 8) * (26 - 8)
    # float rounding of two memory layouts (the engine runs channels-last)
    np.testing.assert_allclose(stats.total, f2.double().sum(dim=(1, 2)).numpy(), rtol=1e-6, atol=1e-5)
    with torch.no_grad():
        logits = any_model.classify(f2.mean(dim=(1, 2))[None])
    np.testing.assert_allclose(Engine(any_model).probabilities(stats), torch.softmax(logits, 1)[0].numpy(),
                               atol=1e-6)


def test_pooling_falls_back_to_every_pixel_on_tiny_pages():
    fh = ARCHITECTURES["mch-mc"].feature_halo
    assert pool_interval(100, fh) == (fh, 100 - fh)
    assert pool_interval(2 * fh, fh) == (0, 2 * fh)


def test_a_region_of_a_plane_equals_the_same_part_of_the_whole(any_model):
    plane = np.random.default_rng(4).random((40, 50), dtype=np.float32)
    engine = Engine(any_model, tile=8)
    whole = engine.upscale(plane, gap=True)
    parts = [Region(0, 17, 0, 50), Region(17, 40, 0, 21), Region(17, 40, 21, 50)]
    out = np.zeros_like(whole.sr)
    total = None
    for r in parts:
        res = engine.run(plane, r, gap=True)
        out[2 * r.y0 : 2 * r.y1, 2 * r.x0 : 2 * r.x1] = res.sr
        total = res.gap if total is None else total + res.gap
    assert np.abs(out - whole.sr).max() <= 1e-5
    assert total.count == whole.gap.count
    np.testing.assert_allclose(total.total, whole.gap.total, rtol=1e-7)  # rows summed in fp32


def test_tiles_are_near_equal_and_cover_everything():
    for n in [1, 5, 100, 257]:
        for t in [1, 3, 64, 256, None]:
            parts = split(n, t)
            assert parts[0][0] == 0 and parts[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
            sizes = [b - a for a, b in parts]
            assert max(sizes) <= (t or n) and max(sizes) - min(sizes) <= 1


def test_memory_grows_with_the_tile_not_the_page(any_model, monkeypatch):
    """Every tensor the network sees is at most tile + 2 * halo on a side."""
    seen = []
    original = any_model.features

    def spy(x):
        seen.append(tuple(x.shape[-2:]))
        return original(x)

    monkeypatch.setattr(any_model, "features", spy)
    plane = np.random.default_rng(5).random((300, 200), dtype=np.float32)
    Engine(any_model, tile=64).upscale(plane, gap=True)
    limit = 64 + 2 * any_model.config.halo
    assert len(seen) == 5 * 4 and max(max(s) for s in seen) <= limit


def test_preallocated_output_is_filled_in_place(model):
    plane = np.random.default_rng(6).random((20, 20), dtype=np.float32)
    out = np.full((40, 40), np.nan, np.float32)
    res = Engine(model, tile=6).run(plane, out=out)
    assert res.sr is out and not np.isnan(out).any()


def identity_like_net(seed=7):
    """A net on a realistic output scale: a pass-through path spread over every
    channel (as a trained net spreads its signal) plus random weights, so the
    output looks like an image (about its input) and not like ~0."""
    model = net("mch-mc", std=0.002, seed=seed)
    gains = torch.linspace(0.5, 1.5, model.conv1.out_channels)  # channels differ, as in a trained net
    with torch.no_grad():
        model.conv1.weight[:, 0, 2, 2] += gains
        model.conv2.weight[:, :, 2, 2] += 1.0 / (gains * model.conv2.in_channels)
        model.conv3.weight[:, :, 1, 1] += 1.0 / model.conv3.in_channels
    return model


def test_bf16_is_within_half_an_8bit_step_of_fp32():
    model = identity_like_net()
    plane = np.random.default_rng(7).random((96, 80), dtype=np.float32) * 0.86 + 0.06
    fp32 = Engine(model, tile=32).upscale(plane).sr
    assert 0.5 * plane.mean() < fp32.mean() < 2.0 * plane.mean(), "the net must output image-scale values"
    bf16 = Engine(model, tile=32, precision="bf16").upscale(plane).sr
    assert np.abs(bf16 - fp32).max() < 2e-3


@pytest.mark.parametrize("name", list(shipped_models()))  # every shipped model, the noise variants too
def test_bf16_error_with_the_shipped_weights_is_what_the_readme_states(name):
    """The honest figure: with trained weights bf16 is NOT within half an 8-bit
    step everywhere. conv2's inputs (F1) and weights rounded to bf16 each cost
    about 3e-3 at the output of the shipped models (measured); together up to
    ~1e-2 on hard pages. The README states these bounds; fp32 stays the default."""
    from PIL import Image

    from mchmc import colour
    from mchmc.modelfile import load_model

    from conftest import ROOT

    model = load_model(name).model
    worst = []
    for sample in ("manga-page.png", "landscape.jpg"):
        rgb = np.asarray(Image.open(ROOT / "samples" / sample).convert("RGB"))[:160, :160]
        y = colour.rgb_to_ycbcr(colour.to_unit(rgb))[..., 0]
        fp32 = np.clip(Engine(model, tile=64).upscale(y).sr, 0, 1)
        bf16 = np.clip(Engine(model, tile=64, precision="bf16").upscale(y).sr, 0, 1)
        d = np.abs(bf16 - fp32)
        worst.append((d.max(), np.quantile(d, 0.999), d.mean()))
    assert max(w[0] for w in worst) < 1.2e-2  # max: about 4-6 8-bit steps
    assert max(w[1] for w in worst) < 8e-3  # 99.9th percentile: srformc ~0.004, srforall ~0.005
    assert max(w[2] for w in worst) < 2.5e-3  # mean: under half an 8-bit step (0.00196)


def test_classifying_only_skips_reconstruction(model):
    plane = np.random.default_rng(8).random((33, 20), dtype=np.float32)
    res = Engine(model, tile=10).run(plane, sr=False, gap=True)
    assert res.sr is None
    ref = Engine(model, tile=None).upscale(plane, gap=True).gap
    assert res.gap.count == ref.count
    np.testing.assert_allclose(res.gap.total, ref.total, rtol=1e-6)


def test_plain_mch_has_no_category_statistics():
    with pytest.raises(ValueError, match="no classifier"):
        Engine(net("mch")).upscale(np.zeros((4, 4), np.float32), gap=True)


def test_bad_arguments_are_rejected(model):
    with pytest.raises(ValueError):
        Engine(model, precision="fp8")
    with pytest.raises(ValueError):
        Engine(model, tile=0)
    with pytest.raises(ValueError):
        Engine(model).upscale(np.zeros((0, 4), np.float32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_cuda_matches_cpu(precision):
    model = net()
    plane = np.random.default_rng(9).random((70, 50), dtype=np.float32)
    cpu = Engine(model, tile=32).upscale(plane, gap=True)
    gpu = Engine(net(), tile=32, device="cuda", precision=precision).upscale(plane, gap=True)
    assert np.abs(gpu.sr - cpu.sr).max() < (1e-4 if precision == "fp32" else 2e-3)


def test_the_engine_works_on_its_own_copy_of_the_model():
    """Callers keep their model as it was: training mode, memory layout, weights."""
    from mchmc.model import build_model

    model = build_model("mch-mc").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    engine = Engine(model, tile=32, precision="fp32")
    engine.run(np.zeros((40, 40), np.float32))
    assert model.training and model.conv2.weight.is_contiguous()
    assert engine.model is not model and not engine.model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
