"""Round trips through read -> upscale -> write -> read for every format / mode /
layout the archive reader must handle (fixtures built at test time: pages.py)."""
from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image

from mchmc.pages import output_name, read_page, read_pages, upscale_page, write_pages
from pages import EXIF, FIXTURES, H, ICC, W, identity_engine


@pytest.fixture(scope="module")
def engine():
    return identity_engine()  # SR = exact nearest-neighbour 2x: values are checkable


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda f: f.name)
def test_round_trip(fx, tmp_path, engine):
    src = tmp_path / fx.name
    fx.make(src)
    pages = list(read_pages(src))
    assert len(pages) == fx.pages and all(p.meta.page_count == fx.pages for p in pages)
    assert [p.meta.page_index for p in pages] == list(range(fx.pages))
    ups = [upscale_page(p, engine) for p in pages]
    out = tmp_path / "out" / output_name(src)
    write_pages(ups, out)
    assert sorted(x.name for x in out.parent.iterdir()) == [out.name]  # no temporary left behind

    back = list(read_pages(out))
    assert len(back) == fx.pages
    for p, u, b in zip(pages, ups, back):
        h, w = p.pixels.shape[:2]
        assert b.pixels.shape[:2] == (2 * h, 2 * w) == u.pixels.shape[:2]
        assert (b.meta.mode, b.meta.bits) == (fx.mode, fx.bits) == (u.meta.mode, u.meta.bits)
        assert b.meta.format == p.meta.format
        if b.meta.alpha:
            # alpha present and upscaled: the bicubic 2x of the source alpha, downscaled again ~ the source
            a_src = p.pixels[..., -1].astype(np.float64)
            a_out = b.pixels[..., -1].astype(np.float64)
            assert a_out.std() > 0 and abs(a_out.mean() - a_src.mean()) < 0.02 * np.iinfo(b.pixels.dtype).max
        if fx.icc:
            assert p.meta.icc == ICC and b.meta.icc == ICC  # byte for byte
        if fx.dpi:
            assert p.meta.dpi == pytest.approx((300, 300), rel=1e-4)
            assert b.meta.dpi == pytest.approx((600, 600), rel=1e-4)
        if fx.exif:
            assert b.meta.exif
            ex = Image.Exif()
            ex.load(b.meta.exif[6:])
            assert ex.get(271) == "ScanCo" and ex.get(274) == 6  # orientation kept as is, never applied
            if p.meta.format != "TIFF":
                assert float(ex[282]) == pytest.approx(600)
                assert ex.get_ifd(0x8769).get(0xA002) == 2 * W
        if fx.bits == 16:
            levels = np.unique(b.pixels[..., 0] if b.pixels.ndim == 3 else b.pixels).size
            assert levels > 256, "16-bit page quantised to 8 bits"


def test_16bit_png_read_at_full_depth(tmp_path):
    """Pillow alone would give 8 bits for these; our reader returns the exact 16-bit values."""
    from pages import _rgba16, write_png16

    for ch in (2, 3, 4):
        a = _rgba16()[..., :ch]
        write_png16(tmp_path / f"x{ch}.png", a)
        page = read_page(tmp_path / f"x{ch}.png")
        assert page.pixels.dtype == np.uint16 and np.array_equal(page.pixels, a)


def test_tiff_layout_kept(tmp_path, engine):
    """Multi-page, tiled, planar, compressed, BigTIFF inputs come back as the same kind of TIFF."""
    from pages import FIXTURES as F

    for name, check in [("tiled.tif", lambda p: p.is_tiled and p.compression == 8),
                        ("planar.tif", lambda p: p.planarconfig == 2),
                        ("l16.tif", lambda p: p.compression == 8 and p.predictor == 2),
                        ("white.tif", lambda p: p.photometric == 0),
                        ("rgba16.tif", lambda p: tuple(p.extrasamples) == (2,))]:
        fx = next(f for f in F if f.name == name)
        fx.make(tmp_path / name)
        out = tmp_path / ("out_" + name)
        write_pages([upscale_page(p, engine) for p in read_pages(tmp_path / name)], out)
        with tifffile.TiffFile(out) as tif:
            assert check(tif.pages[0]), name
            assert tif.pages[0].tags[271].value == "ScanCo" and tif.pages[0].tags[274].value == 6
    big = next(f for f in F if f.name == "big.tif")
    big.make(tmp_path / "big.tif")
    write_pages([upscale_page(p, engine) for p in read_pages(tmp_path / "big.tif")], tmp_path / "o.tif")
    with tifffile.TiffFile(tmp_path / "o.tif") as tif:
        assert tif.is_bigtiff


