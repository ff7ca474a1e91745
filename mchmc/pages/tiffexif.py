"""Exif and GPS sub-IFDs in TIFFs that tifffile writes (its writer filters the
pointer tags 34665 / 34853 and cannot write sub-IFDs of that kind).

The writer reserves one IFD entry per sub-IFD under a stand-in code that sorts
exactly where the real one goes (34666 right after 34665, 34854 after 34853),
so the entry order stays valid. Once the file is complete, each sub-IFD is
appended at its end, serialised by Pillow's IFD writer with absolute offsets,
and the stand-in entry is patched in place into the real pointer (same 12
bytes). Classic TIFF only: Pillow serialises 32-bit IFDs; a BigTIFF output keeps
its IFD0 tags and says so in the notes.
"""
from __future__ import annotations

import struct
from typing import BinaryIO

from PIL import Image, TiffImagePlugin

STAND_IN = {0x8769: 34666, 0x8825: 34854}  # Exif IFD, GPS IFD -> reserved entry codes
_REAL = {v: k for k, v in STAND_IN.items()}


def sub_ifds(exif: bytes | None) -> dict[int, dict]:
    """The Exif and GPS sub-IFDs of an EXIF block, by pointer tag ({} when none)."""
    if not exif:
        return {}
    ex = Image.Exif()
    try:
        ex.load(exif[6:] if exif.startswith(b"Exif\0\0") else exif)
        found = {tag: dict(ex.get_ifd(tag)) for tag in STAND_IN}
    except Exception:  # unreadable EXIF: the TIFF goes without its sub-IFDs
        return {}
    return {tag: d for tag, d in found.items() if d}


def stand_in_tags(subs: dict[int, dict]) -> list[tuple]:
    """tifffile extratags reserving one LONG entry per sub-IFD."""
    return [(STAND_IN[tag], 4, 1, 0, False) for tag in subs]


def append_sub_ifds(f: BinaryIO, byteorder: str, per_page: list[dict[int, dict]]) -> None:
    """Append the sub-IFDs of each page to the complete classic TIFF ``f`` (open for
    reading and writing) and point the reserved entries at them."""
    bo = byteorder
    f.seek(4)
    (ifd,) = struct.unpack(bo + "I", f.read(4))
    for subs in per_page:
        if not ifd:
            break
        f.seek(ifd)
        (n,) = struct.unpack(bo + "H", f.read(2))
        entries = f.read(12 * n)
        (next_ifd,) = struct.unpack(bo + "I", f.read(4))
        for k in range(n):
            (code,) = struct.unpack_from(bo + "H", entries, 12 * k)
            tag = _REAL.get(code)
            if tag is None or tag not in subs:
                continue
            end = f.seek(0, 2)
            f.write(b"\0" * (end % 2))  # IFDs start on a word boundary
            offset = end + end % 2
            ifh = (b"II*\0" if bo == "<" else b"MM\0*") + b"\0\0\0\0"
            sub = TiffImagePlugin.ImageFileDirectory_v2(ifh, group=tag)
            for t, v in subs[tag].items():
                sub[t] = v
            f.write(sub.tobytes(offset))
            f.seek(ifd + 2 + 12 * k)
            f.write(struct.pack(bo + "HHII", tag, 4, 1, offset))
        ifd = next_ifd
    f.seek(0, 2)
