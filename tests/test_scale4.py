"""``--scale 4``: two exact 2x passes. The output is exactly 4W x 4H and equals
upscaling the 2x output (as written: integers) once more; strips, tiles and
bands computed apart give the same bytes; the category is the first pass's."""
from __future__ import annotations

import numpy as np
import pytest

from mchmc.engine import Engine
from mchmc.pages import upscale_page
from mchmc.pages.meta import Page, PageMeta
from mchmc.pages.upscale import band_rows, finish_page, upscale_band
from pages import random_engine


def _page(pixels: np.ndarray, mode: str) -> Page:
    bits = 1 if pixels.dtype == np.bool_ else 8 * pixels.itemsize
    return Page(pixels, PageMeta(path="mem", format="PNG", mode=mode, bits=bits, width=pixels.shape[1],
                                 height=pixels.shape[0], dpi=(300.0, 300.0)))


def _random(shape, mode, dtype=np.uint8, seed=0) -> Page:
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return _page(rng.random(shape) > 0.5, mode)
    return _page(rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype), mode)


@pytest.fixture(scope="module")
def engines():
    first = random_engine(tile=24)
    second = Engine(random_engine(tile=24, seed=1).model, tile=32)  # another model, another tile size
    return first, second


PAGES = {"RGB": ((37, 29, 3), "RGB", np.uint8), "gray": ((30, 41), "L", np.uint8),
         "RGBA 16-bit": ((23, 19, 4), "RGBA", np.uint16), "gray + alpha": ((26, 15, 2), "LA", np.uint8),
         "1-bit": ((21, 34), "1", np.bool_), "one pixel": ((1, 1, 3), "RGB", np.uint8)}


@pytest.mark.parametrize("kind", list(PAGES))
def test_two_passes_are_the_2x_output_upscaled_again(engines, kind):
    first, second = engines
    page = _random(*PAGES[kind])
    h, w = page.pixels.shape[:2]
    x4 = upscale_page(page, first, then=second)
    x2 = upscale_page(page, first)
    again = upscale_page(Page(x2.pixels, x2.meta), second)
    assert x4.pixels.shape[:2] == (4 * h, 4 * w) and (x4.meta.width, x4.meta.height) == (4 * w, 4 * h)
    assert np.array_equal(x4.pixels, again.pixels)
    assert x4.probs == x2.probs  # the category is the first pass's
    assert x4.meta.dpi == (1200.0, 1200.0) and x4.meta.mode == x2.meta.mode


def test_a_1bit_page_binarized_stays_1bit_at_4x(engines):
    first, second = engines
    page = _random(*PAGES["1-bit"])
    x4 = upscale_page(page, first, then=second, binarize=True)
    gray = upscale_page(page, first, then=second)
    assert x4.pixels.dtype == np.bool_ and x4.meta.mode == "1" and x4.meta.bits == 1
    assert np.array_equal(x4.pixels, gray.pixels >= 128)


@pytest.mark.parametrize("kind", ["RGB", "gray", "RGBA 16-bit"])
@pytest.mark.parametrize("parts", [2, 3, 5])
def test_bands_computed_apart_stitch_to_the_whole_4x_page(engines, kind, parts):
    """Each band runs the first pass only over its rows and the rows the second pass's halo
    reads, then the second pass over its own rows: stitched, the whole page exactly."""
    first, second = engines
    page = _random(*PAGES[kind], seed=parts)
    whole = upscale_page(page, first, then=second)
    bands = [upscale_band(page, first, r0, r1, then=second) for r0, r1 in band_rows(page.meta.height, parts)]
    stitched = finish_page(page.meta, bands[::-1], first)
    assert np.array_equal(stitched.pixels, whole.pixels)
    assert stitched.probs == pytest.approx(whole.probs, abs=1e-9)


@pytest.mark.parametrize("tiles", [(8, 8), (24, None), (None, 5)])
def test_tiles_and_strips_do_not_change_a_byte(engines, tiles):
    first, second = engines
    page = _random(*PAGES["RGB"], seed=7)
    ref = upscale_page(page, Engine(first.model, tile=None), then=Engine(second.model, tile=None))
    got = upscale_page(page, Engine(first.model, tile=tiles[0]), then=Engine(second.model, tile=tiles[1]),
                       strip_pixels=16 * 29)
    assert np.array_equal(got.pixels, ref.pixels)


# ---------------------------------------------------------------- through the real CLI

def _mchmc(*args):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "mchmc.cli.app", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
def test_scale_4_through_the_cli_whole_and_in_bands(tmp_path):
    """A colour JPEG (its noise level on the first pass) and a gray PNG: 4W x 4H, the same
    category as at 2x; a page split into bands across two workers gives the same bytes."""
    from PIL import Image

    from mchmc.batch.records import read_jsonl
    from conftest import ROOT

    src = tmp_path / "s"
    src.mkdir()
    with Image.open(ROOT / "samples" / "landscape.jpg") as im:
        im.crop((0, 0, 96, 64)).save(src / "photo.jpg", quality=75)
    with Image.open(ROOT / "samples" / "manga-page-gray.png") as im:
        im.crop((0, 0, 80, 120)).save(src / "manga.png")
    runs = {}
    for name, extra in (("x2", ["--scale", "2"]), ("x4", ["--scale", "4"]),
                        ("bands", ["--scale", "4", "--split-pixels", "2000", "--cpus", "2"])):
        res = _mchmc("upscale", src, "--out", tmp_path / name, "--cpus", "1", *extra)
        assert res.returncode == 0, res.stdout + res.stderr
        runs[name] = {r.input.rsplit("/", 1)[-1]: r for r in read_jsonl(tmp_path / name / "mchmc-upscale-report.jsonl")}
    for page, (w, h) in (("photo.jpg", (96, 64)), ("manga.png", (80, 120))):
        with Image.open(tmp_path / "x4" / page) as im:
            assert im.size == (4 * w, 4 * h)
        assert runs["x4"][page].category == runs["x2"][page].category
        assert runs["x4"][page].probs == runs["x2"][page].probs
        assert runs["x4"][page].noise == runs["x2"][page].noise
    assert runs["x4"]["photo.jpg"].noise == "1"
    for page in ("photo.jpg", "manga.png"):
        if page.endswith(".png"):  # lossless: the very pixels
            with Image.open(tmp_path / "x4" / page) as a, Image.open(tmp_path / "bands" / page) as b:
                assert np.array_equal(np.asarray(a), np.asarray(b))
        else:  # JPEG: the same encoder on the same pixels
            assert (tmp_path / "x4" / page).read_bytes() == (tmp_path / "bands" / page).read_bytes()


@pytest.mark.slow
def test_a_scale_the_model_cannot_make_is_one_line(tmp_path):
    from PIL import Image

    (tmp_path / "s").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "s" / "a.png")
    res = _mchmc("upscale", tmp_path / "s", "--out", tmp_path / "o", "--scale", "3")
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and "--scale must be 2 or 4" in lines[0], res.stderr
    assert not (tmp_path / "o").exists()
