"""data.noise_copies: each training image's LR side degraded several times, each copy with its own JPEG
steps, so a category of few images (Manga109's 82 training covers) meets a noise level's whole range.

The HR plane is stored once; every copy's patches train; copy 0 is the single-copy store's plane bit for
bit, and a store grown from fewer copies computes only the new ones."""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_data import synth_config

from mchmc.train.config import ConfigError
from mchmc.train.data import hr_lr_y, load_rgb
from mchmc.train.patches import PatchStore, prepare


def _store(tmp_path, copies: int, cache: str = "cache", level: int = 1):
    cfg = synth_config(tmp_path, **{"data.noise_level": level, "data.noise_copies": copies,
                                    "data.cache_dir": str(tmp_path / cache)})
    return prepare(cfg.data, 2)


def test_copies_share_the_hr_plane_and_each_has_its_own_lr_plane(tmp_path):
    one, three = _store(tmp_path, 1), _store(tmp_path, 3)
    assert three.key != one.key
    a, b = PatchStore(one.path), PatchStore(three.path)
    assert b.manifest["hr_pixels"] == a.manifest["hr_pixels"], "HR stored once"
    assert b.manifest["lr_pixels"] == 3 * a.manifest["lr_pixels"]
    assert len(b.index) == 3 * len(a.index)
    assert b.counts() == {c: 3 * n for c, n in a.counts().items()}
    assert b.image_counts() == a.image_counts() == three.images, "images are counted once, not per copy"
    differ = 0
    for key, first in a.ids.items():
        ids = b.copies[key]
        assert len(ids) == 3 and b.ids[key] == ids[0]
        assert np.array_equal(b.plane(ids[0], lr=True), a.plane(first, lr=True)), "copy 0 is the 1-copy plane"
        assert all(np.array_equal(b.plane(i), a.plane(first)) for i in ids), "every copy has the same target"
        differ += not np.array_equal(b.plane(ids[1], lr=True), b.plane(ids[2], lr=True))
    assert differ >= len(a.ids) // 2, "the copies draw their own JPEG steps"


def test_copy_0_is_what_a_single_copy_store_always_held(tmp_path):
    """Copy 0 draws its JPEG steps from the image's own name, as every store before copies did, so planes of
    earlier stores are still the right ones to reuse."""
    st = PatchStore(_store(tmp_path, 2).path)
    for (category, name), ids in st.copies.items():
        path = tmp_path / "imgs" / category / name
        _, lr = hr_lr_y(load_rgb(path), 2, (1, 0), name)  # degrade's key: the name alone
        stored = st.plane(ids[0], lr=True)
        np.testing.assert_allclose(stored, np.rint(np.clip(lr, 0, 1) * 65535) / 65535, atol=1e-7)


def test_an_images_rows_are_every_copys_patches(tmp_path):
    st = PatchStore(_store(tmp_path, 2).path)
    key = next(iter(st.ids))
    rows = st.rows_for([key])
    assert sorted(set(st.index[rows, 0].tolist())) == st.copies[key]
    per_copy = [st.index[rows][st.index[rows, 0] == i, 1:] for i in st.copies[key]]
    assert np.array_equal(per_copy[0], per_copy[1]), "the same positions in each copy"


def test_more_copies_compute_only_the_new_planes_and_match_a_fresh_build(tmp_path):
    two = _store(tmp_path, 2)
    assert not two.cache_hit
    three = _store(tmp_path, 3)
    n_images = sum(three.images.values())
    assert three.computed == n_images, "copies 0 and 1 are read back from the 2-copy store"
    fresh = _store(tmp_path, 3, cache="fresh")
    assert fresh.key == three.key and fresh.computed == 3 * n_images
    for name in ("hr.u16", "lr.u16", "index.npy"):
        assert (three.path / name).read_bytes() == (fresh.path / name).read_bytes(), name
    assert json.loads((three.path / "manifest.json").read_text())["images"] == \
        json.loads((fresh.path / "manifest.json").read_text())["images"]


def test_copies_of_a_clean_store_are_one_store(tmp_path):
    """Without a noise level every copy would be the same plane: the store is the clean one, key and all."""
    assert _store(tmp_path, 4, level=-1).key == _store(tmp_path, 1, level=-1).key


@pytest.mark.parametrize("copies", [0, 33])
def test_a_copy_count_out_of_range_is_refused_in_one_line(tmp_path, copies):
    with pytest.raises(ConfigError, match="noise_copies"):
        synth_config(tmp_path, **{"data.noise_copies": copies})
