"""Small PDFs made with pikepdf, as scanners and OCR tools write them: one image
per page drawn over the whole page (``q W 0 0 H 0 0 cm /Im0 Do Q``), or the
things that are not a scanned page (vector text, two images, none)."""
from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pikepdf
from pikepdf import Dictionary, Name
from PIL import Image

DPI = 150  # the scans' resolution: a page of W px is W * 72 / DPI points wide


def jpeg_bytes(pixels: np.ndarray, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def dct(pdf: pikepdf.Pdf, data: bytes, width: int, height: int, gray: bool = False) -> pikepdf.Stream:
    """A JPEG as a PDF image (DCTDecode), its bytes as they are."""
    return pikepdf.Stream(pdf, data, Type=Name.XObject, Subtype=Name.Image, Width=width, Height=height,
                          ColorSpace=Name.DeviceGray if gray else Name.DeviceRGB, BitsPerComponent=8,
                          Filter=Name.DCTDecode)


def flate(pdf: pikepdf.Pdf, gray: np.ndarray) -> pikepdf.Stream:
    """8-bit gray pixels as a lossless PDF image (FlateDecode)."""
    h, w = gray.shape
    return pikepdf.Stream(pdf, zlib.compress(gray.tobytes()), Type=Name.XObject, Subtype=Name.Image, Width=w,
                          Height=h, ColorSpace=Name.DeviceGray, BitsPerComponent=8, Filter=Name.FlateDecode)


def size_pt(image: pikepdf.Stream) -> tuple[float, float]:
    return int(image.Width) * 72 / DPI, int(image.Height) * 72 / DPI


def page(pdf: pikepdf.Pdf, content: bytes, size: tuple[float, float], **xobjects) -> pikepdf.Page:
    """A page of ``size`` points drawing ``content`` with ``xobjects`` (and Helvetica as /F1)."""
    p = pdf.add_blank_page(page_size=size)
    p.obj.Resources = Dictionary(XObject=Dictionary({f"/{k}": v for k, v in xobjects.items()}),
                                 Font=Dictionary(F1=Dictionary(Type=Name.Font, Subtype=Name.Type1,
                                                               BaseFont=Name.Helvetica)))
    p.obj.Contents = pikepdf.Stream(pdf, content)
    return p


def scan_page(pdf: pikepdf.Pdf, image: pikepdf.Stream, extra: bytes = b"") -> pikepdf.Page:
    """The usual scanner page: ``image`` over the whole page (``extra`` drawn after it)."""
    w, h = size_pt(image)
    return page(pdf, b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q\n" % (w, h) + extra, (w, h), Im0=image)


def text_page(pdf: pikepdf.Pdf, text: bytes = b"Hello", mode: int = 0, size=(200.0, 100.0)) -> pikepdf.Page:
    return page(pdf, b"BT /F1 12 Tf %d Tr 10 50 Td (%s) Tj ET\n" % (mode, text), size)


def with_metadata(pdf: pikepdf.Pdf) -> pikepdf.Pdf:
    """An Info dictionary and an XMP packet, as a scanning application writes them."""
    pdf.docinfo["/Title"] = "Scanned volume"
    pdf.docinfo["/Author"] = "A. Scanner"
    pdf.docinfo["/Producer"] = "ScanApp 3.1"
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as meta:
        meta["dc:title"] = "Scanned volume (XMP)"
    return pdf


def save(pdf: pikepdf.Pdf, path: Path, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.save(path, **kw)
    return path


def the_image(p: pikepdf.Page) -> pikepdf.Stream:
    return p.obj.Resources.XObject.Im0


def pixels(image: pikepdf.Stream) -> np.ndarray:
    return np.asarray(pikepdf.PdfImage(image).as_pil_image())
