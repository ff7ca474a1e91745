"""A page's category holds at the size it arrives in (issue 19): above ``VIEW_PIXELS`` LR pixels the
head reads the page's view, reduced to about that size; smaller pages are pooled whole, as before;
the view is the same however the page is cut into strips or bands, and ``classify``, ``upscale``
(whole or in bands) and ``explain`` all report the category of the same view."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mchmc.colour import luminance
from mchmc.engine import Engine
from mchmc.modelconfig import top_category
from mchmc.modelfile import load_model
from mchmc.pages import read_page, upscale_page
from mchmc.pages.category import VIEW_PIXELS, page_category_stats, view_plane, view_size
from mchmc.pages.meta import Page, PageMeta
from mchmc.pages.upscale import band_rows, finish_page, upscale_band
from mchmc.resize import imresize

ROOT = Path(__file__).resolve().parents[1]


def _page(pixels: np.ndarray) -> Page:
    meta = PageMeta(path="x.png", format="PNG", mode="L" if pixels.ndim == 2 else "RGB", bits=8,
                    width=pixels.shape[1], height=pixels.shape[0])
    return Page(pixels, meta)


@pytest.fixture(scope="module")
def shipped() -> Engine:
    return Engine(load_model("srformc").model, tile=256)


def _category(engine: Engine, page: Page) -> str:
    return top_category(engine.category_probs(page_category_stats(engine, page)))


@pytest.mark.parametrize("sample, category", [("manga-page.png", "manga"), ("text-page.png", "text")])
def test_a_sample_page_scanned_at_two_and_four_times_its_size_keeps_its_category(shipped, sample, category):
    """The defect: pooled whole, the text sample enlarged 2x or 4x was called manga (p 0.96 and 0.86:
    its strokes grow as thick as a manga page's lines), and the manga sample drifted towards nature."""
    pixels = read_page(ROOT / "samples" / sample).pixels
    for f in (1, 2, 4):
        page = _page(pixels if f == 1 else imresize(pixels, float(f)))
        assert _category(shipped, page) == category, f"{sample} at {f}x"


def test_small_pages_are_pooled_whole_exactly_as_before(shipped):
    px = read_page(ROOT / "samples" / "landscape.jpg").pixels[:150, :250]
    assert px.shape[0] * px.shape[1] <= VIEW_PIXELS
    page = _page(px)
    assert view_plane(page) is None
    whole = shipped.gap_stats(luminance(page.pixels))
    stats = page_category_stats(shipped, page)
    assert stats.count == whole.count and np.array_equal(stats.total, whole.total)
    assert upscale_page(page, shipped).probs == shipped.category_probs(whole)


@pytest.mark.parametrize("h, w", [(201, 200), (100, 3000), (3000, 51), (2000, 1500)])
def test_the_view_keeps_the_aspect_and_stays_within_its_size(h, w):
    oh, ow = view_size(h, w)
    assert oh * ow <= VIEW_PIXELS and oh * ow > 0.97 * VIEW_PIXELS - oh - ow
    assert abs(oh / ow - h / w) <= max(1 / oh, 1 / ow) * h / w + 1e-9
    assert view_size(190, 210) is None  # 39,900 pixels: pooled whole


@pytest.mark.parametrize("h, w", [(700, 333), (1200, 900)])  # reduced 2.4x by the bicubic; 5.2x: box 2, then bicubic
def test_the_view_is_the_same_however_the_page_is_cut_into_strips(h, w):
    px = np.random.default_rng(3).integers(0, 256, (h, w, 3), dtype=np.uint8)
    page = _page(px)
    whole = view_plane(page, rows=10_000)
    assert np.array_equal(view_plane(page, rows=7), whole)
    # and it is the page's Y resized by the MATLAB bicubic (after a 2 x 2 box average when reduced 4x or more)
    y = luminance(page.pixels)
    if h * w > 16 * VIEW_PIXELS:
        y = y[: h // 2 * 2, : w // 2 * 2].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))
    ref = imresize(y, output_shape=whole.shape, dtype=np.float32)
    assert np.abs(ref - whole).max() < 1e-5


def test_bands_and_the_whole_page_and_classify_report_one_category(shipped):
    """A page above the view's size upscaled whole, in bands (on different actors: the band holding
    row 0 carries the view's GAP sums, the others none) and only classified: one set of probabilities."""
    px = read_page(ROOT / "samples" / "manga-page.png").pixels[:240, :180]  # 43,200 pixels
    page = _page(px)
    assert view_size(*px.shape[:2]) is not None
    whole = upscale_page(page, shipped)
    bands = [upscale_band(page, shipped, r0, r1, strip_pixels=64 * 180) for r0, r1 in band_rows(240, 3)]
    stitched = finish_page(page.meta, bands, shipped)
    assert np.array_equal(stitched.pixels, whole.pixels)
    classified = shipped.category_probs(page_category_stats(shipped, page))
    for c in shipped.config.categories:
        assert stitched.probs[c] == pytest.approx(whole.probs[c], abs=1e-6)
        assert classified[c] == pytest.approx(whole.probs[c], abs=1e-6)
    assert [b.gap.count for b in bands][1:] == [0, 0]  # only row 0's band carries the view


def test_explain_reads_the_view_of_a_big_page(tmp_path):
    """``explain`` on a page above the view's size names the category ``classify`` reports."""
    from typer.testing import CliRunner

    from cli.app import app

    src = tmp_path / "big-manga.png"
    from PIL import Image

    Image.fromarray(imresize(read_page(ROOT / "samples" / "manga-page.png").pixels, 4.0)).save(src)
    res = CliRunner().invoke(app, ["explain", str(src), "--out", str(tmp_path / "map.png")])
    assert res.exit_code == 0, res.output
    assert "manga (top-1)" in res.output
    with Image.open(tmp_path / "map.png") as im:
        assert im.size[0] > 0
