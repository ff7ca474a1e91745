"""Scanned PDFs as containers of pages: which pages are plain images, each
image out to be upscaled as a loose page, and the document written back with
those images at 2x.

A PDF is a container like a CBZ volume (:mod:`mchmc.containers.formats`): its
entries are its pages (``doc.pdf!/page-003``), and a page is upscaled when it
is a plain image, one scan drawn over the whole page
(:func:`mchmc.containers.pdfpage.look`). Every other page (vector text, several
images, none, a colour space the upscaler does not take) is left unchanged,
and the document's record says so in one line per page. A document without
a single plain image page is skipped (nothing to upscale).

Written back (:func:`write_container`): the same document, objects, page
tree, Info dictionary, XMP metadata, outlines, annotations and every stream
not replaced byte for byte (``stream_decode_level`` none), each upscaled
image put in place of the old one under the same object number. Its content
stream's placement is untouched, so every page keeps its size in points and
its effective DPI doubles. The new images go in through qpdf's JSON update,
whose stream data qpdf reads only while it writes the file: memory holds a
page, not the document's images.

Safety: an encrypted PDF (even one that opens without a password) is one
line; each image passes a loose page's header checks before it is decoded,
and decoding is bounded by its declared size (:func:`mchmc.containers.pdfimage.write_image`).
"""
from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from mchmc.containers.entry import IMAGE, OTHER, Entry, LastOpened, member_path
from mchmc.containers.pdfimage import replacement, write_image
from mchmc.containers.pdfpage import DamagedPage, look, qpdf_reason, suffix
from mchmc.errors import ContainerError, one_line
from mchmc.fsutil import atomic_write
from mchmc.pages.meta import DEFAULT_MAX_PIXELS

KEEPS_FORMAT = True  # a page image is a PDF stream: JPEG stays JPEG (DCT), anything else lossless (Flate)
EMPTY_SKIPPED = True  # a document with no plain image page has nothing to upscale: skipped, not copied
UNCHANGED = "left unchanged"  # how a failed page is kept
DAMAGED = "damaged"  # Entry.note of a page the file describes wrongly: an error when its image is extracted
SAME = "same"  # Entry.kind of a page drawing an earlier page's image: upscaled with that page, no record of its own
ENCRYPTED = "encrypted PDF: not supported; decrypt it (qpdf --decrypt in.pdf out.pdf) and run again"
_scanned: dict[tuple, list[Entry]] = {}  # the last document's entries, by (path, size, mtime)


def page_name(index: int) -> str:
    return f"page-{index + 1:03d}"


def _open(path, size: int = 0, max_pixels: int | None = None):
    """The document, opened lazily (pages and streams are read when used); encrypted or unreadable: one line."""
    import pikepdf

    try:
        pdf = pikepdf.open(path, inherit_page_attributes=False)
    except pikepdf.PasswordError:
        raise ContainerError(path, ENCRYPTED) from None
    except (pikepdf.PdfError, OSError, ValueError, RuntimeError) as err:
        raise ContainerError(path, f"not a readable PDF ({qpdf_reason(err, path)})") from None
    if pdf.is_encrypted:
        pdf.close()
        raise ContainerError(path, ENCRYPTED)
    return pdf


_last = LastOpened(_open)