def test_miniswhite_values(tmp_path, engine):
    """MinIsWhite is inverted on the way in (0 = black for the network) and back on the way out."""
    a = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))
    tifffile.imwrite(tmp_path / "w.tif", a, photometric="miniswhite")
    page = read_page(tmp_path / "w.tif")
    assert np.array_equal(page.pixels, 255 - a)
    write_pages([upscale_page(page, engine)], tmp_path / "o.tif")
    assert tifffile.imread(tmp_path / "o.tif").shape == (2 * H, 2 * W)
    assert np.array_equal(read_page(tmp_path / "o.tif").pixels.shape, (2 * H, 2 * W))


def test_cmyk_jpeg_becomes_rgb(tmp_path, engine):
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:, : W // 3, 0] = rgb[:, W // 3 : 2 * W // 3, 1] = rgb[:, 2 * W // 3 :, 2] = 220
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=100, icc_profile=ICC)
    page = read_page(tmp_path / "c.jpg")
    assert page.meta.source_mode == "CMYK" and page.meta.mode == "RGB"
    assert page.meta.icc is None and any("CMYK" in n for n in page.meta.notes)  # an RGB profile on CMYK data: dropped
    mean = page.pixels.reshape(-1, 3)[: W // 3 - 2].astype(float).mean(0)
    assert mean[0] > 150 and mean[1] < 80 and mean[2] < 80  # red stays red


def test_format_option_and_names(tmp_path, engine):
    src = tmp_path / "scan.tif"
    tifffile.imwrite(src, np.stack([np.full((8, 9, 3), v, np.uint8) for v in (10, 200)]), photometric="rgb",
                     resolution=(150, 150), resolutionunit="inch")
    assert output_name(src) == "scan.tif" and output_name(src, "png") == "scan.png"
    assert output_name("a.jpeg", "jpg") == "a.jpeg" and output_name("a.tif", "jpeg", page=2) == "a_p0003.jpg"
    for i, page in enumerate(read_pages(src)):
        up = upscale_page(page, engine)
        for fmt in ("png", "jpeg", "webp", "tiff", "bmp"):
            out = write_pages([up], tmp_path / output_name(src, fmt, page=i), format=fmt, quality=90)
            with Image.open(out) as im:
                assert im.size == (18, 16) and im.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP",
                                                             "tiff": "TIFF", "bmp": "BMP"}[fmt]
            if fmt != "bmp":
                assert read_page(out).meta.dpi == pytest.approx((300, 300), rel=1e-3) or fmt == "webp"
    gray16 = tmp_path / "g.png"
    Image.fromarray(np.tile(np.arange(0, 65535, 2048, dtype=np.uint16), (5, 1))).save(gray16)
    notes: list[str] = []
    out = write_pages([upscale_page(read_page(gray16), engine)], tmp_path / "g.jpg", notes=notes)
    with Image.open(out) as im:
        assert im.mode == "L"  # JPEG output of gray stays gray
    assert any("8 bits" in n for n in notes)


def test_binarize_keeps_bilevel(tmp_path, engine):
    Image.fromarray(np.tile(np.arange(W) % 7 > 3, (H, 1))).save(tmp_path / "b.png")
    page = read_page(tmp_path / "b.png")
    up = upscale_page(page, engine, binarize=True)
    assert up.meta.mode == "1" and up.pixels.dtype == np.bool_ and up.pixels.shape == (2 * H, 2 * W)
    for name in ("o.png", "o.tif"):
        write_pages([up], tmp_path / name)
        back = read_page(tmp_path / name)
        assert back.meta.mode == "1" and np.array_equal(back.pixels, up.pixels)


def test_exif_block_kept_byte_for_byte_except_resolution(tmp_path, engine):
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "e.jpg", exif=EXIF)
    up = upscale_page(read_page(tmp_path / "e.jpg"), engine)
    changed = [i for i, (x, y) in enumerate(zip(EXIF, up.meta.exif)) if x != y]
    assert len(EXIF) == len(up.meta.exif) and 0 < len(changed) <= 12  # two rationals and two sizes, in place


def test_exif_carried_across_formats(tmp_path, engine):
    """JPEG -> TIFF keeps the descriptive EXIF tags as TIFF tags; TIFF -> JPEG gets an EXIF block."""
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "e.jpg", exif=EXIF, dpi=(300, 300))
    write_pages([upscale_page(read_page(tmp_path / "e.jpg"), engine)], tmp_path / "e.tif")
    with tifffile.TiffFile(tmp_path / "e.tif") as tif:
        tags = tif.pages[0].tags
        assert tags[271].value == "ScanCo" and tags[274].value == 6 and tags[282].value == (600, 1)
        assert tags[34665].value["DateTimeOriginal"] == "2024:05:06 07:08:09"  # the Exif sub-IFD too
        assert tags[34665].value["PixelXDimension"] == 2 * W
        assert np.array_equal(tif.pages[0].asarray().shape, (2 * H, 2 * W, 3))
    write_pages([upscale_page(read_page(tmp_path / "e.tif"), engine)], tmp_path / "f.jpg")
    ex = read_page(tmp_path / "f.jpg").meta
    assert ex.dpi == (1200, 1200)
    exif = Image.Exif()
    exif.load(ex.exif[6:])
    assert exif[271] == "ScanCo" and exif[274] == 6
    assert exif.get_ifd(0x8769)[0x9003] == "2024:05:06 07:08:09" and exif.get_ifd(0x8769)[0xA002] == 4 * W


