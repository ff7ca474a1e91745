"""Dataset spec, folds, patch geometry, the patch store and alpha (synthetic images; no ../shared needed)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mchmc.train.config import load_config
from mchmc.train.config import with_overrides
from mchmc.train.data import DataError, even_crop, hr_lr_y, load_rgb, make_folds, parse_fold, split_images
from mchmc.model import build_model
from mchmc.train.patches import Geometry, PatchStore, class_weights, positions, prepare
from mchmc.train.run import open_run

CATS = ("nature", "manga", "text")


def synth_dataset(root: Path, n: int = 5, size: tuple[int, int] = (96, 104), seed: int = 0) -> Path:
    """Smooth random RGB images in one folder per category."""
    rng = np.random.default_rng(seed)
    for c in CATS:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            h, w = size
            base = rng.random((h // 8 + 1, w // 8 + 1, 3))
            img = np.kron(base, np.ones((8, 8, 1)))[:h, :w] * 200 + rng.random((h, w, 3)) * 40
            Image.fromarray(img.astype(np.uint8)).save(root / c / f"{c}_{i:02d}.png")
    return root


def synth_config(tmp_path: Path, **over):
    root = synth_dataset(tmp_path / "imgs")
    ov = {"data.root": str(root), "data.cache_dir": str(tmp_path / "cache"), "data.limit": 0,
          "data.folders": {c: c for c in CATS}, "data.stride": {"nature": 10, "manga": 20, "text": 10}}
    ov.update(over)
    return load_config("smoke", ov)


def test_folds_are_fixed_and_machine_independent():
    names = [f"img_{i:03d}.png" for i in range(1, 11)]
    got = make_folds(list(reversed(names)), 5, 20240611, 0)  # input order does not matter
    assert got == {"img_002.png": 1, "img_010.png": 2, "img_005.png": 3, "img_009.png": 4, "img_004.png": 5,
                   "img_008.png": 1, "img_007.png": 2, "img_003.png": 3, "img_001.png": 4, "img_006.png": 5}
    assert make_folds(names, 5, 20240611, 0) == got
    assert make_folds(names, 5, 20240612, 0) != got  # the seed matters
    big = make_folds([f"x{i}" for i in range(109)], 5, 1, 2)
    sizes = np.bincount(list(big.values()))[1:]
    assert sizes.tolist() == [22, 22, 22, 22, 21]


def test_split_holds_out_one_fold(tmp_path):
    cfg = synth_config(tmp_path)
    s = split_images(cfg, CATS, 2)
    test_names = {(r.category, r.name) for r in s.test}
    assert test_names and not test_names & {(r.category, r.name) for r in s.train}
    assert all(s.folds[r.category][r.name] == 2 for r in s.test)
    assert len(s.train) + len(s.val) + len(s.test) == 15
    everything = split_images(cfg, CATS, None)
    assert len(everything.train) + len(everything.val) == 15
    assert split_images(cfg, CATS, 2).folds == s.folds  # deterministic


def test_validation_is_carved_from_the_training_folds_and_never_trained_on(tmp_path):
    """Issue 14, item 4: configs and checkpoints are chosen on images of the training folds, held out of
    training; the test fold is never looked at until the end."""
    cfg = with_overrides(synth_config(tmp_path), {"train.val_images": 1})
    s = split_images(cfg, CATS, 2)
    val, train, test = ({(r.category, r.name) for r in x} for x in (s.val, s.train, s.test))
    assert len(val) == len(CATS) and {c for c, _ in val} == set(CATS)  # one per category
    assert not val & train and not val & test
    assert all(s.folds[c][n] != 2 for c, n in val)  # from the training folds
    assert split_images(cfg, CATS, 2).val == s.val  # seeded: the same images every time
    old = split_images(with_overrides(cfg, {"train.validation": "test"}), CATS, 2)
    assert {(r.category, r.name) for r in old.val} <= test and len(old.train) == len(s.train) + len(s.val)


def test_parse_fold():
    assert parse_fold("all", 5) is None and parse_fold("3", 5) == 3
    for bad in ("0", "6", "x"):
        with pytest.raises(DataError, match="fold must be 1..5"):
            parse_fold(bad, 5)


def test_run_dir_keeps_config_and_folds(tmp_path):
    cfg = synth_config(tmp_path)
    run = open_run(cfg, "SRforMC", "1", tmp_path / "runs")
    assert run.dir.name == "SRforMC-fold1-smoke"
    doc = json.loads((run.dir / "folds.json").read_text())
    assert doc["test_fold"] == 1 and set(doc["folds"]) == set(CATS)
    assert load_config(run.dir / "config.toml") == cfg


def test_patch_positions_geometry():
    # paper count (L - 60) // stride + 1, offsets on the LR grid (even), mean stride = stride
    p = positions(320, 60, 5, 2)
    assert len(p) == 53 and p[0] == 0 and p[-1] <= 320 - 60 and np.all(p % 2 == 0)
    assert p[:5].tolist() == [0, 4, 10, 14, 20]
    assert positions(480, 60, 5, 2).size == 85 and positions(1170, 60, 10, 2).size == 112
    assert positions(59, 60, 5, 2).size == 0 and positions(60, 60, 5, 2).tolist() == [0]
    g = Geometry(60, build_model("mch").config.scale, build_model("mch").config.halo)
    assert (g.lr, g.margin, g.out) == (30, 10, 40)
    # the net maps a 30x30 LR patch to exactly the 40x40 target
    import torch
    sr, _ = build_model("mch")(torch.zeros(1, 1, g.lr, g.lr))
    assert tuple(sr.shape[-2:]) == (g.out, g.out)


def test_store_gathers_the_right_pixels_and_caches(tmp_path):
    cfg = synth_config(tmp_path)
    res = prepare(cfg.data, 2)
    assert not res.cache_hit
    # 96x104 images: rows (96-60)//10+1 = 4, cols (104-60)//10+1 = 5 at stride 10; manga stride 20: 2 x 3
    assert res.counts == {"nature": 5 * 20, "manga": 5 * 6, "text": 5 * 20}
    assert res.alpha == {"nature": 0.3, "manga": 1.0, "text": 0.3}
    stamp = (res.path / "hr.u16").stat().st_mtime_ns
    again = prepare(cfg.data, 2)
    assert again.cache_hit and again.path == res.path and (res.path / "hr.u16").stat().st_mtime_ns == stamp
    store = PatchStore(res.path)
    g = Geometry(60, 2, 5)
    rows = store.index[[0, 7, 23, len(store.index) - 1]]
    lr, hr = store.gather(rows, g)
    assert lr.shape == (4, 1, 30, 30) and hr.shape == (4, 1, 40, 40) and lr.dtype == np.float32
    for k, (i, y, x) in enumerate(rows):
        e = store.images[i]
        H, L = hr_lr_y(load_rgb(Path(cfg.data.root) / e["category"] / e["name"]), 2)
        np.testing.assert_allclose(hr[k, 0], H[y + 10 : y + 50, x + 10 : x + 50], atol=1e-5)
        np.testing.assert_allclose(lr[k, 0], L[y // 2 : y // 2 + 30, x // 2 : x // 2 + 30], atol=1e-5)
    # changed content -> new key
    Image.fromarray(np.zeros((96, 104, 3), np.uint8)).save(Path(cfg.data.root) / "text" / "text_00.png")
    assert prepare(cfg.data, 2).key != res.key


def test_lr_is_whole_image_matlab_bicubic_of_uint8():
    img = (np.random.default_rng(3).random((33, 41, 3)) * 255).astype(np.uint8)
    hr, lr = hr_lr_y(img, 2)
    assert hr.shape == (32, 40) and lr.shape == (16, 20)
    from mchmc.colour import rgb_to_y, to_unit
    from mchmc.pages.meta import Page, PageMeta
    from mchmc.pages.upscale import upscale_page
    from mchmc.resize import imresize
    lr8 = imresize(even_crop(img, 2), 0.5)
    np.testing.assert_allclose(lr, rgb_to_y(to_unit(lr8)), atol=1e-6)
    # and bit for bit the Y the upscaler feeds the network for that LR image as a page (issue 30)
    fed = []

    class Spy:  # an engine that records its input plane
        config = type("C", (), {"scale": 2, "halo": 0, "has_classifier": False, "channels": (1, 1)})

        def run(self, plane, region, gap=False, out=None):
            fed.append(plane[region.y0 : region.y1].copy())
            return type("R", (), {"sr": np.zeros(out.shape, np.float32), "gap": None})

    meta = PageMeta(path="", format="PNG", mode="RGB", bits=8, width=lr8.shape[1], height=lr8.shape[0])
    upscale_page(Page(lr8, meta), Spy(), classify=False)
    assert np.array_equal(np.concatenate(fed), lr)


def test_alpha_from_counts():
    # the paper's Table 5 fold 1: alpha 0.4760 / 0.0888 / 1 means counts proportional to 1 / alpha
    counts = {"nature": round(1e6 / 0.4760), "manga": round(1e6 / 0.0888), "text": 1_000_000}
    a = class_weights(counts)
    assert a["text"] == 1.0 and a["nature"] == pytest.approx(0.4760, abs=1e-4)
    assert a["manga"] == pytest.approx(0.0888, abs=1e-4)
    assert class_weights({"nature": 450_500, "manga": 938_430, "text": 778_414})["nature"] == 1.0
    assert class_weights({"nature": 10, "manga": 0}) == {"nature": 1.0, "manga": 0.0}


def _extra_folder(root: Path, name: str, n: int, size: tuple[int, int], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    (root / name).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = (rng.random((*size, 3)) * 255).astype(np.uint8)
        Image.fromarray(img).save(root / name / f"{name}_{i}.png")
    return root / name


def test_extra_images_always_train_in_no_fold_and_never_validate(tmp_path):
    """Issue 27, item 2: T91 / Sun-Hays-style extra nature images are training data only: never a test image,
    never a validation image (validation stays on the paper's sets), the same for every test fold."""
    cfg = synth_config(tmp_path, **{"train.val_images": 1})
    _extra_folder(Path(cfg.data.root), "more", 3, (70, 66), 1)
    extra = with_overrides(cfg, {"data.extra_folders": {"more": "nature"}})
    for fold in (1, 2, None):
        s, base = split_images(extra, CATS, fold), split_images(cfg, CATS, fold)
        added = [r for r in s.train if r.source == "extra"]
        assert sorted(r.name for r in added) == [f"more_{i}.png" for i in range(3)]
        assert all(r.category == "nature" for r in added)
        assert s.test == base.test and s.val == base.val and "more" not in s.folds
        assert [r for r in s.train if r.source != "extra"] == base.train
    only_manga = split_images(extra, ("manga",), 1)  # a method without nature does not see them
    assert not [r for r in only_manga.train if r.source == "extra"]


def test_extra_images_are_reduced_with_matlab_bicubic_before_they_are_hr(tmp_path):
    """Sun-Hays 80 are JPEG q75 (MANIFEST): reduced 1/r first, so their block artefacts are not targets."""
    cfg = synth_config(tmp_path)
    folder = _extra_folder(Path(cfg.data.root), "jpegs", 2, (131, 170), 2)
    extra = with_overrides(cfg, {"data.extra_folders": {"jpegs": "nature"}, "data.extra_reduce": {"jpegs": 2},
                                 "data.extra_stride": 7})
    res = prepare(extra.data, 2)
    store = PatchStore(res.path)
    from mchmc.resize import imresize

    for i in range(2):
        img = load_rgb(folder / f"jpegs_{i}.png")
        e = store.images[store.ids[("nature", f"jpegs_{i}.png")]]
        assert e["shape"] == [64, 84]  # 131 x 170 -> cropped to 130 x 170 -> 65 x 85 -> even 64 x 84
        H, L = hr_lr_y(imresize(img[:130, :170], 0.5), 2)
        np.testing.assert_allclose(store.plane(store.ids[("nature", e["name"])]), H, atol=1e-5)
        np.testing.assert_allclose(store.plane(store.ids[("nature", e["name"])], lr=True), L, atol=1e-5)
    per_image = len(positions(64, 60, 7, 2)) * len(positions(84, 60, 7, 2))
    assert res.counts["nature"] == prepare(cfg.data, 2).counts["nature"] + 2 * per_image
    assert prepare(with_overrides(extra, {"data.extra_reduce": {"jpegs": 3}}).data, 2).key != res.key
    assert prepare(cfg.data, 2).key != res.key


def test_extra_image_keys_are_checked(tmp_path):
    cfg = synth_config(tmp_path)
    with pytest.raises(Exception, match="extra_folders: categories \\['maps'\\]"):
        with_overrides(cfg, {"data.extra_folders": {"x": "maps"}})
    with pytest.raises(Exception, match="extra_reduce: folders \\['y'\\]"):
        with_overrides(cfg, {"data.extra_folders": {"x": "nature"}, "data.extra_reduce": {"y": 2}})
    with pytest.raises(Exception, match="extra_stride: must be >= 1"):
        with_overrides(cfg, {"data.extra_stride": 0})


def test_paper_and_kfold_configs_keep_the_papers_data():
    """The paper's and the K-fold configs train on the paper's three sets only, without augmentation."""
    for name in ("paper", "cpu", "best"):
        cfg = load_config(name)
        assert not cfg.data.extra_folders and not cfg.train.augment_d4
