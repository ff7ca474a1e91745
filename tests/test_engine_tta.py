"""Test-time augmentation (``--tta``): the mean over the eight flips and rotations of D4, exact under
every tiling, commuting with each transform, the category untouched, bf16 near fp32, and passed to every
engine the worker builds. Split from test_engine.py, whose helpers and fixtures it imports."""
# ruff: noqa: F811  (the fixtures imported from test_engine are the tests' parameters)
import numpy as np
import pytest
import torch
from test_engine import any_model, identity_like_net, model, net, reference  # noqa: F401  (fixtures)

from mchmc.engine import Engine


# --- test-time augmentation (--tta): the mean over the 8 flips/rotations of D4 ---

# g as plain numpy on an H x W array, written independently of the engine's torch helpers
def np_d4(k, flip):
    """(g, g^-1) for g = k quarter turns after an optional left-right flip."""

    def fwd(a):
        return np.rot90(a[:, ::-1] if flip else a, k)

    def inv(a):
        r = np.rot90(a, -k)
        return r[:, ::-1] if flip else r

    return fwd, inv


NP_D4 = [np_d4(k, f) for f in (False, True) for k in range(4)]


def tta_reference(model, plane):
    """TTA the obvious way: each transform of the whole (replicate-padded) image, back, averaged in float64."""
    return np.mean([inv(reference(model, np.ascontiguousarray(g(plane)))) for g, inv in NP_D4], axis=0)


def d4_symmetric_net(seed=11):
    """A net that commutes with every flip and rotation: conv1 and conv2 kernels are
    D4-invariant, conv3's sub-pixel kernels are one transpose-symmetric kernel A
    flipped as the pixel shuffle's sub-pixels (k, l) flip (A, fliplr A, flipud A,
    rot180 A), with equal biases. Its TTA output is therefore its plain output."""
    model = identity_like_net(seed)
    with torch.no_grad():
        model.conv1.bias.normal_(0, 0.02)
        model.conv2.bias.normal_(0, 0.02)
        for conv in (model.conv1, model.conv2):
            w = conv.weight
            w.copy_(sum(torch.rot90(torch.flip(w, (-1,)) if f else w, k, (-2, -1))
                        for f in (False, True) for k in range(4)) / 8)
        a = model.conv3.weight[:, :, :, :].mean(dim=0)  # (n2, 3, 3)
        a = (a + a.transpose(-2, -1)) / 2
        for ch, kernel in enumerate([a, torch.flip(a, (-1,)), torch.flip(a, (-2,)), torch.flip(a, (-2, -1))]):
            model.conv3.weight[ch] = kernel  # channel k*s + l is sub-pixel (row k, column l)
        model.conv3.bias.fill_(0.01)
    return model


TTA_SIZES = [(1, 1), (1, 7), (6, 4), (9, 9), (23, 31), (40, 17)]
TTA_TILES = [None, 1, 3, 7, 16]


@pytest.mark.parametrize("size", TTA_SIZES)
@pytest.mark.parametrize("tile", TTA_TILES)
def test_tta_tiled_equals_whole_image(any_model, size, tile):
    """Non-square pages and tiles (the cores of a 23 x 31 page at tile 7 are 6-8 px a side,
    turned 90 degrees they swap height and width): every tiling gives the whole-image TTA."""
    plane = np.random.default_rng(12).random(size, dtype=np.float32)
    whole = Engine(any_model, tile=None, tta=True).upscale(plane, gap=True)
    tiled = Engine(any_model, tile=tile, tta=True).upscale(plane, gap=True)
    assert tiled.sr.shape == (2 * size[0], 2 * size[1])
    assert np.abs(tiled.sr - whole.sr).max() <= 1e-5
    assert tiled.gap.count == whole.gap.count
    np.testing.assert_allclose(tiled.gap.total, whole.gap.total, rtol=1e-7, atol=1e-6)


@pytest.mark.parametrize("size, tile", [((23, 31), None), ((23, 31), 7), ((12, 5), 4), ((1, 7), 2)])
def test_tta_is_the_mean_of_the_eight_transformed_passes(model, size, tile):
    """Against an independent numpy reference: every g of D4 applied to the whole
    padded image, the network, g^-1, the mean; and it is not the plain output."""
    plane = np.random.default_rng(13).random(size, dtype=np.float32)
    tta = Engine(model, tile=tile, tta=True).upscale(plane).sr
    np.testing.assert_allclose(tta, tta_reference(model, plane), atol=1e-5)
    plain = Engine(model, tile=tile).upscale(plane).sr
    assert np.abs(tta - plain).max() > 1e-3  # a random net is not symmetric: TTA changes the output


