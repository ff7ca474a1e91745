"""Bad input: every kind raises one typed error naming the file and the reason,
before anything is decoded where the header already tells, and nothing is ever
left in the destination folder."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from mchmc.errors import (DecompressionBombError, EmptyFileError, NotAnImageError, PageError, PageWriteError,
                          TruncatedPageError, UnsupportedPageError)
from mchmc.pages import count_pages, output_name, read_page, read_pages, upscale_page, write_pages
from pages import random_engine, rgb8


def _png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height, with a few bytes of data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _jpeg_claiming(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb8()).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _tiff_claiming(path: Path, width: int, height: int) -> None:
    tifffile.imwrite(path, rgb8(), photometric="rgb")
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(width)
        tif.pages[0].tags["ImageLength"].overwrite(height)


def _truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


def _tiff_bytes(**kw) -> bytes:
    buf = io.BytesIO()
    tifffile.imwrite(buf, kw.pop("data", rgb8()), **kw)
    return buf.getvalue()


def _animated_webp() -> bytes:
    buf = io.BytesIO()
    frames = [Image.fromarray(rgb8(seed=s)) for s in range(2)]
    frames[0].save(buf, "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    return buf.getvalue()


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb8()).save(buf, "GIF")
    return buf.getvalue()


def _noise_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (128, 128, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


JPEG = _jpeg_claiming(31, 23)  # a valid JPEG (same size as drawn)
BAD = [  # name, bytes (or a maker), error, words the reason must contain
    ("empty.png", b"", EmptyFileError, "empty file"),
    ("empty.tif", b"", EmptyFileError, "empty file"),
    ("notes.jpg", b"These are my notes, not a JPEG.\n" * 10, NotAnImageError, "not an image"),
    ("data.png", bytes(range(256)) * 4, NotAnImageError, "not an image"),
    ("cut.png", _truncated(_png_bytes(Image.fromarray(rgb8(64, 64)))), TruncatedPageError, "truncated"),
    ("cut.jpg", _truncated(JPEG), TruncatedPageError, "truncated"),
    ("cutscan.jpg", _truncated(_noise_jpeg()), TruncatedPageError, "truncated or corrupt image data"),
    ("cut.tif", _truncated(_tiff_bytes(photometric="rgb")), TruncatedPageError, "truncated"),
    ("cutzip.tif", _truncated(_tiff_bytes(photometric="rgb", compression="zlib")), TruncatedPageError, "truncated"),
    ("header.png", _png_bytes(Image.fromarray(rgb8()))[:20], TruncatedPageError, "header"),
    ("header.tif", _tiff_bytes(photometric="rgb")[:6], TruncatedPageError, "TIFF"),
    ("float.tif", _tiff_bytes(data=np.zeros((8, 8), np.float32)), UnsupportedPageError, "float"),
    ("lab.tif", _tiff_bytes(data=rgb8(), photometric="cielab"), UnsupportedPageError, "photometric"),
    ("anim.webp", _animated_webp(), UnsupportedPageError, "animated"),
    ("pic.gif", _gif(), UnsupportedPageError, "GIF"),
    ("bomb.png", _png_header_only(100_000, 100_000), DecompressionBombError, "10,000,000,000 pixels"),
    ("bomb.jpg", _jpeg_claiming(65000, 65000), DecompressionBombError, "65000x65000"),
    ("bomb.tif", lambda p: _tiff_claiming(p, 60000, 60000), DecompressionBombError, "60000x60000"),
]


@pytest.fixture(scope="module")
def engine():
    return random_engine()


@pytest.mark.parametrize("name, content, error, words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_typed_error_and_leaves_nothing(tmp_path, engine, name, content, error, words):
    src = tmp_path / "in" / name
    src.parent.mkdir()
    content(src) if callable(content) else src.write_bytes(content)
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(error) as info:
        # the whole pipeline a batch worker runs for a file
        pages = [upscale_page(p, engine) for p in read_pages(src)]
        write_pages(pages, dest / output_name(src))
    msg = str(info.value)
    assert msg.startswith(f"{src}: ") and words in msg and "\n" not in msg
    assert isinstance(info.value, PageError) and info.value.path == str(src)
    assert list(dest.iterdir()) == []
    if error is DecompressionBombError:
        with pytest.raises(DecompressionBombError):
            count_pages(src)


def test_max_pixels_is_honoured_and_pillow_limit_is_not_ours(tmp_path):
    src = tmp_path / "p.png"
    Image.fromarray(rgb8()).save(src)
    with pytest.raises(DecompressionBombError, match="more than the limit of 100"):
        read_page(src, max_pixels=100)
    assert read_page(src, max_pixels=23 * 31).pixels.shape == (23, 31, 3)
    # 180 MP is past Pillow's own hard limit (2 x 89.5 MP) but within our default 500 MP:
    # the header check passes (Pillow's error must not pre-empt ours); nothing decoded.
    (tmp_path / "large.png").write_bytes(_png_header_only(15000, 12000))
    assert count_pages(tmp_path / "large.png") == 1
    with pytest.raises(DecompressionBombError):
        count_pages(tmp_path / "large.png", max_pixels=100_000_000)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(PageError, match="no such file"):
        read_page(tmp_path / "nope.png")
    with pytest.raises(PageError, match="folder"):
        read_page(tmp_path)
    Image.fromarray(rgb8()).save(tmp_path / "one.png")
    with pytest.raises(PageError, match="no page 1"):
        read_page(tmp_path / "one.png", 1)


def test_failed_write_leaves_nothing(tmp_path, engine):
    # WebP holds at most 16383 px a side: 8200 -> 16400 px does not fit
    Image.fromarray(np.zeros((1, 8200, 3), np.uint8)).save(tmp_path / "wide.png")
    up = upscale_page(read_page(tmp_path / "wide.png"), engine)
    dest = tmp_path / "out"
    with pytest.raises(PageWriteError, match="WEBP cannot hold 16400x2"):
        write_pages([up], dest / "wide.webp")
    assert list(dest.iterdir()) == []

    # a multi-page TIFF whose second page fails while the file is being written
    tifffile.imwrite(tmp_path / "two.tif", np.stack([rgb8(), rgb8(seed=1)]), photometric="rgb")

    def pages():
        it = read_pages(tmp_path / "two.tif")
        yield upscale_page(next(it), engine)
        raise PageError(tmp_path / "two.tif", "worker stopped")

    with pytest.raises(PageError, match="worker stopped"):
        write_pages(pages(), dest / "two.tif")
    assert list(dest.iterdir()) == []
    with pytest.raises(PageWriteError, match="holds one"):
        write_pages([upscale_page(p, engine) for p in read_pages(tmp_path / "two.tif")], dest / "two.png")
    assert list(dest.iterdir()) == []
