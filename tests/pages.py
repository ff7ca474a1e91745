"""Test fixtures for page I/O, all generated at test time (no binary fixtures).

- ``FIXTURES``: one small page file per format / mode / layout the reader must
  handle, each with what its upscaled output must be (mode, bit depth, pages,
  which metadata the format carries).
- ``write_png16``: an independent 16-bit PNG encoder (Paeth-filtered rows), so
  the 16-bit PNG reader is not tested with our own writer only.
- ``identity_engine``: an MCH-MC whose SR path is exact nearest-neighbour 2x
  (a "known" network), for colour checks that an untrained net cannot pass.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
import torch
from PIL import Image, ImageCms

from mchmc.engine import Engine
from mchmc.model import build_model

H, W = 23, 31  # odd sizes on purpose


def icc_bytes() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_bytes(width: int = W, height: int = H) -> bytes:
    ex = Image.Exif()
    ex[271], ex[272], ex[274], ex[282], ex[283], ex[296] = "ScanCo", "Scanner 9", 6, 300.0, 300.0, 2
    sub = ex.get_ifd(0x8769)
    sub[0x9003], sub[0xA002], sub[0xA003] = "2024:05:06 07:08:09", width, height
    return ex.tobytes()


def smooth_rgb(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    """Low-frequency colour content in [0.1, 0.9] (float64)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    chans = [0.5 + 0.4 * np.sin(2 * np.pi * (f1 * yy + f2 * xx) + ph)
             for f1, f2, ph in rng.uniform([0.3, 0.3, 0], [1.2, 1.2, 6.28], (3, 3))]
    return np.stack(chans, axis=-1)


def rgb8(h=H, w=W, seed=0) -> np.ndarray:
    return np.rint(smooth_rgb(h, w, seed) * 255).astype(np.uint8)


def ramp16(h=H, w=W) -> np.ndarray:
    """A 16-bit ramp with far more than 256 distinct levels."""
    return (np.arange(h * w, dtype=np.float64).reshape(h, w) * (65535 / (h * w - 1))).astype(np.uint16)


def write_png16(path: Path, a: np.ndarray, icc: bytes | None = None, dpi: int | None = None) -> None:
    """Minimal independent PNG encoder: 16-bit gray/LA/RGB/RGBA, Paeth on every row."""
    a = np.asarray(a, np.uint16)
    h, w = a.shape[:2]
    ch = 1 if a.ndim == 2 else a.shape[2]
    raw = a.astype(">u2").reshape(h, -1).view(np.uint8).astype(np.int32)
    bpp, rows, prev = 2 * ch, [], np.zeros(raw.shape[1], np.int32)
    for r in raw:
        left = np.concatenate([np.zeros(bpp, np.int32), r[:-bpp]])
        ul = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
        p = left + prev - ul
        pa, pb, pc = abs(p - left), abs(p - prev), abs(p - ul)
        pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, prev, ul))
        rows.append(b"\x04" + ((r - pred) % 256).astype(np.uint8).tobytes())
        prev = r

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    body = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, {1: 0, 2: 4, 3: 2, 4: 6}[ch], 0, 0, 0))
    if icc:
        body += chunk(b"iCCP", b"icc\0\0" + zlib.compress(icc))
    if dpi:
        body += chunk(b"pHYs", struct.pack(">IIB", round(dpi / 0.0254), round(dpi / 0.0254), 1))
    body += chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _lab_f(t: np.ndarray) -> np.ndarray:
    return np.where(t > 216 / 24389, np.cbrt(t), (24389 / 27 * t + 16) / 116)


