"""The chroma network (issue 27, colour on JPEG pages): exact under tiling, safe to load, trainable."""
import pickle
import zipfile

import numpy as np
import pytest
import torch

from mchmc.chroma import (
    ChromaConfig,
    ChromaEngine,
    ChromaNet,
    inputs,
    load_chroma,
    save_chroma,
)
from mchmc.engine import Region
from mchmc.errors import ModelFileError
from mchmc.train.chroma import (
    MARGIN,
    ChromaTraining,
    chroma_gains,
    init_body,
    margin,
    sample,
    train_chroma,
)


def random_net(seed=0, config=ChromaConfig(channels=8, layers=3)) -> ChromaNet:
    torch.manual_seed(seed)
    net = ChromaNet(config)
    for p in net.parameters():  # the shipped init is the bicubic (zero output); these tests need a non-trivial net
        torch.nn.init.normal_(p, std=0.2)
    return net.eval()


def planes(h=37, w=29, seed=1) -> np.ndarray:
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_a_new_network_is_the_bicubic():
    """Zero-initialised output layer: training starts from today's chroma and only adds what helps."""
    dcb, dcr = ChromaEngine(ChromaNet(), level=2).run(planes(), Region(0, 37, 0, 29))
    assert dcb.shape == dcr.shape == (74, 58)
    assert not dcb.any() and not dcr.any()


@pytest.mark.parametrize("tile", [1, 5, 16, 256])
def test_tiles_equal_the_whole_region(tile):
    ycc = planes()
    whole = ChromaEngine(random_net(), 1, tile=1000).run(ycc, Region(0, 37, 0, 29))
    tiled = ChromaEngine(random_net(), 1, tile=tile).run(ycc, Region(0, 37, 0, 29))
    for a, b in zip(whole, tiled):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_the_engine_runs_the_network_as_given_and_leaves_it_as_it_was():
    """Channels-last inside the engine (speed) changes no sum beyond float rounding, and not the caller's
    model: a network still in training keeps its layout, so its resume stays bit for bit."""
    net, ycc = random_net(), planes(20, 18)
    before = {k: v.stride() for k, v in net.state_dict().items()}
    dcb, dcr = ChromaEngine(net, 2).run(ycc, Region(0, 20, 0, 18))
    assert {k: v.stride() for k, v in net.state_dict().items()} == before
    halo = net.config.halo
    x = np.stack([np.pad(p, halo, mode="edge") for p in inputs(ycc[..., 0], ycc[..., 1], ycc[..., 2], 2)])
    with torch.no_grad():
        want = net(torch.from_numpy(x)[None])[0].numpy()
    np.testing.assert_allclose(dcb, want[0], atol=1e-6)
    np.testing.assert_allclose(dcr, want[1], atol=1e-6)


def test_a_strip_with_its_halo_equals_those_rows_of_the_whole_page():
    """The page path hands the network a strip of rows plus the halo (the border replicated only at the
    page's own edge): its output rows are the whole page's."""
    net, ycc = random_net(), planes(40, 23)
    whole_cb, whole_cr = ChromaEngine(net, 3).run(ycc, Region(0, 40, 0, 23))
    halo = net.config.halo
    for r0, r1 in ((0, 10), (10, 25), (25, 40)):
        a, b = max(0, r0 - halo), min(40, r1 + halo)
        cb, cr = ChromaEngine(net, 3).run(ycc[a:b], Region(r0 - a, r1 - a, 0, 23))
        np.testing.assert_allclose(cb, whole_cb[2 * r0 : 2 * r1], atol=1e-5)
        np.testing.assert_allclose(cr, whole_cr[2 * r0 : 2 * r1], atol=1e-5)


def test_the_level_changes_the_correction():
    net, ycc = random_net(), planes()
    a = ChromaEngine(net, 0).run(ycc, Region(0, 37, 0, 29))[0]
    b = ChromaEngine(net, 3).run(ycc, Region(0, 37, 0, 29))[0]
    assert np.abs(a - b).max() > 1e-3
    with pytest.raises(ValueError, match="0..3"):
        ChromaEngine(net, 4)


