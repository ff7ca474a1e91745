"""Regenerate the hostile page files in this folder (each a few KB at most).

Why: every file here once made the reader do something other than return
pixels or raise one typed ``PageError`` naming the file (an escaped codec
exception, minutes of decoding, gigabytes of memory), or is a limit's edge
case. tests/test_hostile_pages.py runs the reader over every file here and
accepts only a one-line ``PageError``; the fuzz harness (tests/fuzz/) uses them
as seeds. Files named ``fuzz-*`` are inputs the fuzzer found, kept byte for
byte (this script does not make them); the others are made here:

    cd /work/main && source scripts/env.sh && python tests/hostile/make.py
"""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

HERE = Path(__file__).resolve().parent


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, depth: int = 8, ctype: int = 0, idat: bytes | None = None,
        extra: bytes = b"") -> bytes:
    """A PNG with the given IHDR and (by default) a few bytes of image data."""
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, ctype, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + extra + _chunk(b"IDAT", idat or zlib.compress(b"\0" * 64)) + \
        _chunk(b"IEND", b"")


def progressive_bomb(side: int = 9000, keep: int = 2900) -> bytes:
    """A progressive JPEG claiming side x side, cut after ``keep`` bytes and
    closed with an EOI: libjpeg decodes it whole (gray where data is missing),
    ~0.9 GB and seconds for 9000 x 9000, then the upscaler spends minutes. The
    issue's 2.9 KB file."""
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (250, 250, 250)).save(buf, "JPEG", progressive=True, quality=75)
    return buf.getvalue()[:keep] + b"\xff\xd9"


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small valid JPEG whose SOF is patched to claim width x height."""
    buf = io.BytesIO()
    Image.new("L", (16, 16), 128).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def tiff(data: np.ndarray, patch: dict | None = None, **kw) -> bytes:
    """A TIFF of ``data`` with header tags overwritten afterwards (``patch``: tag code -> value)."""
    buf = io.BytesIO()
    tifffile.imwrite(buf, data, **kw)
    raw = bytearray(buf.getvalue())
    for code, value in (patch or {}).items():
        raw = _patch_tag(raw, code, value)
    return bytes(raw)


def _patch_tag(raw: bytearray, code: int, value: int) -> bytearray:
    """Overwrite the value of tag ``code`` of the first IFD (classic little-endian TIFF, SHORT/LONG)."""
    (ifd,) = struct.unpack_from("<I", raw, 4)
    (n,) = struct.unpack_from("<H", raw, ifd)
    for k in range(n):
        e = ifd + 2 + 12 * k
        tag, typ, _ = struct.unpack_from("<HHI", raw, e)
        if tag == code:
            struct.pack_into("<HHII", raw, e, tag, 4, 1, value)  # as one LONG
            return raw
    raise KeyError(code)


def multipage_bad_second() -> bytes:
    """Two pages; the second's strip offset points past the end of the file."""
    buf = io.BytesIO()
    with tifffile.TiffWriter(buf) as w:
        w.write(np.full((8, 8), 200, np.uint8))
        w.write(np.full((8, 8), 100, np.uint8))
    raw = bytearray(buf.getvalue())
    (ifd,) = struct.unpack_from("<I", raw, 4)
    (n,) = struct.unpack_from("<H", raw, ifd)
    (ifd2,) = struct.unpack_from("<I", raw, ifd + 2 + 12 * n)
    (n2,) = struct.unpack_from("<H", raw, ifd2)
    for k in range(n2):
        e = ifd2 + 2 + 12 * k
        if struct.unpack_from("<H", raw, e)[0] == 273:  # StripOffsets
            struct.pack_into("<I", raw, e + 8, len(raw) + 10_000)
    return bytes(raw)