def cmyk_icc() -> bytes:
    """A minimal ICC v2 output profile for CMYK (CMYK -> Lab lut8, 2-point grid):
    C, M, Y, K behave like ideal inks over sRGB primaries."""
    corners = np.array([[(i >> s) & 1 for s in (3, 2, 1, 0)] for i in range(16)], float)  # c m y k, c slowest
    rgb = (1 - corners[:, :3]) * (1 - corners[:, 3:])
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = lin @ np.array([[0.4361, 0.3851, 0.1431], [0.2225, 0.7169, 0.0606], [0.0139, 0.0971, 0.7141]]).T
    fx, fy, fz = (_lab_f(xyz[:, i] / w) for i, w in enumerate((0.9642, 1.0, 0.8249)))
    lab = np.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], 1)
    clut = np.clip(np.rint(np.stack([lab[:, 0] * 255 / 100, lab[:, 1] + 128, lab[:, 2] + 128], 1)), 0, 255)
    ramp = bytes(range(256))
    eye = b"".join(struct.pack(">i", 65536 if r == c else 0) for r in range(3) for c in range(3))
    a2b0 = b"mft1" + bytes(4) + bytes([4, 3, 2, 0]) + eye + ramp * 4 + clut.astype(np.uint8).tobytes() + ramp * 3
    wtpt = b"XYZ " + bytes(4) + _s15(0.9642) + _s15(1.0) + _s15(0.8249)
    text = b"mchmc test CMYK\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    tags = [(b"desc", desc), (b"wtpt", wtpt), (b"A2B0", a2b0)]
    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for sig, body in tags:
        body += bytes(-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"none" + bytes([2, 0x10, 0, 0]) + b"prtr" + b"CMYK" + b"Lab "
              + bytes(12) + b"acsp" + bytes(4) + bytes(4) + bytes(4) + bytes(4) + bytes(8) + struct.pack(">I", 0)
              + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + bytes(4) + bytes(16) + bytes(28))
    assert len(header) == 128, len(header)
    return header + struct.pack(">I", len(tags)) + table + data


def random_engine(tile: int = 64, seed: int = 0) -> Engine:
    torch.manual_seed(seed)
    model = build_model("mch-mc")
    model.reset_parameters(0.05)
    return Engine(model, tile=tile)


def identity_engine(tile: int = 64) -> Engine:
    """conv1, conv2 pass Y through channel 0 (Y > 0 survives the ReLUs); conv3 copies it
    to the 4 sub-pixels: SR = nearest-neighbour 2x of Y, exactly."""
    model = build_model("mch-mc")
    model.reset_parameters(0.0)
    with torch.no_grad():
        model.conv1.weight[0, 0, 2, 2] = 1.0
        model.conv2.weight[0, 0, 2, 2] = 1.0
        model.conv3.weight[:, 0, 1, 1] = 1.0
    return Engine(model, tile=tile)


@dataclass(frozen=True)
class Fixture:
    name: str  # file name (the extension picks the format)
    make: object  # callable(path)
    mode: str  # expected output mode
    bits: int  # expected output bits per sample
    pages: int = 1
    icc: bool = True  # the fixture carries an ICC profile the output must keep byte for byte
    dpi: bool = True
    exif: bool = True


ICC, EXIF = icc_bytes(), exif_bytes()


def _pil(arr_or_im, **kw):
    def make(path: Path):
        im = arr_or_im() if callable(arr_or_im) else arr_or_im
        save = {"dpi": (300, 300), "icc_profile": ICC, "exif": EXIF, **kw}
        im.save(path, **{k: v for k, v in save.items() if v is not None})
    return make


def _tif(data, **kw):
    def make(path: Path):
        args = {"resolution": (300, 300), "resolutionunit": "inch", "iccprofile": ICC,
                "extratags": [(271, "s", 0, "ScanCo", False), (274, "H", 1, 6, False)], **kw}
        tifffile.imwrite(path, data() if callable(data) else data, **args)
    return make


def _palette(gray: bool, transparent: bool = False) -> Image.Image:
    im = Image.fromarray(rgb8()).convert("L" if gray else "RGB").convert("P") if gray else \
        Image.fromarray(rgb8()).quantize(32)
    if gray:
        im.putpalette([v for i in range(256) for v in (i, i, i)])
    if transparent:
        im.info["transparency"] = 3
    return im


def _la8():
    return Image.fromarray(np.dstack([rgb8()[..., 0], rgb8(seed=1)[..., 1]]), "LA")


def _rgba8():
    return Image.fromarray(np.dstack([rgb8(), rgb8(seed=2)[..., 0]]), "RGBA")


def _bilevel():
    return Image.fromarray(rgb8()[..., 0] > 128)


def _rgba16() -> np.ndarray:
    return np.dstack([ramp16(), ramp16()[::-1], ramp16()[:, ::-1], ramp16().T.reshape(H, W)])


_TIFFINFO = {271: "ScanCo", 274: 6}

