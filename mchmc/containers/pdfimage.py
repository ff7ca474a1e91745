"""A PDF page's image out as a file of its own (to be upscaled as a loose
page), and the upscaled file back in as the image's new stream.

Out (:func:`write_image`): a DCT (JPEG) image in gray or RGB is copied out as
the JPEG it is, so the upscaler sees the scanner's own JPEG and picks its noise
level from its quantisation tables exactly as for a loose JPEG; any other
image is decoded to pixels (its /Decode applied) and written as a PNG.

In (:func:`replacement`): the upscaled page's file becomes the image's new
stream without being decoded: a JPEG as it is (DCTDecode), a PNG as its IDAT
data (FlateDecode with the PNG predictors is the same format). The image keeps
its other entries (soft mask, intent, interpolation, metadata: a soft mask at
the old size still covers the same unit square) and its colour space where
the pixels keep their channels.
"""
from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from PIL import UnidentifiedImageError

from mchmc.containers.entry import SEPARATOR
from mchmc.containers.pdfpage import colour_channels, family, filters, qpdf_reason
from mchmc.errors import ContainerError, TruncatedPageError
from mchmc.pages.jpegscan import dc_scan_bytes
from mchmc.pages.limits import CCITT, JBIG, check_density, check_memory, check_pixels
from mchmc.pages.modes import pillow_open, pillow_unlimited
from mchmc.pages.read import DECODE_ERRORS, out_of_memory

# A filter -> (what check_density calls its data, the TIFF compression code standing for it)
DENSITY_KIND = {"/CCITTFaxDecode": ("TIFF", CCITT[-1]), "/JBIG2Decode": ("TIFF", JBIG[0]), "/DCTDecode": ("JPEG", None)}
# Codecs whose data carry their own size, which is what the decoder makes (-> how a message names them)
OWN_HEADER = {"/DCTDecode": "JPEG", "/JPXDecode": "JPEG 2000"}
CHUNK = 1 << 20


def write_image(image, to: str, out: BinaryIO, where: str, max_pixels: int | None,
                max_bytes: int | None = None) -> None:
    """The image into the open file ``out`` as ``to`` says (.jpg: its JPEG; .png: its pixels), after the
    checks a loose page's header gets (pixels, density, the memory its upscaling needs against the
    worker's ``max_bytes``), of the size its dictionary declares and of the size its codestream's own
    header says (JPEG, JPEG 2000), with decoding bounded by the size declared."""
    width, height = int(image.get("/Width", 0)), int(image.get("/Height", 0))
    check_pixels(where, width, height, max_pixels, "the page image's ")
    raw = image.read_raw_bytes()
    bits = int(image.get("/BitsPerComponent", 8))
    expected = width * height * 4 * max(bits, 8) // 8 + 8 * height
    codec = (filters(image) or ["/FlateDecode"])[-1]
    size, bands, progressive = (width, height), None, False
    if codec in OWN_HEADER:
        size, bands, progressive = _check_codestream(image, raw, codec, where, max_pixels, expected)
    space = image.get("/ColorSpace")
    channels = 3 if family(space) == "/Indexed" else colour_channels(space) or bands or 3
    check_memory(where, *size, channels, 2 if bits == 16 else 1, max_bytes, "the page image ",
                 bits=bits, coefficient_planes=bands if progressive else 0)
    if to == ".jpg":
        out.write(raw)
        return
    fmt, compression = DENSITY_KIND.get(codec, ("PNG", None))
    check_density(where, width, height, len(raw), fmt, compression, "the page image's ")
    picture = _decoded(image, where, expected)
    if picture.mode not in ("1", "L", "P", "RGB", "I;16"):
        raise ContainerError(where, f"its image decodes to {picture.mode} pixels, which cannot be upscaled here")
    picture.save(out, "PNG", compress_level=1)