def test_bigtiff_when_the_output_would_pass_the_limit(tmp_path, engine, monkeypatch):
    """Classic TIFF offsets stop at 4 GB: past the threshold (lowered here, a 4 GB
    test file is no unit test) the output is BigTIFF, for lists and for iterators."""
    import mchmc.pages.write as pw

    tifffile.imwrite(tmp_path / "c.tif", np.stack([np.full((H, W, 3), v, np.uint8) for v in (5, 9)]), photometric="rgb")
    write_pages([upscale_page(p, engine) for p in read_pages(tmp_path / "c.tif")], tmp_path / "small.tif")
    monkeypatch.setattr(pw, "BIGTIFF_THRESHOLD", 2 * (2 * H) * (2 * W) * 3 - 1)
    write_pages([upscale_page(p, engine) for p in read_pages(tmp_path / "c.tif")], tmp_path / "list.tif")
    write_pages((upscale_page(p, engine) for p in read_pages(tmp_path / "c.tif")), tmp_path / "iter.tif")
    for name, big in [("small.tif", False), ("list.tif", True), ("iter.tif", True)]:
        with tifffile.TiffFile(tmp_path / name) as tif:
            assert tif.is_bigtiff == big and len(tif.pages) == 2, name


@pytest.mark.parametrize("name", ["c.jpg", "c.tif"])
def test_cmyk_with_cmyk_profile_is_colour_managed(tmp_path, engine, name):
    """A CMYK page with a CMYK ICC profile goes through the profile to sRGB and the
    output is tagged sRGB (the CMYK profile would describe nothing in RGB output)."""
    from pages import cmyk_icc

    rgb = np.zeros((H, 3 * 11, 3), np.uint8)
    rgb[:, :11, 0] = rgb[:, 11:22, 1] = rgb[:, 22:, 2] = 220
    cmyk = Image.fromarray(rgb).convert("CMYK")
    if name.endswith(".jpg"):
        cmyk.save(tmp_path / name, quality=100, icc_profile=cmyk_icc())
    else:
        tifffile.imwrite(tmp_path / name, np.asarray(cmyk), photometric="separated", iccprofile=cmyk_icc())
    page = read_page(tmp_path / name)
    assert page.meta.source_mode == "CMYK" and page.meta.mode == "RGB" and page.meta.icc not in (None, cmyk_icc())
    assert any("through its ICC profile" in n for n in page.meta.notes)
    for c in range(3):
        patch = page.pixels[:, 11 * c + 2 : 11 * c + 9].reshape(-1, 3).astype(float).mean(0)
        assert patch[c] > 180 and np.delete(patch, c).max() < 70
    out = write_pages([upscale_page(page, engine)], tmp_path / ("o" + name))
    back = read_page(out)
    assert back.meta.mode == "RGB" and back.meta.icc == page.meta.icc


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_png_deflate_paths_agree(tmp_path, monkeypatch, mode):
    """Small pages are deflated in one libdeflate call, big ones streamed through
    zlib; both are valid PNGs with the same pixels, at every level."""
    import io

    from mchmc.pages import png as pngwrite

    rng = np.random.default_rng(1)
    shape = (333, 257) + ({"L": (), "RGB": (3,), "RGBA": (4,)}[mode])
    smooth = np.cumsum(rng.integers(0, 3, shape), axis=1) % 256  # compressible, every filter useful
    a = smooth.astype(np.uint8)
    files = {}
    for path in ("oneshot", "stream"):
        if path == "stream":
            monkeypatch.setattr(pngwrite, "ONESHOT_BYTES", 0)
        for level in (0, 1, 9):
            buf = io.BytesIO()
            pngwrite.write_png(buf, a, bits=8, level=level)
            files[path, level] = buf.getvalue()
            with Image.open(io.BytesIO(buf.getvalue())) as im:
                assert im.mode == mode and np.array_equal(np.asarray(im), a)
    assert len(files[("oneshot", 9)]) < len(files[("oneshot", 0)])


def test_paeth_predictor_on_every_input():
    """The PNG spec's Paeth predictor (int arithmetic, ties to a, then b) against the
    encoder's branch-free version, on all 256^3 (a, b, c)."""
    from mchmc.pages.png import _paeth

    v = np.arange(256, dtype=np.int32)
    a, b, c = np.meshgrid(v, v, v, indexing="ij")
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    want = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c)).astype(np.uint8)
    assert np.array_equal(_paeth(a.astype(np.uint8), b.astype(np.uint8), c.astype(np.uint8)), want)