FIXTURES = [
    Fixture("l8.png", _pil(lambda: Image.fromarray(rgb8()[..., 1])), "L", 8),
    Fixture("la8.png", _pil(_la8), "LA", 8),
    Fixture("rgb8.png", _pil(lambda: Image.fromarray(rgb8())), "RGB", 8),
    Fixture("rgba8.png", _pil(_rgba8), "RGBA", 8),
    Fixture("pal.png", _pil(lambda: _palette(False)), "RGB", 8),
    Fixture("palgray.png", _pil(lambda: _palette(True)), "L", 8),
    Fixture("paltrns.png", _pil(lambda: _palette(False, True), transparency=3), "RGBA", 8),
    Fixture("bilevel.png", _pil(_bilevel), "L", 8),
    Fixture("l16.png", _pil(lambda: Image.fromarray(ramp16())), "L", 16),
    Fixture("rgb16.png", lambda p: write_png16(p, _rgba16()[..., :3], ICC, 300), "RGB", 16, exif=False),
    Fixture("rgba16.png", lambda p: write_png16(p, _rgba16(), ICC, 300), "RGBA", 16, exif=False),
    Fixture("la16.png", lambda p: write_png16(p, _rgba16()[..., :2], ICC, 300), "LA", 16, exif=False),
    Fixture("gray.jpg", _pil(lambda: Image.fromarray(rgb8()[..., 0]), quality=95), "L", 8),
    Fixture("rgb.jpg", _pil(lambda: Image.fromarray(rgb8()), quality=95), "RGB", 8),
    Fixture("cmyk.jpg", _pil(lambda: Image.fromarray(rgb8()).convert("CMYK"), icc_profile=None), "RGB", 8, icc=False),
    Fixture("rgb.webp", _pil(lambda: Image.fromarray(rgb8()), lossless=True, dpi=None), "RGB", 8, dpi=False),
    Fixture("rgba.webp", _pil(_rgba8, lossless=True, dpi=None), "RGBA", 8, dpi=False),
    Fixture("rgb.bmp", _pil(lambda: Image.fromarray(rgb8()), icc_profile=None, exif=None), "RGB", 8, icc=False,
            exif=False),
    Fixture("l.bmp", _pil(lambda: Image.fromarray(rgb8()[..., 2]), icc_profile=None, exif=None), "L", 8, icc=False,
            exif=False),
    Fixture("l8.tif", _tif(lambda: rgb8()[..., 0], photometric="minisblack"), "L", 8),
    Fixture("l16.tif", _tif(ramp16, photometric="minisblack", compression="zlib", predictor=2), "L", 16),
    Fixture("rgb8.tif", _tif(rgb8, photometric="rgb", compression="zlib"), "RGB", 8),
    Fixture("rgb16.tif", _tif(lambda: _rgba16()[..., :3], photometric="rgb"), "RGB", 16),
    Fixture("rgba16.tif", _tif(_rgba16, photometric="rgb", extrasamples=["unassalpha"]), "RGBA", 16),
    Fixture("bilevel.tif", _tif(lambda: rgb8()[..., 0] > 128, photometric="minisblack"), "L", 8),
    Fixture("white.tif", _tif(lambda: rgb8()[..., 0], photometric="miniswhite"), "L", 8),
    Fixture("palette.tif", _tif(lambda: (rgb8()[..., 0] // 16).astype(np.uint8), photometric="palette",
                                colormap=np.stack([np.arange(256) * 257, np.arange(256)[::-1] * 257,
                                                   np.full(256, 30000)]).astype(np.uint16)), "RGB", 8),
    Fixture("cmyk.tif", _tif(lambda: np.asarray(Image.fromarray(rgb8()).convert("CMYK")), photometric="separated",
                             iccprofile=None), "RGB", 8, icc=False),
    Fixture("pages.tif", _tif(lambda: np.stack([rgb8(seed=s) for s in range(3)]), photometric="rgb"), "RGB", 8,
            pages=3),
    Fixture("big.tif", _tif(lambda: _rgba16()[..., :3], photometric="rgb", bigtiff=True), "RGB", 16),
    Fixture("tiled.tif", _tif(lambda: rgb8(40, 50), photometric="rgb", tile=(16, 16), compression="zlib"), "RGB", 8),
    Fixture("planar.tif", _tif(lambda: np.moveaxis(rgb8(), -1, 0), photometric="rgb", planarconfig="separate"),
            "RGB", 8),
    # libtiff (Pillow) writes these codecs; tifffile needs imagecodecs to read them, else Pillow reads them
    Fixture("lzw.tif", lambda p: Image.fromarray(rgb8()).save(p, compression="tiff_lzw", dpi=(300, 300),
                                                             icc_profile=ICC, tiffinfo=_TIFFINFO), "RGB", 8),
    Fixture("g4.tif", lambda p: _bilevel().save(p, compression="group4", dpi=(300, 300), icc_profile=ICC,
                                                tiffinfo=_TIFFINFO), "L", 8),
]
