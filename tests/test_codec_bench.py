"""``bench/codec.py``: the network stand-in is what the README says it is (a correctly sized Y plane, each
LR pixel repeated), the real page path runs around it, and ``codec_ceiling`` returns the figures
``bench/gpu.py`` reads. Speed itself is never asserted here."""
from __future__ import annotations

import sys

import numpy as np
from conftest import ROOT
from PIL import Image

sys.path.insert(0, str(ROOT / "bench"))
from codec import IdentityNet, codec_ceiling  # noqa: E402

from mchmc.engine import Region  # noqa: E402
from mchmc.modelfile import load_model  # noqa: E402
from mchmc.pages import read_page  # noqa: E402
from mchmc.pages.upscale import upscale_page  # noqa: E402


def test_the_stand_in_returns_each_lr_pixel_repeated_in_place():
    net = IdentityNet(load_model().model.config)
    plane = np.random.default_rng(0).random((7, 9), dtype=np.float32)
    out = np.full((8, 18), -1.0, np.float32)
    res = net.run(plane, Region(2, 6, 0, 9), out=out)
    assert res.sr is out and res.gap is None
    assert np.array_equal(out, np.repeat(np.repeat(plane[2:6], 2, 0), 2, 1))


def test_a_gray_page_through_the_stand_in_is_its_pixels_repeated(tmp_path):
    """Y of a gray page is its level, so the real path around the stand-in gives the page's pixels
    repeated 2x2 back: nothing of the path is skipped or faked but the network."""
    px = np.random.default_rng(1).integers(0, 256, (40, 30), dtype=np.uint8)
    Image.fromarray(px).save(tmp_path / "g.png")
    up = upscale_page(read_page(tmp_path / "g.png"), IdentityNet(load_model().model.config), classify=False)
    assert up.pixels.shape == (80, 60) and up.probs is None
    assert np.array_equal(up.pixels, np.repeat(np.repeat(px, 2, 0), 2, 1))


def test_codec_ceiling_reports_every_input_format(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).save(tmp_path / "b.jpg", quality=90)
    res = codec_ceiling([tmp_path / "a.png", tmp_path / "b.jpg"], full=False, work=tmp_path / "work")
    assert set(res["formats"]) == {"PNG", "JPEG"} and res["threads"] == 1
    for f in res["formats"].values():
        assert f["pages"] == 1 and f["lr_mp"] == 48 * 64 / 1e6 and f["codec_mp_s"] > 0 and f["full_mp_s"] == {}
        assert {"read", "colour", "chroma", "stand-in", "encode + write"} <= set(f["stages_s_per_mp"])
    assert sorted(p.name for p in (tmp_path / "work" / "out").iterdir()) == ["a.png", "b.jpg"]
