"""The JPEG quality estimate, and the default output quality that follows from it."""

import numpy as np
import pytest
from PIL import Image

from mchmc.pages.jpegquality import estimate_quality, ijg_table
from mchmc.pages import read_page, upscale_page, write_page


def jpeg(tmp_path, q, gray=False, subsampling=2):
    rng = np.random.default_rng(q)
    a = rng.integers(0, 256, (40, 48) if gray else (40, 48, 3), dtype=np.uint8)
    path = tmp_path / f"q{q}.jpg"
    Image.fromarray(a).save(path, quality=q, subsampling=subsampling)
    return path


@pytest.mark.parametrize("q", [10, 25, 40, 50, 65, 75, 85, 90, 95, 100])
@pytest.mark.parametrize("gray", [False, True])
def test_the_quality_of_a_jpeg_is_estimated_within_5(tmp_path, q, gray):
    with Image.open(jpeg(tmp_path, q, gray)) as im:
        assert abs(estimate_quality(im.quantization) - q) <= 5


def test_estimate_inverts_the_ijg_tables_exactly_where_they_differ():
    for q in (20, 50, 75, 92):
        assert estimate_quality({0: list(ijg_table(q))}) == q
    assert estimate_quality(None) is None and estimate_quality({}) is None


def test_a_jpeg_page_is_written_back_at_its_own_quality_not_95(tmp_path):
    from mchmc.engine import Engine
    from mchmc.model import build_model

    page = read_page(jpeg(tmp_path, 75))
    assert page.meta.jpeg_quality == 75
    up = upscale_page(page, Engine(build_model("mch-mc"), tile=32))
    write_page(up, tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as im:
        assert abs(estimate_quality(im.quantization) - 75) <= 1
    write_page(up, tmp_path / "q90.jpg", quality=90)  # --quality overrides
    with Image.open(tmp_path / "q90.jpg") as im:
        assert abs(estimate_quality(im.quantization) - 90) <= 1
    png = read_page(_png(tmp_path))
    write_page(upscale_page(png, Engine(build_model("mch-mc"), tile=32)), tmp_path / "from-png.jpg", "jpeg")
    with Image.open(tmp_path / "from-png.jpg") as im:
        assert abs(estimate_quality(im.quantization) - 95) <= 1, "no JPEG source: 95"


def _png(tmp_path):
    path = tmp_path / "p.png"
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(path)
    return path
