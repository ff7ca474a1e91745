"""JPEG degradation of training LR images (issue 14, step 1): deterministic per
seed, gray stays gray, qualities in each level's range, real 8 x 8 blocks."""
import io

import numpy as np
import pytest
from PIL import Image

from mchmc.pages.jpegquality import estimate_quality
from mchmc.train.degrade import LEVELS, JpegSteps, degrade, degrade_as, image_rng, jpeg_degrade, jpeg_steps

RANGES = {0: (85, 95), 1: (65, 85), 2: (27, 70), 3: (20, 60)}  # first pass, lower levels included


def page(rng, gray=False, h=48, w=64):
    base = np.cumsum(rng.normal(0, 12, (h, w)), axis=1)
    base = np.clip(base - base.min(), 0, 255)
    if gray:
        return base.astype(np.uint8)
    return np.clip(np.stack([base, base[::-1], base[:, ::-1]], -1), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("level", LEVELS)
def test_the_same_seed_and_image_give_the_same_pixels(level, rng):
    lr = page(rng)
    a, sa = degrade(lr, level, seed=7, image_key="nature/img01.png")
    b, sb = degrade(lr, level, seed=7, image_key="nature/img01.png")
    assert sa == sb and np.array_equal(a, b)
    others = {degrade(lr, level, seed=s, image_key="nature/img01.png")[1] for s in range(30)}
    assert len(others) > 5, "another seed, other steps"


@pytest.mark.parametrize("level", LEVELS)
def test_each_level_draws_qualities_in_its_range(level):
    seen = [jpeg_steps(level, image_rng(0, level, f"i{i}")) for i in range(400)]
    firsts = [s.qualities[0] for s in seen if s.qualities]
    lo, hi = RANGES[level]
    assert firsts and min(firsts) >= (0 if level else lo) and max(firsts) <= 95
    assert sum(lo <= q <= hi for q in firsts) > 0.6 * len(firsts), "mostly the level's own range"
    for s in seen:
        assert list(s.qualities) == sorted(s.qualities, reverse=True), "each re-save is worse"
    assert {s.subsampling for s in seen} == {"4:2:0", "4:4:4"}
    clean = sum(not s.qualities for s in seen) / len(seen)
    assert (clean == 0) if level == 3 else 0.1 < clean < 0.3


def test_a_gray_image_stays_gray_and_is_compressed_as_gray(rng):
    gray = page(rng, gray=True)
    out = jpeg_degrade(gray, JpegSteps((50,), "4:2:0"))
    assert out.shape == gray.shape and out.dtype == np.uint8 and not np.array_equal(out, gray)
    rgb_gray = np.repeat(gray[..., None], 3, axis=2)  # a gray scan loaded as RGB
    out3 = jpeg_degrade(rgb_gray, JpegSteps((50,), "4:2:0"))
    assert out3.shape == rgb_gray.shape and np.array_equal(out3[..., 0], out3[..., 2])
    assert np.array_equal(out3[..., 0], out), "the same one-channel JPEG"


def test_one_pass_is_a_real_jpeg_of_that_quality_on_the_image_grid(rng):
    lr = page(rng)
    out = jpeg_degrade(lr, JpegSteps((72,), "4:4:4"))
    buf = io.BytesIO()
    Image.fromarray(lr).save(buf, "JPEG", quality=72, subsampling="4:4:4")
    with Image.open(io.BytesIO(buf.getvalue())) as im:
        assert abs(estimate_quality(im.quantization) - 72) <= 1
        assert np.array_equal(out, np.asarray(im)), "the whole image, blocks from (0, 0)"
    assert np.array_equal(jpeg_degrade(lr, JpegSteps((), "4:2:0")), lr), "no steps: clean"


def test_a_noisy_store_is_its_own_cached_store_and_the_clean_one_keeps_its_key(tmp_path):
    """data.noise_level: the LR planes are degraded, the HR planes are not; the clean store's
    key (what existing caches are found by) is the one it always had."""
    from dataclasses import asdict

    from mchmc.train.patches import PrepParams, PatchStore, prepare, store_key
    from test_data import synth_config

    clean = PrepParams(60, {"nature": 5}, 2)
    legacy = dict(asdict(clean))
    legacy.pop("noise")
    legacy.pop("rendered_stride")  # added later still (rendered text pages), left out the same way
    legacy.pop("extra_stride")  # and the product tiers' extra images (issue 27)
    legacy.pop("noise_copies")  # and degraded copies of each image (issue 27)
    legacy.pop("copy_scales")  # and the sizes those copies are made at (issue 27, session 9)
    legacy.pop("copy_planes")  # and the channels they are made from (issue 27, session 15)
    assert clean.key_doc() == legacy
    assert store_key([], clean) != store_key([], PrepParams(60, {"nature": 5}, 2, noise=(1, 0)))

    plain = prepare(synth_config(tmp_path).data, 2)
    noisy_cfg = synth_config(tmp_path, **{"data.noise_level": 1})
    noisy = prepare(noisy_cfg.data, 2)
    assert noisy.key != plain.key and noisy.computed > 0, "not reused from the clean store"
    assert prepare(noisy_cfg.data, 2).cache_hit
    a, b = PatchStore(plain.path), PatchStore(noisy.path)
    assert np.array_equal(np.asarray(a.hr), np.asarray(b.hr)), "HR stays clean"
    assert not np.array_equal(np.asarray(a.lr), np.asarray(b.lr)), "LR is compressed"


def test_a_level_can_learn_every_one_pass_quality_auto_sends_it():
    """data.noise_one_pass (issue 27, session 12): ``--noise auto`` sends level 3 every page of q54 and
    below, where the table's one pass stops at q45. With (20, 54) the level's own one-pass draws span it;
    every other image (two or three passes, a lower level's steps) draws exactly the table's steps."""
    keys = [f"manga/c{i}.png" for i in range(600)]
    table = [jpeg_steps(3, image_rng(0, 3, k)) for k in keys]
    wide = [jpeg_steps(3, image_rng(0, 3, k), (20, 54)) for k in keys]
    own = [(t, w) for t, w in zip(table, wide) if len(t.qualities) == 1 and 20 <= t.qualities[0] <= 45]
    assert len(own) > 200
    assert max(w.qualities[0] for _, w in own) == 54 and min(w.qualities[0] for _, w in own) == 20
    assert sum(w.qualities[0] > 45 for _, w in own) > 0.15 * len(own), "q46-54: about a quarter"
    assert all(t.subsampling == w.subsampling for t, w in own)
    others = [(t, w) for t, w in zip(table, wide) if (t, w) not in own]
    assert others and all(t == w for t, w in others), "the other shares keep the table's steps"


def test_degrade_as_reads_a_configs_noise_tuple(rng):
    lr = page(rng)
    assert np.array_equal(degrade_as(lr, (3, 5), "a.png")[0], degrade(lr, 3, 5, "a.png")[0])
    one = degrade_as(lr, (3, 5, 50, 50), "b.png")[1]
    assert one == degrade(lr, 3, 5, "b.png", (50, 50))[1]


def test_a_config_sets_its_levels_one_pass_range_and_gets_its_own_store(tmp_path):
    from mchmc.train.config_schema import ConfigError
    from mchmc.train.patches import prepare
    from test_data import synth_config

    table = synth_config(tmp_path, **{"data.noise_level": 3})
    wide = synth_config(tmp_path, **{"data.noise_level": 3, "data.noise_one_pass": [20, 54]})
    assert table.data.noise == (3, 0) and wide.data.noise == (3, 0, 20, 54)
    assert prepare(wide.data, 2).key != prepare(table.data, 2).key
    for bad in ([54, 20], [0, 50], [20, 101], [20]):
        with pytest.raises(ConfigError, match="data.noise_one_pass"):
            synth_config(tmp_path, **{"data.noise_level": 3, "data.noise_one_pass": bad})
    with pytest.raises(ConfigError, match="data.noise_one_pass: needs data.noise_level"):
        synth_config(tmp_path, **{"data.noise_one_pass": [20, 54]})


def test_a_specialist_may_spend_the_lower_levels_share_on_its_own_level(tmp_path):
    """data.noise_lower_share (issue 27, session 13): the percent of a level's images given a lower level's
    steps (the table's 25 when unset). At 0, every image draws its own level's steps; the draws of the images
    that kept their level anyway are unchanged, so the share is the only thing that moved."""
    from mchmc.train.config_schema import ConfigError
    from mchmc.train.patches import prepare
    from test_data import synth_config

    keys = [f"manga/c{i}.png" for i in range(400)]
    table = [jpeg_steps(3, image_rng(0, 3, k), (20, 54)) for k in keys]
    own = [jpeg_steps(3, image_rng(0, 3, k), (20, 54), 0.0) for k in keys]
    lower = [min(t.qualities) > 54 or (len(t.qualities) == 1 and t.qualities[0] < 20) for t in table]
    assert 0.15 < np.mean(lower) < 0.35, "about a quarter take a lower level's (lighter) steps"
    assert not any(min(o.qualities) > 54 for o in own), "none does at 0"
    lr = page(np.random.default_rng(3))
    assert degrade_as(lr, (3, 5, 20, 54, 0), "a.png")[1] == degrade(lr, 3, 5, "a.png", (20, 54), 0.0)[1]
    assert degrade_as(lr, (3, 5, 20, 54, 25), "a.png")[1] == degrade(lr, 3, 5, "a.png", (20, 54))[1]

    cfg = synth_config(tmp_path, **{"data.noise_level": 3, "data.noise_lower_share": 0})
    assert cfg.data.noise == (3, 0, 20, 45, 0), "the table's one pass filled in"
    assert prepare(cfg.data, 2).key != prepare(synth_config(tmp_path, **{"data.noise_level": 3}).data, 2).key
    for bad, why in ((101, "percent"), (-2, "percent")):
        with pytest.raises(ConfigError, match=f"data.noise_lower_share: .*{why}"):
            synth_config(tmp_path, **{"data.noise_level": 3, "data.noise_lower_share": bad})
    with pytest.raises(ConfigError, match="data.noise_lower_share: needs data.noise_level"):
        synth_config(tmp_path, **{"data.noise_lower_share": 0})
    with pytest.raises(ConfigError, match="data.noise_lower_share: level 0 has no lower level"):
        synth_config(tmp_path, **{"data.noise_level": 0, "data.noise_lower_share": 50})