def entries(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> list[Entry]:
    """Every page in order: IMAGE (a plain image, to be upscaled), OTHER (left
    unchanged; ``note`` says why) or SAME (draws the image of an earlier page,
    which is upscaled once, for both). Scanned once per file version: the plan
    counts the pages, then the run opens the document."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _scanned:
        found, first = [], {}
        with _open(path) as pdf:
            for i in range(_page_count(pdf, path)):
                try:
                    seen = look(pdf.pages[i].obj)
                    jpeg_or_png = suffix(seen.image) if seen.image is not None else ""
                except Exception:  # a damaged page is its own error (at extraction, where it is told), kept as it is
                    found.append(Entry(i, page_name(i), IMAGE, ".png", DAMAGED))
                    continue
                og = seen.image.objgen if seen.image is not None else None
                if seen.reason:
                    found.append(Entry(i, page_name(i), OTHER, note=seen.reason))
                elif og in first:
                    found.append(Entry(i, page_name(i), SAME, note=f"the same image as page {first[og] + 1}"))
                else:
                    first[og] = i
                    found.append(Entry(i, page_name(i), IMAGE, jpeg_or_png,
                                       "invisible text" if seen.invisible_text else ""))
        _scanned.clear()
        _scanned[key] = found
    return _scanned[key]


def _page_count(pdf, path) -> int:
    """How many pages the page tree holds; a tree qpdf cannot walk (a loop, a kid that is no page) is one line."""
    import pikepdf

    try:
        return len(pdf.pages)
    except (pikepdf.PdfError, pikepdf.ForeignObjectError, RuntimeError, ValueError, TypeError) as err:
        raise ContainerError(path, f"its page tree is damaged ({qpdf_reason(err, path)}); nothing can be upscaled "
                                   "in it") from None


def damage(err: Exception) -> str:
    """Why a damaged page cannot be upscaled, in words."""
    if isinstance(err, DamagedPage):
        return str(err)
    return f"its page's content or resources are malformed ({one_line(str(err))[:200] or 'no reason given'})"


def count_pages(path: str | os.PathLike) -> int:
    """How many pages are plain images; 0 for a document that will be refused (its run says why)."""
    try:
        return sum(e.kind == IMAGE for e in entries(path))
    except (ContainerError, OSError):
        return 0


def page_names(entry: Entry, output_name) -> tuple[str, str]:
    """(the page's name in the output, its file's extension): pages keep their names and image formats."""
    return entry.name, entry.suffix


def entry_notes(found: list[Entry], classify: bool = False) -> list[str]:
    """One line per page that is not a plain image (left unchanged; classifying: not classified),
    and a count of the pages whose invisible text (OCR) stays."""
    done = {OTHER: "not classified" if classify else "left unchanged",
            SAME: "classified with it" if classify else "upscaled with it"}
    notes = [f"page {e.index + 1}: {e.note}, {done[e.kind]}" for e in found if e.kind in done]
    if notes:
        images = sum(e.kind == IMAGE for e in found)
        notes.insert(0, f"{len(found)} pages in the document: {images} plain image page(s), the rest as below")
    ocr = sum(e.kind == IMAGE and e.note == "invisible text" for e in found)
    if ocr and not classify:
        notes.append(f"{ocr} page(s) carry invisible text (an OCR layer): kept over the upscaled image, in place")
    return notes


def _image(pdf, path, entry: Entry):
    """The plain image of ``entry``'s page, as when the run began (else the document changed: one line)."""
    try:
        page = pdf.pages[entry.index].obj if entry.index < len(pdf.pages) else None
        seen = look(page) if page is not None else None
    except Exception as err:
        raise ContainerError(member_path(path, entry.name), damage(err)) from None
    if seen is None or seen.reason or suffix(seen.image) != entry.suffix:
        raise ContainerError(member_path(path, entry.name), "the document changed during the run; run the command "
                                                            "again")
    return seen.image


def extract(path: str | os.PathLike, entry: Entry, out: BinaryIO, max_pixels: int | None = DEFAULT_MAX_PIXELS,
            max_bytes: int | None = None) -> None:
    """Write ``entry``'s page image into the open file ``out``: its JPEG, or its pixels as a PNG; a page
    whose upscaling needs more than ``max_bytes`` is refused before it is decoded."""
    pdf = _last.get(path, max_pixels)
    write_image(_image(pdf, path, entry), entry.suffix, out, member_path(path, entry.name), max_pixels, max_bytes)


def write_container(path: str | os.PathLike, out: BinaryIO, replaced: Mapping[int, tuple[str, Path]],
                    max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
    """Write the document at ``path`` into the open file ``out`` with the image
    of each page in ``replaced`` (page index -> (name, upscaled file)) replaced."""
    import pikepdf

    try:
        _write(pikepdf, path, out, replaced)
    except pikepdf.PdfError as err:
        raise ContainerError(path, f"cannot be written back: qpdf failed ({qpdf_reason(err, path)})") from None


def _write(pikepdf, path, out: BinaryIO, replaced: Mapping[int, tuple[str, Path]]) -> None:
    with _open(path) as pdf:
        if not replaced:
            pdf.save(out, stream_decode_level=pikepdf.StreamDecodeLevel.none, deterministic_id=True)
            return
        folder = Path(next(iter(replaced.values()))[1]).parent
        with atomic_write(folder / "update.json", commit=False) as tmp:
            with open(tmp, "w", encoding="utf-8") as update:
                _write_update(update, ((_image(pdf, path, Entry(i, name, IMAGE, Path(page).suffix)), Path(page))
                                       for i, (name, page) in sorted(replaced.items())))
            with open(tmp, "rb") as update:  # qpdf reads the images' data from here while it saves
                pdf.update_from_qpdf_json(update)
                pdf.save(out, stream_decode_level=pikepdf.StreamDecodeLevel.none, deterministic_id=True)
            tmp.unlink()


def _write_update(f, images: Iterator[tuple[object, Path]]) -> None:
    """qpdf JSON (v2) replacing each image object with its upscaled page: the new
    dictionary, and the data base64-encoded a chunk at a time (a page at most in memory)."""
    f.write('{"qpdf": [{"jsonversion": 2, "pushedinheritedpageresources": false, "calledgetallpages": false, '
            '"maxobjectid": 0}, {')
    for n, (image, page) in enumerate(images):
        new, data = replacement(image, page)
        num, gen = image.objgen
        f.write(f'{"," if n else ""}"obj:{num} {gen} R": {{"stream": {{"dict": ')
        f.write(new.to_json(dereference=False).decode("utf-8") + ', "data": "')
        for piece in _b64(data):
            f.write(piece)
        f.write('"}}')
    f.write("}]}")


def _b64(chunks: Iterator[bytes]) -> Iterator[str]:
    """Base64 of the concatenated ``chunks``, in pieces (each encodes a multiple of 3 bytes but the last)."""
    rest = b""
    for chunk in chunks:
        rest += chunk
        cut = len(rest) - len(rest) % 3
        if cut:
            yield base64.b64encode(rest[:cut]).decode("ascii")
            rest = rest[cut:]
    if rest:
        yield base64.b64encode(rest).decode("ascii")

