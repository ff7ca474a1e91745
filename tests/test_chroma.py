"""The chroma network (issue 27, colour on JPEG pages): exact under tiling, safe to load, trainable."""
import pickle
import zipfile

import numpy as np
import pytest
import torch

from mchmc.chroma import ChromaConfig, ChromaEngine, ChromaNet, load_chroma, save_chroma
from mchmc.engine import Region
from mchmc.errors import ModelFileError
from mchmc.train.chroma import (
    MARGIN,
    ChromaTraining,
    chroma_gains,
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
    ("zip-not-torch", "not an mchmc"),
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