def ifd_loop() -> bytes:
    """A TIFF whose first IFD's next-IFD pointer points back at itself."""
    raw = bytearray(tiff(np.full((4, 4), 9, np.uint8)))
    (ifd,) = struct.unpack_from("<I", raw, 4)
    (n,) = struct.unpack_from("<H", raw, ifd)
    struct.pack_into("<I", raw, ifd + 2 + 12 * n, ifd)
    return bytes(raw)


def bmp_rle_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """An 8-bit RLE BMP claiming width x height whose data is one end-of-bitmap code."""
    pal = b"".join(bytes((i, i, i, 0)) for i in range(256))
    data = b"\x00\x01"
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(data), 2835, 2835, 256, 0)
    off = 14 + len(info) + len(pal)
    return b"BM" + struct.pack("<IHHI", off + len(data), 0, 0, off) + info + pal + data


def webp_claiming(side: int = 16383) -> bytes:
    """A lossless WebP of one colour claiming side x side: ~100 bytes."""
    buf = io.BytesIO()
    Image.new("RGB", (side, side), (255, 255, 255)).save(buf, "WEBP", lossless=True, quality=0, method=0)
    return buf.getvalue()


def png16_cut() -> bytes:
    """A 16-bit RGB PNG cut short (the 16-bit path decodes twice)."""
    a = np.random.default_rng(0).integers(0, 65535, (24, 24, 3), dtype=np.uint16)
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in a)
    return png(24, 24, 16, 2, idat=zlib.compress(rows))[:-200]


FILES = {
    "prog-bomb-9000.jpg": lambda: progressive_bomb(9000, 2900),
    "jpeg-claims-30000.jpg": lambda: jpeg_claiming(30000, 20000),
    "png-claims-22000.png": lambda: png(22000, 22000, 8, 2),
    "png-1bit-claims-60000.png": lambda: png(60000, 60000, 1, 0),
    "png-bad-ihdr-depth.png": lambda: png(16, 16, 7, 2),
    "png-no-idat.png": lambda: png(16, 16)[:-24] + _chunk(b"IEND", b""),
    "png-bad-crc.png": lambda: png(16, 16)[:29] + b"\0\0\0\0" + png(16, 16)[33:],
    "png-garbage-idat.png": lambda: png(16, 16, idat=b"\x78\x9c" + bytes(range(200))),
    "png16-cut.png": png16_cut,
    "tiff-claims-22000.tif": lambda: tiff(np.zeros((8, 8, 3), np.uint8), {256: 22000, 257: 22000},
                                          photometric="rgb"),
    "tiff-zero-width.tif": lambda: tiff(np.zeros((8, 8), np.uint8), {256: 0}),
    "tiff-bits-99.tif": lambda: tiff(np.zeros((8, 8), np.uint8), {258: 99}),
    "tiff-photometric-77.tif": lambda: tiff(np.zeros((8, 8), np.uint8), {262: 77}),
    "tiff-compression-4242.tif": lambda: tiff(np.zeros((8, 8), np.uint8), {259: 4242}),
    "tiff-samples-9.tif": lambda: tiff(np.zeros((8, 8), np.uint8), {277: 9}),
    "tiff-page2-offset-past-end.tif": multipage_bad_second,
    "tiff-ifd-loop.tif": ifd_loop,
    "tiff-cut-zlib.tif": lambda: tiff(np.arange(4096, dtype=np.uint16).reshape(64, 64) * 7,
                                      compression="zlib")[:300],
    "bmp-rle-claims-20000.bmp": bmp_rle_bomb,
    "webp-claims-16383.webp": webp_claiming,
    "jpeg-only-soi.jpg": lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "tiff-only-magic.tif": lambda: b"II*\x00\x08\x00\x00\x00",
    "gif-not-supported.gif": lambda: b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
}


def main() -> None:
    for name, make in FILES.items():
        data = make()
        assert len(data) < 8192, (name, len(data))
        (HERE / name).write_bytes(data)
        print(f"{name:36} {len(data):6,} bytes")


if __name__ == "__main__":
    main()
