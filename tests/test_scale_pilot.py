"""``bench/scale_pilot.py``: both variants get the same number of JPEG draws per image; the ``scales`` variant
spreads them over the sizes in turn, each reduced copy degraded at its own size. What the variants gain is the
pilot's measurement (docs/quality-tier.md, "Session 9"), never asserted here."""
from __future__ import annotations

import sys
from types import SimpleNamespace

import numpy as np
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import scale_pilot

from mchmc.resize import imresize


def _images(monkeypatch, level: int, draws: int, scales: list[float]):
    rng = np.random.default_rng(0)
    covers = [rng.integers(0, 256, (90, 70, 3), dtype=np.uint8) for _ in range(2)]
    monkeypatch.setattr(scale_pilot, "category_images",
                        lambda cfg, category: ((f"c{i}.png", hr, imresize(hr, 0.5)) for i, hr in enumerate(covers)))
    cfg = SimpleNamespace(data=SimpleNamespace(noise_level=level))
    return scale_pilot.training_images(cfg, "manga", draws, scales, 100)


def test_the_draws_take_the_sizes_in_turn(monkeypatch):
    got = _images(monkeypatch, 3, 6, [1, 0.8, 0.64])
    assert len(got) == 12
    shapes = [hr.shape for _, hr, _ in got[:6]]
    assert shapes == [(90, 70), (72, 56), (58, 44)] * 2
    for lr, hr, _ in got:
        assert lr.shape == (hr.shape[0] // 2, hr.shape[1] // 2)
    assert not np.array_equal(got[0][0], got[3][0]), "two draws at one size are two JPEG draws"


def test_the_control_keeps_every_draw_at_full_size(monkeypatch):
    got = _images(monkeypatch, 3, 4, [1.0])
    assert {hr.shape for _, hr, _ in got} == {(90, 70)}


def test_a_clean_config_copies_the_image_as_it_is(monkeypatch):
    got = _images(monkeypatch, -1, 2, [1, 0.8])
    assert [hr.shape for _, hr, _ in got[:2]] == [(90, 70), (72, 56)]
