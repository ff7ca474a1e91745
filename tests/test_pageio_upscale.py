"""upscale_page: exactly 2W x 2H, strips equal the whole-page computation, colours
kept, 16-bit precision kept, category probabilities from the Y plane."""
from __future__ import annotations

import numpy as np
import pytest

from mchmc import colour
from mchmc.engine import Engine
from mchmc.model import build_model
from mchmc.pages.meta import Page, PageMeta
from mchmc.pages import upscale_page
from mchmc.resize import imresize
from pages import identity_engine, ramp16, random_engine, smooth_rgb


def _page(pixels: np.ndarray, mode: str) -> Page:
    bits = 1 if pixels.dtype == np.bool_ else 8 * pixels.itemsize
    return Page(pixels, PageMeta(path="mem", format="PNG", mode=mode, bits=bits, width=pixels.shape[1],
                                 height=pixels.shape[0], dpi=(300.0, 300.0)))


@pytest.fixture(scope="module")
def engine():
    return random_engine(tile=24)


@pytest.mark.parametrize("mode, shape", [("RGBA", (41, 29, 4)), ("L", (37, 30)), ("LA", (50, 17, 2)),
                                         ("RGB", (6, 5, 3))])
def test_strips_equal_whole_page(engine, mode, shape):
    """Strip processing (bounded memory) gives the whole-page result: Y through the
    engine on the whole plane, chroma and alpha by the whole-page MATLAB bicubic."""
    px = np.random.default_rng(3).integers(0, 65536, shape, dtype=np.uint16)
    page = _page(px, mode)
    strips = upscale_page(page, engine, strip_pixels=16 * shape[1])  # 16-row strips
    whole = upscale_page(page, engine, strip_pixels=10**9)
    assert strips.pixels.shape == whole.pixels.shape == (2 * shape[0], 2 * shape[1]) + shape[2:]
    assert np.abs(strips.pixels.astype(int) - whole.pixels.astype(int)).max() <= 1  # float rounding, 16-bit LSB
    assert strips.probs == pytest.approx(whole.probs, abs=1e-6)

    u = colour.to_unit(px).reshape(shape[0], shape[1], -1)
    if mode.startswith("L"):
        res = engine.run(colour.gray_to_y(u[..., 0]), gap=True)
        ref = colour.from_unit(colour.y_to_gray(res.sr), np.uint16)
    else:
        ycc = colour.rgb_to_ycbcr(u[..., :3])
        res = engine.run(np.ascontiguousarray(ycc[..., 0]), gap=True)
        up = np.dstack([res.sr] + [imresize(ycc[..., c], 2, dtype=np.float32) for c in (1, 2)])
        ref = colour.from_unit(colour.ycbcr_to_rgb(up), np.uint16)
    got = strips.pixels[..., : ref.shape[-1]] if ref.ndim == 3 else strips.pixels.reshape(ref.shape + (-1,))[..., 0]
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1
    if mode in ("LA", "RGBA"):
        alpha = colour.from_unit(imresize(u[..., -1], 2, dtype=np.float32), np.uint16)
        assert np.abs(strips.pixels[..., -1].astype(int) - alpha.astype(int)).max() <= 1
    probs = engine.probabilities(res.gap)
    assert [strips.probs[c] for c in engine.config.categories] == pytest.approx(probs, abs=1e-6)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (9, 1), (2, 3), (17, 16)])
def test_exact_2x_for_every_size(engine, shape):
    for mode, px in [("L", np.full(shape, 100, np.uint8)), ("RGB", np.full(shape + (3,), 100, np.uint8)),
                     ("1", np.ones(shape, bool))]:
        up = upscale_page(_page(px, mode), engine, strip_pixels=1)
        assert up.pixels.shape[:2] == (2 * shape[0], 2 * shape[1])
        assert (up.meta.width, up.meta.height) == (2 * shape[1], 2 * shape[0])


def test_colour_pages_keep_their_colours():
    """Upscaled, then downscaled again with the MATLAB bicubic: close to the original
    in Cb and Cr as well as Y (with a network whose SR is a known exact 2x)."""
    rgb = np.rint(smooth_rgb(48, 64, seed=5) * 255).astype(np.uint8)
    up = upscale_page(_page(rgb, "RGB"), identity_engine(tile=32))
    down = imresize(colour.to_unit(up.pixels, np.float64), 0.5)
    a, b = colour.rgb_to_ycbcr(colour.to_unit(rgb, np.float64), np.float64), colour.rgb_to_ycbcr(down, np.float64)
    inner = (slice(3, -3), slice(3, -3))  # away from the border the down/up pair mirrors differently
    for c, name in enumerate("Y Cb Cr".split()):
        err = np.abs(a[inner][..., c] - b[inner][..., c]) * 255
        assert err.mean() < 1.0 and err.max() < 4.0, f"{name}: mean {err.mean():.2f}, max {err.max():.2f}"
    # and pure primaries stay what they are
    blocks = np.zeros((16, 48, 3), np.uint8)
    for c in range(3):
        blocks[:, 16 * c : 16 * (c + 1), c] = 200
    out = upscale_page(_page(blocks, "RGB"), identity_engine()).pixels
    for c in range(3):
        centre = out[8:24, 32 * c + 8 : 32 * c + 24].reshape(-1, 3).mean(0)
        assert centre[c] > 190 and np.delete(centre, c).max() < 10