def _decoded(image, where: str, expected: int):
    """The image's pixels (a Pillow image), decoded with qpdf's and Pillow's codecs; what they cannot
    decode is one line in their words."""
    import pikepdf
    from pikepdf import PdfImage

    with _decoding_limit(expected), pillow_unlimited(pdf=True):  # our limits decided, before
        try:
            try:  # the base image: its soft mask stays in the PDF as it is, at its own size
                picture = PdfImage(image).as_pil_image(apply_mask=False)
            except TypeError:  # a pikepdf from before masks were composited: the base image already
                picture = PdfImage(image).as_pil_image()
            picture.load()  # Pillow checks its own limit again as it loads a TIFF (pikepdf's CCITT wrapper)
        except MemoryError:
            raise out_of_memory(where, int(image.get("/Width", 0)), int(image.get("/Height", 0))) from None
        except (pikepdf.PdfError, pikepdf.PikepdfError, *DECODE_ERRORS) as err:
            raise TruncatedPageError(where, f"the page image's data cannot be decoded ({qpdf_reason(err, where.split(SEPARATOR)[0])})") \
                from None
    return picture


def _check_codestream(image, raw: bytes, codec: str, where: str, max_pixels: int | None,
                      expected: int) -> tuple[tuple[int, int], int, bool]:
    """A JPEG's or JPEG 2000's own header, checked as a loose page's is: the decoder makes the pixels
    it says, whatever the PDF's /Width and /Height declare (a 2.7 KB JPX declaring 100 x 100 held
    13000 x 13000). Returns (its size, its components, whether it is a progressive JPEG)."""
    import pikepdf

    data = raw
    if len(filters(image)) > 1:  # the codestream under other filters (Flate ...): those undone, bounded
        with _decoding_limit(expected):
            try:
                data = image.read_bytes(decode_level=pikepdf.StreamDecodeLevel.generalized)
            except pikepdf.PdfError as err:
                raise TruncatedPageError(where, f"the page image's data cannot be decoded "
                                                f"({qpdf_reason(err, where.split(SEPARATOR)[0])})") from None
    kind = OWN_HEADER[codec]
    try:
        with pillow_open(io.BytesIO(data)) as im:
            size, bands, progressive = im.size, len(im.getbands()), bool(im.info.get("progressive"))
    except DECODE_ERRORS + (UnidentifiedImageError,):
        raise TruncatedPageError(where, f"the page image's {kind} data has no readable header") from None
    what = f"the page image's {kind} data (its PDF dictionary says {image.get('/Width')} x {image.get('/Height')}) "
    check_pixels(where, *size, max_pixels, what)
    if codec == "/JPXDecode":  # Pillow tells a JP2's header box; openjpeg decodes what the codestream says
        made = j2k_size(data)
        if made is None:
            raise TruncatedPageError(where, f"the page image's {kind} data has no codestream header (SIZ)")
        check_pixels(where, *made, max_pixels, f"the page image's {kind} codestream ")
        if made != size:
            raise TruncatedPageError(where, f"the page image's {kind} header box says {size[0]} x {size[1]} but its "
                                            f"codestream {made[0]} x {made[1]}: damaged or forged, not decoded")
    if codec == "/DCTDecode":
        check_density(where, *size, dc_scan_bytes(data), "JPEG", None, what)
    return size, bands, progressive


def j2k_size(data: bytes) -> tuple[int, int] | None:
    """The size a JPEG 2000 codestream's SIZ marker gives (what openjpeg decodes), in a raw codestream
    or in a JP2 / JPX file's first codestream box (jp2c); None where there is none."""
    i, n = 0, len(data)
    while not data.startswith(b"\xff\x4f\xff\x51", i):  # SOC, SIZ: the codestream starts here
        if i + 8 > n:
            return None
        length, kind = struct.unpack_from(">I4s", data, i)
        head = 8
        if length == 1 and i + 16 <= n:  # a 64-bit box length follows
            length, head = struct.unpack_from(">Q", data, i + 8)[0], 16
        elif length == 0:  # the last box, to the end
            length = n - i
        if kind == b"jp2c":
            if not data.startswith(b"\xff\x4f\xff\x51", i + head):
                return None
            i += head
        elif length < head:
            return None
        else:
            i += length
    if i + 24 > n:
        return None
    x, y, x0, y0 = struct.unpack_from(">IIII", data, i + 8)  # after SOC, SIZ, Lsiz, Rsiz
    return (x - x0, y - y0) if x >= x0 and y >= y0 else (0, 0)


