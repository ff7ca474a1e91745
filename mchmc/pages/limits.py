"""Limits a page must pass from its header alone, before any pixel is decoded.

``max_pixels`` (in :mod:`mchmc.pages.read`) bounds the pixel count; two more
checks live here, because a page under that count can still take a worker down:

- **Memory** (:func:`page_memory_bytes`, :func:`check_memory`): what reading,
  upscaling and writing the page will need, from its size and layout, against
  the worker's budget (``max_bytes``; :func:`default_worker_memory` gives one).
  A 22000 x 22000 RGB page is under the 500 MP default but needs ~19 GB.
- **Density** (:func:`check_density`): a header claiming far more pixels than
  the file's bytes could encode is a decompression bomb or a forged / cut
  header; either way decoding it costs the full page's memory and time (a
  2.9 KB progressive JPEG claiming 9000 x 9000 took 3 minutes and 3.9 GB).

Every refusal is a one-line :class:`~mchmc.errors.PageError` naming the file.
"""
from __future__ import annotations

import os

from mchmc.errors import DecompressionBombError, PageTooLargeError, TruncatedPageError


def check_pixels(path, width: int, height: int, max_pixels: int | None, what: str = "") -> None:
    """An empty image is a broken header; more than ``max_pixels`` is refused as a bomb."""
    if width < 1 or height < 1:
        raise TruncatedPageError(path, f"{what}header claims an empty image ({width}x{height})")
    if max_pixels and width * height > max_pixels:
        raise DecompressionBombError(path, f"{what}header claims {width}x{height} = {width * height:,} pixels, "
                                           f"more than the limit of {max_pixels:,} (--max-pixels); not decoded")


# ---------------------------------------------------------------- memory
SCALE = 2  # MCH-MC's scale; the output has SCALE**2 times the pixels
# Bytes per LR pixel per (channel x byte per sample) of the decoded layout:
#  2    the decoded page + the codec's own buffer of it during decoding (Pillow's
#       image, tifffile's array, the 16-bit PNG's high/low halves), or the page
#       kept while its output is encoded
#  4    the SCALE**2 x larger output of the same dtype and channels
#  4    the writer's copy of the output (Pillow's fromarray for PNG / JPEG / WebP)
# bench/pagememory.py measures ~9 (RGB, RGBA, gray; 8 or 16-bit, same format out).
PER_SAMPLE_COPIES = 2 + SCALE**2 + SCALE**2
# Bytes per LR pixel whatever the layout: the float32 Y plane of the whole page
# (what the classifier pools), plus slack for small per-pixel index arrays.
PER_PIXEL_BYTES = 4 + 4
# The float32 working strips of the upscaler (pages.upscale.STRIP_PIXELS LR pixels at
# a time: Y, Cb, Cr, their 2x), the engine's tiles (64-channel float32 feature
# maps: ~20 MB a map at tile 256, ~270 MB at 1024) and the allocator's slack:
# measured 50-120 MB at tile 256; 512 MB covers tiles up to ~512 px.
WORKING_BYTES = 512 << 20
# A progressive JPEG is decoded in passes over libjpeg's coefficient buffer of
# the whole image: 64 coefficients of 2 bytes (JCOEF) per 8 x 8 block of each
# component, 2 bytes a sample, held while the pixels are made (a baseline JPEG
# is decoded a block row at a time and needs none).
COEFFICIENT_BYTES = 2


def page_memory_bytes(width: int, height: int, channels: int, bytes_per_sample: int, scale: int = SCALE) -> int:
    """Bytes one worker needs to read, 2x-upscale (or, ``scale`` 4, upscale twice) and write a ``width`` x
    ``height`` page of ``channels`` samples of ``bytes_per_sample`` bytes each
    (the decoded layout: a 1-bit page is 1 channel of 1 byte, a palette page
    the 3 or 4 channels it expands to, 16-bit samples 2 bytes).

    An estimate from the header alone, on the high side on purpose: calibrated
    by ``bench/pagememory.py``, which measures the peak resident memory of the
    real read -> upscale -> write path (table in its docstring): 2.8x the
    measured peak for a 6 MP RGB page, 4.7x for a 6 MP 1-bit one. Not covered:
    a writer's format conversion of the whole output (RGBA -> JPEG composites
    alpha in float32: 136 bytes a pixel, over this estimate above ~5 MP)."""
    pixels = int(width) * int(height)
    # two passes: the output and the writer's copy are scale**2 times the page, and the first pass's
    # output (SCALE**2) is held, with its float Y plane, while the second pass runs
    copies = PER_SAMPLE_COPIES if scale == SCALE else 2 + 2 * scale**2 + SCALE**2
    per_pixel = PER_PIXEL_BYTES if scale == SCALE else PER_PIXEL_BYTES * (1 + SCALE**2)
    return pixels * (int(channels) * int(bytes_per_sample) * copies + per_pixel) + WORKING_BYTES