def test_save_and_load_round_trip(tmp_path):
    net = random_net(config=ChromaConfig(channels=12, layers=4))
    path = save_chroma(net, tmp_path / "c.pt", {"step": 3})
    back = load_chroma(path)
    assert back.config == net.config
    for (k, v), (k2, v2) in zip(net.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def _payload(**changes):
    net = random_net()
    import json
    from dataclasses import asdict
    payload = {"format": "mchmc-chroma", "version": 1, "config": json.dumps(asdict(net.config)), "provenance": "{}",
               "state_dict": net.state_dict()}
    payload.update(changes)
    return payload


class Boom:
    def __reduce__(self):
        return (print, ("code ran",))


@pytest.mark.parametrize("case, expect", [
    ("empty", "empty"),
    ("garbage", "not a"),
    ("pickle", "not an mchmc"),
    ("zip-not-torch", "not a valid torch archive"),
    ("code", "not an mchmc"),
    ("format", "no 'mchmc-chroma'"),
    ("version", "no 'mchmc-chroma'"),
    ("huge", "out of range"),
    ("shapes", "bad chroma model"),
])
def test_hostile_model_files_are_refused_in_one_line(tmp_path, case, expect, capsys):
    path = tmp_path / "c.pt"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    elif case == "pickle":
        path.write_bytes(pickle.dumps({"format": "mchmc-chroma"}))
    elif case == "zip-not-torch":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("data.pkl", b"nothing")
    elif case == "code":
        torch.save({"format": "mchmc-chroma", "x": Boom()}, path)
    elif case == "format":
        torch.save(_payload(format="mchmc-model"), path)
    elif case == "version":
        torch.save(_payload(version=2), path)
    elif case == "huge":
        torch.save(_payload(config='{"channels": 100000, "layers": 3, "scale": 2}'), path)
    elif case == "shapes":
        torch.save(_payload(config='{"channels": 9, "layers": 3, "scale": 2}'), path)
    with pytest.raises(ModelFileError, match=expect) as err:
        load_chroma(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)
    assert "code ran" not in capsys.readouterr().out


def test_a_training_sample_is_the_page_path_in_small():
    cfg = ChromaTraining(model=ChromaConfig(channels=8, layers=3), patch=12)
    img = (np.random.default_rng(0).random((80, 90, 3)) * 255).astype(np.uint8)
    x, y = sample(np.random.default_rng(1), img, cfg)
    assert x.shape == (4, 12 + 6, 12 + 6) and y.shape == (2, 24, 24)
    assert x[3].min() == x[3].max() and x[3, 0, 0] in (0, 1 / 3, 2 / 3, 1)  # the level plane
    assert 2 * (12 + 2 * MARGIN) <= 80


def test_a_deeper_network_than_the_margin_gets_its_whole_window():
    """A chroma network whose halo (10) is larger than the patch margin (8) once got a window cut from
    before the patch's first pixel: an empty or short input, so deeper networks could not be trained."""
    cfg = ChromaTraining(model=ChromaConfig(channels=8, layers=10), patch=12)
    assert margin(cfg) >= cfg.model.halo + 2 and margin(ChromaTraining()) == MARGIN  # the shipped net's samples unchanged
    img = (np.random.default_rng(0).random((120, 120, 3)) * 255).astype(np.uint8)
    x, y = sample(np.random.default_rng(1), img, cfg)
    assert x.shape == (4, 12 + 20, 12 + 20) and y.shape == (2, 24, 24)
    assert tuple(ChromaNet(cfg.model)(torch.from_numpy(x)[None]).shape) == (1, 2, 24, 24)


def test_a_deep_network_initialised_he_keeps_its_features_scale():
    """Nine ReLU layers at PyTorch's default init hand the output layer features a fourteenth of the
    input's scale (such a network did not leave the bicubic in 2,000 steps); with ``init="he"`` they keep
    the input's scale."""
    x = torch.from_numpy(np.random.default_rng(0).random((1, 4, 48, 48), dtype=np.float32))

    def last_features_std(init: str) -> float:
        torch.manual_seed(0)
        net = init_body(ChromaNet(ChromaConfig(channels=32, layers=9)), init)
        h = x
        with torch.no_grad():
            for conv in net.body:
                h = torch.relu(conv(h))
        return float(h.std())

    assert last_features_std("torch") < 0.1 * float(x.std()) < 0.5 * float(x.std()) < last_features_std("he")
    assert torch.equal(init_body(ChromaNet(), "he").out.weight, torch.zeros_like(ChromaNet().out.weight))
    with pytest.raises(ValueError, match="init"):
        init_body(ChromaNet(), "xavier")


def test_training_runs_resumes_and_keeps_the_best_on_validation(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(9):
        base = rng.random((4, 4, 3))
        img = np.kron(base, np.ones((24, 24, 1))) * 200 + rng.random((96, 96, 3)) * 40
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(img.astype(np.uint8)).save(paths[-1])
    cfg = ChromaTraining(model=ChromaConfig(channels=8, layers=3), patch=16, batch=4, steps=4, checkpoint_every=2,
                         validate_every=2)
    best = train_chroma(paths, tmp_path / "run", cfg, log=lambda m: None)
    assert best.exists() and (tmp_path / "run" / "last.pt").exists()
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[0].startswith("step,loss,gain_db")
    logs = []
    train_chroma(paths, tmp_path / "run", ChromaTraining(**{**cfg.__dict__, "steps": 6}), log=logs.append)
    assert logs[0] == "resumed at step 4" and len((tmp_path / "run" / "metrics.csv").read_text().splitlines()) == 4
    gains = chroma_gains(load_chroma(best), [np.asarray(Image.open(paths[0]))], {2: 60})
    assert set(gains) == {2} and len(gains[2]) == 4


# ------------------------------------------------------------------ in the page path

def _rgb_page(h, w, seed=5, mode="RGB"):
    from mchmc.pages.meta import Page, PageMeta

    px = np.random.default_rng(seed).integers(0, 256, (h, w, len(mode)), dtype=np.uint8)
    return Page(px, PageMeta(path="mem", format="JPEG", mode=mode, bits=8, width=w, height=h, dpi=(300.0, 300.0)))


@pytest.fixture(scope="module")
def engine():
    from pages import random_engine

    return random_engine(tile=24)


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_the_page_gets_exactly_the_networks_correction(engine, mode):
    """Output chroma = bicubic + the network's correction on the whole page (Y and alpha unchanged)."""
    from mchmc import colour
    from mchmc.pages import upscale_page
    from mchmc.resize import imresize

    page, net = _rgb_page(33, 27, mode=mode), random_net(config=ChromaConfig(channels=8, layers=3))
    plain = upscale_page(page, engine)
    cleaned = upscale_page(page, engine, chroma=ChromaEngine(net, 2), strip_pixels=10 * 27)  # 10-row strips
    ycc = colour.rgb_to_ycbcr(colour.to_unit(page.pixels[..., :3]))
    dcb, dcr = ChromaEngine(net, 2).run(ycc, Region(0, 33, 0, 27))
    y = engine.run(np.ascontiguousarray(ycc[..., 0])).sr
    up = np.dstack([y, imresize(ycc[..., 1], 2, dtype=np.float32) + dcb, imresize(ycc[..., 2], 2, dtype=np.float32) + dcr])
    ref = colour.from_unit(colour.ycbcr_to_rgb(up))
    assert np.abs(cleaned.pixels[..., :3].astype(int) - ref.astype(int)).max() <= 1
    assert not np.array_equal(cleaned.pixels[..., :3], plain.pixels[..., :3])
    if mode == "RGBA":
        assert np.array_equal(cleaned.pixels[..., 3], plain.pixels[..., 3])
    assert cleaned.probs == plain.probs  # the category never depends on the chroma


def test_bands_with_the_chroma_network_stitch_to_the_whole_page(engine):
    from mchmc.pages import upscale_page
    from mchmc.pages.upscale import band_rows, finish_page, upscale_band

    page, chroma = _rgb_page(61, 23), ChromaEngine(random_net(config=ChromaConfig(channels=8, layers=6)), 1)
    whole = upscale_page(page, engine, chroma=chroma)
    bands = [upscale_band(page, engine, r0, r1, strip_pixels=8 * 23, chroma=chroma) for r0, r1 in band_rows(61, 4)]
    assert np.array_equal(finish_page(page.meta, bands, engine).pixels, whole.pixels)


def test_gray_pages_never_see_the_chroma_network(engine):
    from mchmc.pages import upscale_page
    from mchmc.pages.meta import Page, PageMeta

    px = np.random.default_rng(2).integers(0, 256, (20, 18), dtype=np.uint8)
    page = Page(px, PageMeta(path="mem", format="JPEG", mode="L", bits=8, width=18, height=20, dpi=(72.0, 72.0)))
    chroma = ChromaEngine(random_net(), 3)
    assert np.array_equal(upscale_page(page, engine, chroma=chroma).pixels, upscale_page(page, engine).pixels)


def test_the_shipped_chroma_model_loads_and_cleans_a_jpeg_page():
    """On a colour photograph stored as JPEG q50, the shipped network's chroma is closer to the original's
    than the bicubic of the JPEG's chroma (the figures over many images are in the model card)."""
    from PIL import Image

    from mchmc.chroma import SHIPPED

    net = load_chroma(SHIPPED)
    hr = np.asarray(Image.open(__import__("conftest").ROOT / "samples" / "landscape.jpg").convert("RGB"))
    gains = chroma_gains(net, [hr], {2: 50})[2]
    assert gains[1] > gains[0] + 0.2 and gains[3] > gains[2] + 0.2


def test_the_cli_cleans_colour_jpegs_only_and_no_chroma_keeps_the_bicubic(tmp_path):
    """`mchmc upscale`: a colour JPEG's chroma changes with the network; a PNG (clean model) and a gray JPEG
    come out byte-identical with and without it; --no-chroma is today's bicubic chroma."""
    import subprocess
    import sys

    from pages import smooth_rgb
    from PIL import Image

    src = tmp_path / "src"
    src.mkdir()
    rgb = (smooth_rgb(40, 56, 3) * 255).round().astype(np.uint8)
    Image.fromarray(rgb).save(src / "clean.png")
    Image.fromarray(rgb).save(src / "q50.jpg", quality=50)
    Image.fromarray(rgb[..., 1]).save(src / "gray.jpg", quality=50)
    outs = {}
    for flag in ("--chroma", "--no-chroma"):
        dst = tmp_path / flag
        res = subprocess.run([sys.executable, "-m", "mchmc.cli.app", "upscale", str(src), "--out", str(dst),
                              "--cpus", "1", flag], capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        outs[flag] = {p.name: p.read_bytes() for p in dst.iterdir() if p.suffix in (".png", ".jpg")}
    assert outs["--chroma"]["clean.png"] == outs["--no-chroma"]["clean.png"]
    assert outs["--chroma"]["gray.jpg"] == outs["--no-chroma"]["gray.jpg"]
    assert outs["--chroma"]["q50.jpg"] != outs["--no-chroma"]["q50.jpg"]
