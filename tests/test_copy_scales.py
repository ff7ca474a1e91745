"""data.copy_scales: an image's copies made at several sizes, each a training image reduced before its LR side
is taken (issue 27, session 9: +0.08 dB on the manga validation crops at q50, bench/scale_pilot.py).

Copy k is made at ``copy_scales[k % n]``; the store holds one HR plane per size and an LR plane per copy; a
reduced copy belongs to its image (its rows come and go with the image's, so a validation or test image
never trains through its copies), and its planes are known by their size, never mistaken for a full-size
copy's."""
from __future__ import annotations

import numpy as np
import pytest
from test_data import synth_config

from mchmc.resize import imresize
from mchmc.train.config import ConfigError
from mchmc.train.data import even_crop, hr_lr_y, load_rgb
from mchmc.train.patches import PatchStore, prepare

Q = 65535.0


def _store(tmp_path, copies: int, scales=(), cache: str = "cache", level: int = 1):
    cfg = synth_config(tmp_path, **{"data.noise_level": level, "data.noise_copies": copies,
                                    "data.copy_scales": list(scales), "data.cache_dir": str(tmp_path / cache)})
    return prepare(cfg.data, 2)


def _expected(path, size: float, copy: int, level: int = 1):
    """The (HR, LR) planes a copy at ``size`` must hold, computed here from the file."""
    name = path.name if copy == 0 else f"{path.name}#{copy}"
    noise = (level, 0) if level >= 0 else None
    hr, lr = hr_lr_y(load_rgb(path), 2, noise, name, 1, size)
    return np.rint(np.clip(hr, 0, 1) * Q) / Q, np.rint(np.clip(lr, 0, 1) * Q) / Q


def test_each_copy_is_its_image_reduced_to_its_size(tmp_path):
    st = PatchStore(_store(tmp_path, 4, (1, 0.8)).path)
    for (category, name), ids in st.copies.items():
        path = tmp_path / "imgs" / category / name
        full = even_crop(load_rgb(path), 2).shape[:2]
        small = even_crop(imresize(load_rgb(path), 0.8), 2).shape[:2]
        assert [tuple(st.images[i]["shape"]) for i in ids] == [full, small, full, small]
        for copy, i in enumerate(ids):
            hr, lr = _expected(path, (1, 0.8)[copy % 2], copy)
            np.testing.assert_allclose(st.plane(i), hr, atol=1e-7)
            np.testing.assert_allclose(st.plane(i, lr=True), lr, atol=1e-7)


def test_copies_of_one_size_share_its_hr_plane(tmp_path):
    res = _store(tmp_path, 4, (1, 0.8))
    st = PatchStore(res.path)
    for ids in st.copies.values():
        offsets = [st.images[i]["hr_offset"] for i in ids]
        assert offsets[0] == offsets[2] and offsets[1] == offsets[3] and offsets[0] != offsets[1]
    hr_bytes = (res.path / "hr.u16").stat().st_size
    assert st.manifest["hr_pixels"] * 2 == hr_bytes, "the totals count each size's plane once"
    assert st.manifest["lr_pixels"] * 2 == (res.path / "lr.u16").stat().st_size


def test_a_reduced_copy_trains_with_its_image_and_only_with_it(tmp_path):
    """rows_for(an image) is every copy's patches, the reduced ones included, and nothing of another image:
    the split (validation, test) holds for the copies as for the images."""
    st = PatchStore(_store(tmp_path, 2, (1, 0.8)).path)
    keys = list(st.ids)
    rows = st.rows_for(keys[:1])
    assert sorted(set(st.index[rows, 0].tolist())) == st.copies[keys[0]]
    others = {i for k in keys[1:] for i in st.copies[k]}
    assert not others & set(st.index[rows, 0].tolist())
    small = st.copies[keys[0]][1]
    assert (st.index[rows, 0] == small).sum() < (st.index[rows, 0] == st.copies[keys[0]][0]).sum(), \
        "a smaller copy has fewer patches"


def test_a_reduced_copy_is_never_read_back_as_a_full_size_one(tmp_path):
    """Planes are reused across stores by content, copy and size: growing a 3-copy store into one whose copy
    1 is reduced computes copy 1 anew and reads copies 0 and 2 back."""
    plain = _store(tmp_path, 3)
    scaled = _store(tmp_path, 3, (1, 0.8))
    n_images = sum(scaled.images.values())
    assert scaled.key != plain.key
    assert scaled.computed == n_images, "only copy 1 (the reduced one) is computed"
    fresh = _store(tmp_path, 3, (1, 0.8), cache="fresh")
    for name in ("hr.u16", "lr.u16", "index.npy"):
        assert (scaled.path / name).read_bytes() == (fresh.path / name).read_bytes(), name


def test_a_clean_store_with_sizes_makes_its_copies(tmp_path):
    """Without noise, copies at one size are the same plane, but copies at other sizes are new images."""
    one = _store(tmp_path, 1, level=-1)
    two = _store(tmp_path, 2, (1, 0.7), level=-1)
    assert two.key != one.key
    st = PatchStore(two.path)
    assert all(len(ids) == 2 for ids in st.copies.values())
    assert all(st.images[a]["shape"] != st.images[b]["shape"] for a, b in st.copies.values())


def test_a_store_without_sizes_keeps_its_key(tmp_path):
    assert _store(tmp_path, 3, (), cache="a").key == _store(tmp_path, 3, cache="b").key


@pytest.mark.parametrize("copies, scales, says", [
    (2, (1, 0.1), "0.25..1"),
    (2, (1, 1.5), "0.25..1"),
    (2, (1, 0.8, 0.64), "at least one copy per scale"),
])
def test_a_bad_size_list_is_refused_naming_the_key(tmp_path, copies, scales, says):
    with pytest.raises(ConfigError, match=f"copy_scales.*{says}"):
        _store(tmp_path, copies, scales)


@pytest.mark.parametrize("entry", [{"copy": "x"}, {"scale": "big"}, {"scale": None}, {"copy": [1]}])
def test_a_damaged_entry_in_an_earlier_store_is_skipped_not_fatal(tmp_path, entry):
    """Earlier stores are read for planes to reuse; an entry whose copy or size is not a number is one plane
    less to reuse, and the new store is built as if it were not there."""
    import json

    first = _store(tmp_path, 2, (1, 0.8))
    manifest = first.path / "manifest.json"
    doc = json.loads(manifest.read_text())
    doc["images"][0].update(entry)
    manifest.write_text(json.dumps(doc))
    grown = _store(tmp_path, 3, (1, 0.8))
    assert not grown.cache_hit and grown.computed == sum(grown.images.values()) + 1


def test_the_clean_images_of_a_size_are_made_once_for_all_its_copies(tmp_path, monkeypatch):
    """Reducing and downscaling an image is the costly part of a build; only the JPEG steps differ between
    copies of one size. The planes are those of the file, as every test above checks."""
    from mchmc.train import planes

    calls = []
    real = planes.clean_images
    monkeypatch.setattr(planes, "clean_images", lambda *a: calls.append(a[1:]) or real(*a))
    res = _store(tmp_path, 6, (1, 0.8, 0.64))
    assert len(calls) == 3 * sum(res.images.values()) and res.computed == 6 * sum(res.images.values())