def available_memory() -> int:
    """Memory the system can give without swapping: MemAvailable from
    /proc/meminfo (Linux), else free pages x page size (os.sysconf)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return 0


def default_worker_memory(workers: int, fraction: float = 0.8) -> int:
    """A per-worker memory budget: ``fraction`` of the available memory split
    evenly between ``workers`` (the rest stays for the OS, the page cache and
    the workers' fixed cost). 0 when the available memory cannot be read: a
    budget of 0 means none, see :func:`check_memory`."""
    return int(available_memory() * fraction) // max(1, int(workers))


def human_bytes(n: float) -> str:
    """1234567890 -> '1.2 GB' (decimal units, as disks and ``free -h`` users read them)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def layout_words(channels: int, bytes_per_sample: int, bits: int | None = None) -> str:
    """'RGB, 8-bit' / 'gray, 16-bit' / '1-bit' for a message."""
    if bits == 1:
        return "1-bit"
    name = {1: "gray", 2: "gray + alpha", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels} channels")
    return f"{name}, {bits or 8 * bytes_per_sample}-bit"


def check_memory(path, width: int, height: int, channels: int, bytes_per_sample: int, max_bytes: int | None,
                 what: str = "", bits: int | None = None, scale: int = SCALE, coefficient_planes: int = 0) -> None:
    """Refuse (:class:`PageTooLargeError`) a page whose :func:`page_memory_bytes`
    exceeds ``max_bytes`` (None or 0: no budget). ``coefficient_planes``: the
    components of a progressive JPEG, whose coefficients are held whole while it decodes."""
    if not max_bytes:
        return
    need = page_memory_bytes(width, height, channels, bytes_per_sample, scale) + \
        int(width) * int(height) * int(coefficient_planes) * COEFFICIENT_BYTES
    if need > max_bytes:
        how = "to upscale" if scale == SCALE else f"to upscale {scale}x"
        raise PageTooLargeError(path, f"{what}needs about {human_bytes(need)} {how} ({width} x {height} "
                                      f"{layout_words(channels, bytes_per_sample, bits)}), over this worker's budget "
                                      f"of {human_bytes(max_bytes)}; split it or raise --max-memory")


# ---------------------------------------------------------------- density
# Pages up to this many pixels are never refused for density: decoding even a
# bogus one costs at most ~64 MB (RGBA) and a fraction of a second.
DENSITY_FLOOR_PIXELS = 16_000_000
# The most pixels per byte of encoded data a complete, honest file can hold:
# - deflate (PNG, TIFF zip) expands at most ~1032:1, and the densest page packs
#   8 pixels in a byte (1-bit), so a PNG stays under ~8,300 px/byte (its filter
#   bytes make it less); TIFF LZW peaks near ~1,400:1 (~11,000 px/byte at 1 bit)
#   and PackBits at 64:1. 20,000 leaves about twice the best honest ratio.
MAX_PIXELS_PER_BYTE = 20_000
DEFLATE_MAX_RATIO = 1032  # the most deflate can expand (its longest match per shortest code); ZIP entries too
# - Huffman JPEG (baseline or progressive) spends at least one bit on every
#   8 x 8 block of the full-resolution component (its DC code), so a complete
#   JPEG holds at most 512 px/byte; a blank 9000 x 9000 progressive JPEG is
#   ~317 KB (255 px/byte). 2,000 is 4x the bound. A file far denser than that
#   is cut short or forged, and libjpeg would fill the missing part with gray
#   after allocating (and, progressive, buffering) the whole page.
MAX_PIXELS_PER_BYTE_JPEG = 2_000
# - lossless WebP has no such bound (a colour-cache hit costs 0 bits when the
#   page has one colour): libwebp's default settings make a blank 6000 x 8000
#   page ~1.9 KB (25,000 px/byte), its fastest one a blank 16383 x 16383 page
#   38 bytes (7 million px/byte). 200,000 passes the first kind, refuses the second.
MAX_PIXELS_PER_BYTE_WEBP = 200_000
# CCITT T.4 / T.6 (fax) TIFF codes a blank row in as little as one bit, so a
# blank 1-bit scan can be denser than anything above: for these, only a header
# claiming more rows than the data has bits is refused. JBIG (arithmetic coded)
# has no useful bound and is not checked.
CCITT = (2, 3, 4)
JBIG = (9, 10, 34661)
TIFF_JPEG = (6, 7)


def check_density(path, width: int, height: int, data_bytes: int, fmt: str, compression: int | None = None,
                  what: str = "") -> None:
    """Refuse (:class:`DecompressionBombError`) a page above
    :data:`DENSITY_FLOOR_PIXELS` whose header claims far more pixels than
    ``data_bytes`` (the file's size, a TIFF page's own strip / tile bytes, a
    JPEG's DC scans' entropy-coded bytes: :mod:`mchmc.pages.jpegscan`) can hold
    in format ``fmt`` (TIFF: with ``compression``, the TIFF code)."""
    pixels = int(width) * int(height)
    if pixels <= DENSITY_FLOOR_PIXELS or compression in JBIG:
        return
    data_bytes = max(1, int(data_bytes))
    if compression in CCITT:
        if height > 8 * data_bytes:
            raise DecompressionBombError(path, f"{what}header claims {height:,} rows but the page has only "
                                               f"{data_bytes:,} bytes of fax-coded data (at least one bit a row); "
                                               "cut short or forged, not decoded")
        return
    if fmt in ("JPEG", "MPO") or compression in TIFF_JPEG:
        limit = MAX_PIXELS_PER_BYTE_JPEG
    else:
        limit = MAX_PIXELS_PER_BYTE_WEBP if fmt == "WEBP" else MAX_PIXELS_PER_BYTE
    if pixels > limit * data_bytes:
        coded = "entropy-coded JPEG" if limit == MAX_PIXELS_PER_BYTE_JPEG and compression is None else fmt
        raise DecompressionBombError(path, f"{what}header claims {width} x {height} = {pixels:,} pixels from only "
                                           f"{human_bytes(data_bytes)} of {coded} data ({pixels // data_bytes:,} pixels "
                                           f"a byte; real {fmt} pages stay under {limit:,}): a decompression bomb "
                                           "or a cut-short file, not decoded")
