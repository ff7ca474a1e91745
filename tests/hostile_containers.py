"""Hostile containers (issue 28, B6 / C9 / C10 / C11), made here byte by byte
or with pikepdf: a PDF whose page tree loops, page images whose dictionary
lies (a name for a number, a small declared size over a huge codestream), a
CBZ with an entry of no name. Each is a few KB."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pikepdf
from pikepdf import Name
from PIL import Image

from pdfs import dct, jpeg_bytes, save, scan_page
from test_containers import texture


def raw_zip(entries: list[tuple[bytes, bytes]]) -> bytes:
    """A stored ZIP of (name, data) written field by field: any name, even one zipfile refuses to write."""
    local, central = bytearray(), bytearray()
    for name, data in entries:
        crc = zlib.crc32(data)
        fields = struct.pack("<HHHHHIIIHH", 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(name), 0)
        central += b"PK\x01\x02" + struct.pack("<H", 20) + fields + struct.pack("<HHHII", 0, 0, 0, 0, len(local)) \
            + name
        local += b"PK\x03\x04" + fields + name + data
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(entries), len(entries), len(central), len(local), 0)
    return bytes(local + central + end)


def cbz_with_an_unnamed_entry(path: Path) -> Path:
    """A volume of two good pages around an entry whose name is empty."""
    page = jpeg_bytes(texture(24, 32, 11))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw_zip([(b"001.jpg", page), (b"", b"nameless"), (b"002.jpg", page)]))
    return path


def pdf_whose_kids_loop(path: Path) -> Path:
    """A one-page scan whose page tree lists itself among its own kids."""
    pdf = pikepdf.new()
    scan_page(pdf, dct(pdf, jpeg_bytes(texture(24, 32, 12)), 32, 24))
    pdf.Root.Pages.Kids.append(pdf.Root.Pages)
    pdf.Root.Pages.Count = 2
    return save(pdf, path)


def pdf_with_bits_a_name(path: Path) -> Path:
    """Two scanned pages; the second's DCT image says its /BitsPerComponent is /Eight."""
    pdf = pikepdf.new()
    scan_page(pdf, dct(pdf, jpeg_bytes(texture(24, 32, 13)), 32, 24))
    bad = dct(pdf, jpeg_bytes(texture(24, 32, 14)), 32, 24)
    bad.BitsPerComponent = Name("/Eight")
    scan_page(pdf, bad)
    return save(pdf, path)


def image_declaring(pdf: pikepdf.Pdf, data: bytes, codec: str, width: int, height: int, **more) -> pikepdf.Stream:
    """``data`` as a PDF image of filter ``codec`` whose dictionary declares ``width`` x ``height``."""
    return pikepdf.Stream(pdf, data, Type=Name.XObject, Subtype=Name.Image, Width=width, Height=height,
                          ColorSpace=Name.DeviceGray, BitsPerComponent=8, Filter=Name(codec), **more)


def one_image_pdf(path: Path, make) -> Path:
    """A one-page scan of the image ``make(pdf)`` returns."""
    pdf = pikepdf.new()
    scan_page(pdf, make(pdf))
    return save(pdf, path)


def encoded_gray(side: int, fmt: str, **kw) -> bytes:
    """A flat gray side x side page in ``fmt`` (a few KB whatever its size)."""
    buf = io.BytesIO()
    Image.new("L", (side, side), 200).save(buf, fmt, **kw)
    return buf.getvalue()


def jp2_whose_codestream_says(side: int, width: int, height: int) -> bytes:
    """A side x side JP2 whose codestream's SIZ marker is patched to width x height (its header box unchanged)."""
    data = bytearray(encoded_gray(side, "JPEG2000"))
    struct.pack_into(">II", data, data.index(b"\xff\x4f\xff\x51") + 8, width, height)
    return bytes(data)


def padded_with_com(jpeg: bytes, size: int) -> bytes:
    """``jpeg`` grown to about ``size`` bytes by COM (comment) segments after its SOI."""
    pad = bytearray()
    while len(jpeg) + len(pad) < size:
        body = b"x" * min(65533, size - len(jpeg) - len(pad))
        pad += b"\xff\xfe" + struct.pack(">H", len(body) + 2) + body
    return jpeg[:2] + bytes(pad) + jpeg[2:]


def ccitt_g4(width: int, height: int) -> bytes:
    """A white ``width`` x ``height`` page with a black square, as CCITT group 4 data (a TIFF's strip)."""
    import tifffile

    im = Image.new("1", (width, height), 1)
    im.paste(0, (width // 10, height // 10, width // 3, height // 3))
    buf = io.BytesIO()
    im.save(buf, "TIFF", compression="group4")
    with tifffile.TiffFile(io.BytesIO(buf.getvalue())) as tif:
        strip = tif.pages[0]
        return buf.getvalue()[strip.dataoffsets[0]:strip.dataoffsets[0] + strip.databytecounts[0]]


def ccitt_image(pdf: pikepdf.Pdf, width: int, height: int) -> pikepdf.Stream:
    """A scanner's fax-coded (CCITT group 4) 1-bit page image."""
    return pikepdf.Stream(pdf, ccitt_g4(width, height), Type=Name.XObject, Subtype=Name.Image, Width=width,
                          Height=height, ColorSpace=Name.DeviceGray, BitsPerComponent=1,
                          Filter=Name.CCITTFaxDecode,
                          DecodeParms=pikepdf.Dictionary(K=-1, Columns=width, Rows=height, BlackIs1=False))