@contextmanager
def _decoding_limit(expected: int):
    """qpdf's decoders stop at twice what the image declares (plus 1 MB): a
    stream expanding past it is a bomb, refused before it fills the memory."""
    from pikepdf import settings

    if not hasattr(settings, "set_qpdf_limits"):  # an older pikepdf: the density check above still applies
        yield
        return
    limit = min(2 * expected + (1 << 20), 2**32 - 1)
    previous = settings.set_qpdf_limits(flate_max_memory=limit, png_max_memory=limit, run_length_max_memory=limit,
                                        tiff_max_memory=limit)
    try:
        yield
    finally:
        settings.set_qpdf_limits(**previous)


def replacement(image, page_file: Path) -> tuple[object, Iterator[bytes]]:
    """(the image's new stream dictionary, its data a chunk at a time) for the upscaled ``page_file``."""
    import pikepdf
    from pikepdf import Name

    jpeg = page_file.suffix.lower() in (".jpg", ".jpeg")
    width, height, bits, channels = _jpeg_header(page_file) if jpeg else _png_header(page_file)
    new = pikepdf.Dictionary(image.stream_dict)
    for key in ("/Length", "/Filter", "/DecodeParms", "/Decode", "/DL", "/SMaskInData"):
        if key in new:
            del new[key]
    new.Width, new.Height, new.BitsPerComponent = width, height, bits
    new.ColorSpace = _space_for(image.get("/ColorSpace"), channels)
    new.Filter = Name.DCTDecode if jpeg else Name.FlateDecode
    if not jpeg:
        new.DecodeParms = pikepdf.Dictionary(Predictor=15, Colors=channels, BitsPerComponent=bits, Columns=width)
    return new, (_file_chunks(page_file) if jpeg else _idat(page_file))


def _space_for(space, channels: int):
    """The image's colour space if the pixels kept its channels (an indexed one's base if the palette
    was expanded to it), else the device space of ``channels``."""
    from pikepdf import Name

    candidate = space[1] if family(space) == "/Indexed" else space
    if colour_channels(candidate) == channels:
        return candidate
    return Name.DeviceGray if channels == 1 else Name.DeviceRGB


def _jpeg_header(path: Path) -> tuple[int, int, int, int]:
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("L", "RGB"):
            raise ContainerError(path, f"an upscaled {im.mode} JPEG page cannot go back into the PDF")
        return im.width, im.height, 8, len(im.mode)


def _png_header(path: Path) -> tuple[int, int, int, int]:
    with open(path, "rb") as f:
        head = f.read(33)
    width, height, bits, colour, _, _, interlace = struct.unpack(">IIBBBBB", head[16:29])
    if head[:8] != b"\x89PNG\r\n\x1a\n" or colour not in (0, 2) or interlace:
        raise ContainerError(path, "an upscaled page that is not a gray or RGB, non-interlaced PNG cannot go back "
                                   "into the PDF")
    return width, height, bits, 1 if colour == 0 else 3


def _file_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _idat(path: Path) -> Iterator[bytes]:
    """A PNG's image data: its IDAT chunks' contents in order (one zlib stream with PNG row filters)."""
    with open(path, "rb") as f:
        f.seek(8)
        while len(head := f.read(8)) == 8:
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IEND":
                return
            if kind != b"IDAT":
                f.seek(length + 4, 1)
                continue
            while length:
                chunk = f.read(min(length, CHUNK))
                if not chunk:
                    raise ContainerError(path, "the upscaled page's PNG is cut short")
                length -= len(chunk)
                yield chunk
            f.seek(4, 1)
