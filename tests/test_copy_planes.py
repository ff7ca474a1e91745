"""data.copy_planes: copies of a colour image made from one of its channels, taken as a grey image (issue 27,
session 15). A photograph's red, green or blue channel is another photograph of the same scene, its textures
weighed otherwise (foliage in green, sky in blue), as a reduced copy (data.copy_scales) is one with denser detail.

Copy k is made from ``copy_planes[(k // n) % m]`` at size ``copy_scales[k % n]`` (n sizes, m planes); the store
holds one HR plane per size and plane; a plane is known by its channel across stores, never mistaken for the
image's luminance."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from test_data import synth_config

from mchmc.train.config import ConfigError
from mchmc.train.data import grey_plane, hr_lr_y, load_rgb
from mchmc.train.patches import PatchStore, prepare

Q = 65535.0


def _store(tmp_path, copies: int, planes=(), scales=(), cache: str = "cache", level: int = 1):
    cfg = synth_config(tmp_path, **{"data.noise_level": level, "data.noise_copies": copies,
                                    "data.copy_planes": list(planes), "data.copy_scales": list(scales),
                                    "data.cache_dir": str(tmp_path / cache)})
    return prepare(cfg.data, 2)


def _expected(path, plane: str, size: float, copy: int, level: int = 1):
    """The (HR, LR) planes a copy from ``plane`` at ``size`` must hold, computed here from the file."""
    name = path.name if copy == 0 else f"{path.name}#{copy}"
    noise = (level, 0) if level >= 0 else None
    hr, lr = hr_lr_y(grey_plane(load_rgb(path), plane), 2, noise, name, 1, size)
    return np.rint(np.clip(hr, 0, 1) * Q) / Q, np.rint(np.clip(lr, 0, 1) * Q) / Q


def test_a_channel_is_the_colour_image_seen_as_grey():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert grey_plane(rgb, "y") is rgb
    for i, plane in enumerate("rgb"):
        np.testing.assert_array_equal(grey_plane(rgb, plane), rgb[..., i])
    grey = rgb[..., 0]
    assert grey_plane(grey, "b") is grey, "a grey image's every plane is its own"


def test_each_copy_is_made_from_its_plane_after_the_sizes_in_turn(tmp_path):
    planes, scales = ("y", "g"), (1, 0.8)
    st = PatchStore(_store(tmp_path, 4, planes, scales).path)
    for (category, name), ids in st.copies.items():
        path = tmp_path / "imgs" / category / name
        assert [st.images[i].get("plane", "y") for i in ids] == ["y", "y", "g", "g"]
        for copy, i in enumerate(ids):
            hr, lr = _expected(path, planes[copy // 2], scales[copy % 2], copy)
            np.testing.assert_allclose(st.plane(i), hr, atol=1e-7)
            np.testing.assert_allclose(st.plane(i, lr=True), lr, atol=1e-7)
    a, b = st.copies[next(iter(st.copies))][0::2]
    assert np.abs(st.plane(a) - st.plane(b)).mean() > 0.01, "the green plane of a colour image is not its Y"


def test_copies_of_one_size_and_plane_share_an_hr_plane(tmp_path):
    res = _store(tmp_path, 4, ("y", "r"), level=-1)
    st = PatchStore(res.path)
    for ids in st.copies.values():
        offsets = [st.images[i]["hr_offset"] for i in ids]
        assert offsets[0] == offsets[2] and offsets[1] == offsets[3] and offsets[0] != offsets[1]
    assert st.manifest["hr_pixels"] * 2 == (res.path / "hr.u16").stat().st_size


def test_a_channel_copy_is_never_read_back_as_a_luminance_one(tmp_path):
    """Growing a store of copies (y, r) into one of (y, r, b) reads copies 0 and 1 back and computes copy 2;
    a store of three plain copies computes copies 1 and 2 anew (its copy 1 is Y, the other's red)."""
    first = _store(tmp_path, 2, ("y", "r"))
    n_images = sum(first.images.values())
    grown = _store(tmp_path, 3, ("y", "r", "b"))
    assert grown.key != first.key and grown.computed == n_images
    plain = _store(tmp_path, 3)
    assert plain.computed == 2 * n_images
    fresh = _store(tmp_path, 3, ("y", "r", "b"), cache="fresh")
    for name in ("hr.u16", "lr.u16", "index.npy"):
        assert (grown.path / name).read_bytes() == (fresh.path / name).read_bytes(), name


def test_a_grey_image_gives_its_own_plane_for_every_channel(tmp_path):
    cfg = synth_config(tmp_path, **{"data.noise_level": -1, "data.noise_copies": 2, "data.copy_planes": ["y", "b"]})
    path = next((tmp_path / "imgs" / "nature").glob("*.png"))
    Image.fromarray(load_rgb(path)[..., 1]).save(path)  # now mode L
    st = PatchStore(prepare(cfg.data, 2).path)
    a, b = st.copies["nature", path.name]
    np.testing.assert_array_equal(st.plane(a), st.plane(b))


def test_a_store_without_planes_keeps_its_key(tmp_path):
    assert _store(tmp_path, 3, (), cache="a").key == _store(tmp_path, 3, cache="b").key
    assert _store(tmp_path, 3, ("y", "r", "g"), cache="c").key != _store(tmp_path, 3, cache="d").key


@pytest.mark.parametrize("copies, planes, scales, says", [
    (2, ("y", "x"), (), "one of y, r, g, b"),
    (2, ("r", "r"), (), "each once"),
    (2, ("y", "r", "g"), (), "at least one copy per plane and size"),
    (3, ("y", "r"), (1, 0.8), r"at least one copy per plane and size \(4\)"),
])
def test_a_bad_plane_list_is_refused_naming_the_key(tmp_path, copies, planes, scales, says):
    with pytest.raises(ConfigError, match=f"copy_planes.*{says}"):
        _store(tmp_path, copies, planes, scales)


@pytest.mark.parametrize("plane", ["x", None, 3, ["r"]])
def test_a_damaged_plane_in_an_earlier_store_is_skipped_not_fatal(tmp_path, plane):
    first = _store(tmp_path, 2, ("y", "r"))
    manifest = first.path / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["images"][1]["plane"] = plane
    manifest.write_text(json.dumps(doc))
    grown = _store(tmp_path, 3, ("y", "r", "b"))
    assert not grown.cache_hit and grown.computed == sum(grown.images.values()) + 1
