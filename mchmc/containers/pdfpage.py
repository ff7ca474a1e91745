"""One page of a PDF: is it a plain scanned image?

A page is a *plain image* when walking its content stream (and the forms it
draws) finds exactly one image drawn, placed over the page's whole visible
box (CropBox, else MediaBox), and nothing else visible: no painted path or
shading, no inline image, no visible text. Text in render mode 3 (invisible:
the OCR layer scanners add) is allowed and kept, as it stays in place: the
page keeps its size in points. Why the content stream and not the page's
resources: resources may list images a page never draws, and only the drawing
operators say whether text or paths are drawn over the scan. The image itself
must be one the upscaler takes: gray or RGB (Device, Cal, ICC-based, or indexed
on one of them), no colour key, and decodable here (JBIG2 needs jbig2dec).
The image in and out is :mod:`mchmc.containers.pdfimage`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

PAINT = frozenset({"S", "s", "f", "F", "f*", "B", "B*", "b", "b*", "sh"})  # operators that paint paths or shadings
SHOW_TEXT = frozenset({"Tj", "TJ", "'", '"'})
INVISIBLE = 3  # text render mode 3: neither filled nor stroked (an OCR layer)
MAX_FORM_DEPTH = 8  # forms drawing forms: deeper (or a loop) is not a scanned page
FILL_TOLERANCE = 0.01  # of the page's side (at least 1 pt): how far short of the page's edge the image may stop
IDENTITY = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
CHANNELS = {"/DeviceGray": 1, "/CalGray": 1, "/DeviceRGB": 3, "/CalRGB": 3}
BITS = (1, 2, 4, 8, 16)  # the bits per component a PDF image may have


class DamagedPage(Exception):
    """A page the file describes wrongly (its image's size is not a number ...): the reason, in words."""


@dataclass
class Look:
    """What a page draws: the image it would be upscaled through, or why it is not a plain image."""

    image: object = None  # the image XObject (a pikepdf.Stream)
    reason: str = ""  # "" for a plain image
    invisible_text: bool = False
    images: list = field(default_factory=list)  # (image, CTM at its Do)


def inherited(page, key: str):
    """A page attribute, looked up the page tree (/Resources, /MediaBox, /CropBox may sit on an ancestor)."""
    node, depth = page, 0
    while node is not None and depth < 64:
        if key in node:
            return node[key]
        node, depth = node.get("/Parent"), depth + 1
    return None


def look(page) -> Look:
    """Whether ``page`` (a page dictionary) is a plain image (see the module doc)."""
    found = Look()
    _walk(page, inherited(page, "/Resources"), (IDENTITY, 0), found, 0)
    if found.reason:
        return found
    if not found.images:
        return Look(reason="no image")
    image, ctm = found.images[0]
    damage = dictionary_problem(image)
    if damage:
        raise DamagedPage(damage)
    if not _fills(ctm, _box(page)):
        return Look(reason="its image does not cover the page")
    unsupported = _unsupported(image)
    return Look(reason=unsupported) if unsupported else Look(image, "", found.invisible_text)


def _walk(content, resources, state: tuple, found: Look, depth: int) -> None:
    """Follow the drawing operators of ``content`` from graphics ``state`` (CTM, text render mode),
    recording the images drawn and the first thing that is not one."""
    import pikepdf

    stack, (ctm, mode) = [], state
    for inst in pikepdf.parse_content_stream(content):
        if isinstance(inst, pikepdf.ContentStreamInlineImage):
            found.reason = "inline image"
            return
        op, args = str(inst.operator), inst.operands
        if op == "q":
            stack.append((ctm, mode))
        elif op == "Q" and stack:
            ctm, mode = stack.pop()
        elif op == "cm" and len(args) == 6:
            ctm = _times(tuple(float(a) for a in args), ctm)
        elif op == "Tr" and args:
            mode = int(args[0])
        elif op in SHOW_TEXT:
            found.reason = "" if mode == INVISIBLE else "vector text"
            found.invisible_text = True
        elif op in PAINT:
            found.reason = "vector content"
        elif op == "Do" and args:
            _draw(resources, args[0], (ctm, mode), found, depth)
        if found.reason:
            return


def _draw(resources, name, state: tuple, found: Look, depth: int) -> None:
    """``name Do``: an image is recorded, a form is walked (its matrix on top of the CTM)."""
    xobjects = resources.get("/XObject") if resources is not None else None
    xobject = xobjects.get(name) if xobjects is not None else None
    subtype = xobject.get("/Subtype") if xobject is not None else None
    if subtype == "/Form" and depth < MAX_FORM_DEPTH:
        matrix = tuple(float(v) for v in xobject.get("/Matrix", IDENTITY))
        _walk(xobject, xobject.get("/Resources", resources), (_times(matrix, state[0]), state[1]), found, depth + 1)
    elif subtype == "/Image" and not xobject.get("/ImageMask", False):
        found.images.append((xobject, state[0]))
        found.reason = "several images" if len(found.images) > 1 else ""
    else:
        found.reason = {None: "a drawing the file does not define", "/Image": "stencil mask",
                        "/Form": "forms nested too deep"}.get(subtype, "vector content")


def dictionary_problem(image) -> str:
    """What is wrong with the image the page is upscaled through: its dictionary's numbers, no data ("" if nothing)."""
    import pikepdf

    if not isinstance(image, pikepdf.Stream):
        return "its image is a dictionary without image data"
    for key in ("/Width", "/Height", "/BitsPerComponent"):
        value = image.get(key)
        if value is None and key == "/BitsPerComponent":
            continue  # a JPX image may leave it to its codestream; others default to 8 here
        whole = (isinstance(value, int) and not isinstance(value, bool)) or \
            (isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value())  # 100.0
        if not whole or value < 1 or (key == "/BitsPerComponent" and value not in BITS):
            what = "missing" if value is None else _pdf_syntax(value)
            expected = "1, 2, 4, 8 or 16" if key == "/BitsPerComponent" else "a positive whole number"
            return f"its image's {key} is {what}, not {expected}"
    return ""


def _pdf_syntax(value) -> str:
    """A value as the PDF writes it (/Eight, (8), [ 1 ], true, 100.5), cut to 40 characters."""
    import pikepdf

    if isinstance(value, pikepdf.Object):
        return value.unparse().decode("latin-1")[:40]
    return str(value).lower() if isinstance(value, bool) else str(value)[:40]


def qpdf_reason(err: Exception, path) -> str:
    """qpdf's message on one line, without the file's path it starts with (the error names the file
    already): ``(object 2 0): Loop detected ...`` -> ``object 2 0: Loop detected ...``."""
    text = " ".join(str(err).replace(str(path), "").split()).strip(" :")
    return re.sub(r"^\((object [^)]*)\)", r"\1", text)[:200] or "no reason given"


def _times(m, n) -> tuple[float, ...]:
    """The matrix product m x n of two PDF matrices [a b c d e f]."""
    a, b, c, d, e, f = m
    p, q, r, s, t, u = n
    return (a * p + b * r, a * q + b * s, c * p + d * r, c * q + d * s, e * p + f * r + t, e * q + f * s + u)


def _box(page) -> tuple[float, ...]:
    box = inherited(page, "/CropBox") or inherited(page, "/MediaBox")
    x0, y0, x1, y1 = (float(v) for v in box)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _fills(ctm, box) -> bool:
    """The image's unit square, placed by ``ctm``, covers ``box`` (to within :data:`FILL_TOLERANCE`)."""
    corners = [(ctm[0] * x + ctm[2] * y + ctm[4], ctm[1] * x + ctm[3] * y + ctm[5]) for x in (0, 1) for y in (0, 1)]
    xs, ys = [p[0] for p in corners], [p[1] for p in corners]
    tx, ty = (max(1.0, FILL_TOLERANCE * (box[i + 2] - box[i])) for i in (0, 1))
    return min(xs) <= box[0] + tx and min(ys) <= box[1] + ty and max(xs) >= box[2] - tx and max(ys) >= box[3] - ty


def _is_name(obj) -> bool:
    from pikepdf import Name

    return isinstance(obj, Name)


def family(space) -> str:
    """A colour space's family (/DeviceRGB, /ICCBased, /Indexed ...); "" for none."""
    if space is None:
        return ""
    return str(space) if _is_name(space) else str(space[0]) if len(space) else ""


def filters(image) -> list[str]:
    """The image's filters, in order."""
    f = image.get("/Filter")
    return [] if f is None else [str(f)] if _is_name(f) else [str(x) for x in f]


def colour_channels(space) -> int | None:
    """Channels of a gray or RGB colour space (Device, Cal, ICC-based); None for any other."""
    kind = family(space)
    if kind == "/ICCBased":
        n = int(space[1].get("/N", 0))
        return n if n in (1, 3) else None
    return CHANNELS.get(kind)


def _unsupported(image) -> str:
    """Why the upscaler cannot take this image ("" if it can)."""
    import pikepdf

    space = image.get("/ColorSpace")
    base = space[1] if family(space) == "/Indexed" else space
    if colour_channels(base) is None and not (space is None and filters(image) == ["/JPXDecode"]):
        return f"{family(base).lstrip('/') or 'no'} colour space image"
    if "/Mask" in image and not isinstance(image.get("/Mask"), pikepdf.Stream):
        return "colour-key masked image"  # its key colours would not survive resampling
    if "/JBIG2Decode" in filters(image):
        from pikepdf.jbig2 import get_decoder

        if not get_decoder().available():
            return "JBIG2 image (no JBIG2 decoder, jbig2dec, on this machine)"
    return ""


def suffix(image) -> str:
    """The extension of the file the image is copied out to: .jpg for a plain JPEG, .png for pixels."""
    jpeg = filters(image) == ["/DCTDecode"] and "/Decode" not in image and int(image.get("/BitsPerComponent", 8)) == 8
    return ".jpg" if jpeg and colour_channels(image.get("/ColorSpace")) in (1, 3) else ".png"