@pytest.mark.parametrize("g", range(8))
def test_tta_commutes_with_every_flip_and_rotation(model, g):
    """The TTA output of a flipped / turned page is the flipped / turned TTA output (any
    weights: the group mean is equivariant only if every transform is inverted correctly)."""
    fwd, _ = NP_D4[g]
    plane = np.random.default_rng(14).random((21, 13), dtype=np.float32)
    engine = Engine(model, tile=5, tta=True)
    a = engine.upscale(np.ascontiguousarray(fwd(plane))).sr
    b = fwd(engine.upscale(plane).sr)
    assert a.shape == b.shape and np.abs(a - b).max() <= 1e-5
    if g:  # the plain net does not commute: the property is TTA's own
        plain = Engine(model, tile=5)
        assert np.abs(plain.upscale(np.ascontiguousarray(fwd(plane))).sr - fwd(plain.upscale(plane).sr)).max() > 1e-3


def test_tta_of_a_symmetric_net_is_its_plain_output():
    model = d4_symmetric_net()
    plane = np.random.default_rng(15).random((19, 26), dtype=np.float32) * 0.8 + 0.1
    plain = Engine(model, tile=6).upscale(plane).sr
    assert plain.std() > 0.05, "the net must output image-like values"
    hflip = Engine(model, tile=6).upscale(np.ascontiguousarray(plane[:, ::-1])).sr
    assert np.abs(hflip - plain[:, ::-1]).max() <= 1e-5  # the construction is right: it commutes
    tta = Engine(model, tile=6, tta=True).upscale(plane).sr
    assert np.abs(tta - plain).max() <= 1e-5


@pytest.mark.parametrize("tile", [None, 7])
def test_tta_leaves_the_category_exactly_as_it_is(any_model, tile):
    """GAP statistics come from the untransformed pass only: bit for bit those of tta=False."""
    plane = np.random.default_rng(16).random((30, 22), dtype=np.float32)
    plain, tta = Engine(any_model, tile=tile), Engine(any_model, tile=tile, tta=True)
    a, b = plain.upscale(plane, gap=True).gap, tta.upscale(plane, gap=True).gap
    assert a.count == b.count and np.array_equal(a.total, b.total)
    assert np.array_equal(plain.probabilities(a), tta.probabilities(b))
    c = tta.gap_stats(plane)  # classifying only: no SR, so nothing to augment
    assert c.count == a.count
    np.testing.assert_allclose(c.total, a.total, rtol=1e-6)


def test_tta_in_bf16_stays_near_fp32_tta():
    model = identity_like_net()
    plane = np.random.default_rng(17).random((40, 33), dtype=np.float32) * 0.86 + 0.06
    fp32 = Engine(model, tile=16, tta=True).upscale(plane).sr
    bf16 = Engine(model, tile=16, precision="bf16", tta=True).upscale(plane).sr
    assert np.abs(bf16 - fp32).max() < 2e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_tta_matches_cpu(model):
    plane = np.random.default_rng(19).random((70, 50), dtype=np.float32)
    cpu = Engine(model, tile=32, tta=True).upscale(plane, gap=True)
    gpu = Engine(model, tile=32, device="cuda", tta=True).upscale(plane, gap=True)
    assert np.abs(gpu.sr - cpu.sr).max() < 1e-4


def test_the_worker_passes_tta_to_every_engine_it_builds(tmp_path):
    """BatchOptions(tta=True) reaches the main engine and a noise variant's (PageEngines._load);
    a page through the worker is byte-identical whatever the tile, its category that of tta=False."""
    from PIL import Image

    from mchmc.batch.options import BatchOptions
    from mchmc.batch.plan import Job
    from mchmc.batch.worker.pageworker import PageWorker
    from mchmc.modelfile import save_model
    from mchmc.pages import read_page

    fam = tmp_path / "fam"
    fam.mkdir()
    save_model(net(seed=1), fam / "m.pt")
    save_model(net(seed=2), fam / "m-noise1.pt")
    rgb = (np.random.default_rng(18).random((37, 29, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "page.png")

    def run(tag, **kw):
        worker = PageWorker(BatchOptions(model=str(fam / "m.pt"), format="png", split_pixels=0, **kw))
        rec = worker.process(Job(tmp_path / "page.png", tmp_path / f"{tag}.png"))
        assert rec.status == "ok", rec.error
        return worker, rec, np.asarray(Image.open(tmp_path / f"{tag}.png"))

    worker, rec, tiled = run("tta8", tta=True, tile=8, noise="none")
    assert worker.engine.tta
    _, rec_whole, whole = run("tta-whole", tta=True, tile=None, noise="none")
    _, rec_plain, plain = run("plain", tile=8, noise="none")
    # tiled == whole up to float rounding, which may move a value across a rounding boundary (rarely)
    diff = np.abs(tiled.astype(int) - whole)
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    assert np.abs(tiled.astype(int) - plain).max() > 1  # TTA did change the pixels
    assert rec.probs == rec_plain.probs and rec.category == rec_plain.category == rec_whole.category
    assert rec_whole.probs == pytest.approx(rec.probs, abs=2e-6)
    noisy = PageWorker(BatchOptions(model=str(fam / "m.pt"), noise="1", tta=True, tile=8))
    engine, choice = noisy.models.noise(read_page(tmp_path / "page.png", 0, 10**8).meta)
    assert choice.level == 1 and engine is not noisy.engine and engine.tta and noisy.engine.tta