def test_16bit_gray_keeps_its_levels():
    ramp = ramp16(40, 60)
    up = upscale_page(_page(ramp, "L"), identity_engine())
    assert up.pixels.dtype == np.uint16 and up.meta.bits == 16
    assert np.unique(up.pixels).size > 2000
    # identity SR = nearest neighbour: every 16-bit value comes back exactly
    assert np.array_equal(up.pixels[::2, ::2], ramp)


def test_probabilities_and_metadata(engine):
    page = _page(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8), "RGB")
    up = upscale_page(page, engine)
    assert set(up.probs) == {"nature", "manga", "text"} and sum(up.probs.values()) == pytest.approx(1.0)
    assert up.category in up.probs
    assert up.meta.dpi == (600.0, 600.0) and up.source is page.meta
    plain = Engine(build_model("mch"), tile=32)  # no classifier: no category
    assert upscale_page(page, plain).probs is None
    assert upscale_page(page, engine, classify=False).probs is None


def test_bilevel_pages(engine):
    px = np.zeros((12, 12), bool)
    px[:, 6:] = True
    gray = upscale_page(_page(px, "1"), identity_engine())
    assert gray.meta.mode == "L" and gray.pixels.dtype == np.uint8 and any("8-bit gray" in n for n in gray.meta.notes)
    assert gray.pixels[:, :12].max() == 0 and gray.pixels[:, 12:].min() == 255
    bw = upscale_page(_page(px, "1"), identity_engine(), binarize=True)
    assert bw.meta.mode == "1" and np.array_equal(bw.pixels, gray.pixels >= 128)


def test_bf16_engine_runs(engine):
    bf16 = Engine(engine.model, tile=32, precision="bf16")
    px = np.random.default_rng(1).integers(0, 255, (20, 21, 3), dtype=np.uint8)
    a, b = upscale_page(_page(px, "RGB"), bf16), upscale_page(_page(px, "RGB"), engine)
    assert a.pixels.shape == b.pixels.shape and np.abs(a.pixels.astype(int) - b.pixels.astype(int)).mean() < 3


@pytest.mark.parametrize("mode, shape, parts", [("RGB", (70, 33, 3), 3), ("L", (45, 20), 4), ("RGBA", (64, 25, 4), 2),
                                                ("RGB", (40, 31, 3), 7)])
def test_bands_computed_apart_stitch_to_the_whole_page(engine, mode, shape, parts):
    """What the batch runner does with a page above its split threshold: bands of
    rows upscaled independently (on different actors) and stitched give exactly
    the one-piece result, and the category from summed GAP statistics equals the
    whole page's (not an average of band guesses)."""
    from mchmc.pages.upscale import band_rows, finish_page, upscale_band

    px = np.random.default_rng(5).integers(0, 256, shape, dtype=np.uint8)
    page = _page(px, mode)
    whole = upscale_page(page, engine)
    rows = band_rows(shape[0], parts)
    assert len(rows) == parts and rows[0][0] == 0 and rows[-1][1] == shape[0]
    bands = [upscale_band(page, engine, r0, r1, strip_pixels=16 * shape[1]) for r0, r1 in reversed(rows)]
    stitched = finish_page(page.meta, bands, engine)
    assert np.array_equal(stitched.pixels, whole.pixels)
    assert stitched.meta == whole.meta
    assert [stitched.probs[c] for c in engine.config.categories] == pytest.approx(
        [whole.probs[c] for c in engine.config.categories], abs=1e-5)
    band_guess = [engine.probabilities(b.gap) for b in bands]
    assert len({tuple(np.round(g, 4)) for g in band_guess}) > 1  # bands alone disagree: the sum matters


def test_bands_that_do_not_tile_the_page_are_refused(engine):
    from mchmc.pages.upscale import finish_page, upscale_band

    page = _page(np.zeros((30, 20, 3), np.uint8), "RGB")
    with pytest.raises(ValueError, match="do not tile"):
        finish_page(page.meta, [upscale_band(page, engine, 0, 10), upscale_band(page, engine, 12, 30)], engine)
    with pytest.raises(ValueError, match="outside"):
        upscale_band(page, engine, 20, 31)
