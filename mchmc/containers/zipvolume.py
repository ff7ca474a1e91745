"""CBZ / ZIP volumes as containers of pages: what is inside, what is safe to
read, and the same volume written back with its pages replaced.

A comic volume is a ZIP of page images plus anything else (``ComicInfo.xml``,
text, folders). The batch run (:mod:`mchmc.batch.driver.volumes`) upscales every
image entry as a page of its own; :func:`write_container` then writes the
volume back with the same entries in the same order under the same names (an
image's extension changes only with ``--format``), every other entry's bytes
unchanged, and each entry's timestamp, comment, attributes and compression
method kept, as is the archive's comment.

Safety, checked on the central directory before any byte is expanded
(:func:`entries`, and again by every reader, since the file may change):

- **Names never reach the file system.** An entry is only ever read out of
  the ZIP by its index, into a file named by that index
  (:func:`extract`); nothing is extracted by name. A name with ``..``, an
  absolute path or a drive letter (zip slip) is not even a page: it is copied
  unchanged, and the report names it.
- **ZIP bombs are refused**, with the loose-file path's own limits
  (:mod:`mchmc.pages.limits`): an entry may not declare more bytes than the
  largest page ``--max-pixels`` admits could take uncompressed
  (:func:`member_limit`), and neither an entry nor the whole archive may
  expand more than :data:`MAX_ZIP_RATIO` times (deflate cannot honestly pass
  ~1032:1; overlapping entries, the non-recursive bomb, fail the archive's
  total). zipfile never returns more than an entry declares, so the declared
  sizes bound what reading can cost.
- **Encrypted** archives, and compression methods Python cannot read, are one line.
"""
from __future__ import annotations

import errno
import lzma
import os
import shutil
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from mchmc.containers.entry import FOLDER, IMAGE, OTHER, UNSAFE, Entry, LastOpened, listed, member_path
from mchmc.errors import ContainerError, shown
from mchmc.pages.limits import DEFLATE_MAX_RATIO, human_bytes
from mchmc.pages.meta import DEFAULT_MAX_PIXELS, EXTENSIONS

KEEPS_FORMAT = False  # --format changes a page's format (and its entry's extension)
EMPTY_SKIPPED = False  # a volume without pages is still written: its other entries are its content
UNCHANGED = "copied unchanged"  # how a failed page is kept
READABLE_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
# Twice deflate's bound, as limits.py leaves twice the best honest pixels a byte.
MAX_ZIP_RATIO = 2 * DEFLATE_MAX_RATIO
# Entries (and archives) expanding to at most this many bytes are never refused for their ratio:
# reading them costs nothing worth refusing (as limits.DENSITY_FLOOR_PIXELS for pages).
ZIP_RATIO_FLOOR = 16 << 20
# What one page file can hold beyond its pixels (headers, ICC, EXIF, thumbnails).
PAGE_FILE_SLACK = 64 << 20
BYTES_PER_PIXEL_MAX = 8  # 16-bit RGBA, uncompressed: the most bytes a page's pixels can take
CHUNK = 1 << 20  # bytes copied at a time: memory stays flat whatever the entry's size
# Exceptions zipfile (and its codecs) raise on a file that is not a sound ZIP.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error, zlib.error,
              NotImplementedError, KeyError, IndexError, UnicodeDecodeError, lzma.LZMAError)


def unsafe_name(name: str) -> bool:
    """A name that would climb out of, or ignore, the folder it were extracted to
    (``..``, ``/abs``, ``C:``, either slash), or hides a NUL."""
    parts = name.replace("\\", "/").split("/")
    drive = len(name) > 1 and name[1] == ":" and name[0].isalpha()
    return name.startswith(("/", "\\")) or ".." in parts or "\0" in name or drive


def kind_of(info: zipfile.ZipInfo) -> str:
    """What an entry is. Hidden entries (a part starting with a dot) and macOS's
    ``__MACOSX/`` resource forks (``._001.jpg``) are not pages, as hidden files
    are not in a folder: they are copied like any other entry."""
    if unsafe_name(info.filename):
        return UNSAFE
    if info.is_dir():
        return FOLDER
    parts = info.filename.split("/")
    hidden = any(p.startswith(".") or p == "__MACOSX" for p in parts)
    return IMAGE if Path(info.filename).suffix.lower() in EXTENSIONS and not hidden else OTHER


def member_limit(max_pixels: int | None) -> int:
    """The most bytes an entry may declare: the largest page ``max_pixels`` admits, uncompressed, plus headers."""
    return (max_pixels or DEFAULT_MAX_PIXELS) * BYTES_PER_PIXEL_MAX + PAGE_FILE_SLACK


def _open(path: str | os.PathLike) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except ZIP_ERRORS as err:
        raise ContainerError(path, f"not a readable ZIP ({zip_reason(err)})") from None


def check_entry(path, info: zipfile.ZipInfo, max_pixels: int | None) -> None:
    """Refuse (:class:`ContainerError`) an entry that is encrypted, compressed in a
    way we cannot read, or declares a bomb's sizes; nothing is expanded."""
    name = shown(info.filename)
    if info.flag_bits & 0x1:
        raise ContainerError(path, f"encrypted ZIP (entry {name} needs a password): not supported; "
                                   "decrypt the volume and run again")
    if info.compress_type not in READABLE_METHODS:
        raise ContainerError(path, f"entry {name} uses ZIP compression method {info.compress_type}, which cannot "
                                   "be read here; repack the volume (deflate or stored)")
    limit = member_limit(max_pixels)
    if info.file_size > limit:
        raise ContainerError(path, f"ZIP bomb: entry {name} declares {human_bytes(info.file_size)} uncompressed, "
                                   f"more than any page within --max-pixels can take ({human_bytes(limit)}); "
                                   "not expanded")
    packed = max(1, info.compress_size)
    if info.file_size > ZIP_RATIO_FLOOR and info.file_size > MAX_ZIP_RATIO * packed:
        raise ContainerError(path, f"ZIP bomb: entry {name} declares {human_bytes(info.file_size)} from "
                                   f"{human_bytes(packed)} ({info.file_size // packed:,}:1; honest ZIP data stays "
                                   f"under {DEFLATE_MAX_RATIO:,}:1); not expanded")


def check_archive(path, infos: list[zipfile.ZipInfo], archive_bytes: int, max_pixels: int | None) -> None:
    """Every entry (:func:`check_entry`), then the whole: entries that together
    expand past :data:`MAX_ZIP_RATIO` times the file share their data (a bomb)."""
    for n, info in enumerate(infos, 1):
        if not info.filename:  # no tool can extract it, and zipfile itself fails on it (IndexError)
            raise ContainerError(path, f"entry {n} has an empty name: not a sound ZIP; repack the volume")
        check_entry(path, info, max_pixels)
    total = sum(i.file_size for i in infos)
    if total > ZIP_RATIO_FLOOR and total > MAX_ZIP_RATIO * max(1, archive_bytes):
        raise ContainerError(path, f"ZIP bomb: {len(infos)} entries declare {human_bytes(total)} in all from a "
                                   f"{human_bytes(archive_bytes)} file (over {MAX_ZIP_RATIO:,}:1); not expanded")


def entries(path: str | os.PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> list[Entry]:
    """Every entry of the volume in order, after the archive passed :func:`check_archive`."""
    with _open(path) as zf:
        infos = zf.infolist()
        check_archive(path, infos, os.path.getsize(path), max_pixels)
        return [Entry(i, info.filename, kind_of(info)) for i, info in enumerate(infos)]


def count_pages(path: str | os.PathLike) -> int:
    """How many image entries (pages) the volume holds, from its central directory
    only; 0 for one that will be refused (its run says why)."""
    try:
        return sum(e.kind == IMAGE for e in entries(path))
    except (ContainerError, OSError):
        return 0


def _open_checked(path, size: int, max_pixels: int | None) -> zipfile.ZipFile:
    zf = _open(path)
    try:
        check_archive(path, zf.infolist(), size, max_pixels)
    except BaseException:
        zf.close()
        raise
    return zf


_last = LastOpened(_open_checked)


def extract(path: str | os.PathLike, entry: Entry, out: BinaryIO, max_pixels: int | None = DEFAULT_MAX_PIXELS,
            max_bytes: int | None = None) -> None:
    """Copy ``entry``'s bytes into the open file ``out``, after the checks (a copy: ``max_bytes``, the
    memory budget, applies when the page is read)."""
    zf = _last.get(path, max_pixels)
    infos = zf.infolist()
    if entry.index >= len(infos) or infos[entry.index].filename != entry.name:
        raise ContainerError(member_path(path, entry.name), "the volume changed during the run; run the command again")
    for chunk in _chunks(path, zf, infos[entry.index]):
        out.write(chunk)


def page_names(entry: Entry, output_name) -> tuple[str, str]:
    """(the page's entry name in the output, its file's extension): the same
    name, but for the extension ``--format`` asks for."""
    base = entry.name.rsplit("/", 1)[-1]
    name = entry.name[: len(entry.name) - len(base)] + output_name(Path(base))
    return name, Path(name).suffix


def entry_notes(found: list[Entry], classify: bool = False) -> list[str]:
    """What the volume holds besides its pages, and what is done with it (classifying: nothing, nothing to say)."""
    notes = []
    if classify:
        return notes
    others = sum(e.kind == OTHER for e in found)
    if others:
        notes.append(f"{others} other entr{'y' if others == 1 else 'ies'} copied byte for byte")
    unsafe = [e.name for e in found if e.kind == UNSAFE]
    if unsafe:
        notes.append(f"{len(unsafe)} entr{'y' if len(unsafe) == 1 else 'ies'} with an unsafe name (.., absolute "
                     f"path or drive letter) copied unchanged, never extracted: {listed(unsafe)}")
    return notes


def write_container(path: str | os.PathLike, out: BinaryIO, replaced: Mapping[int, tuple[str, Path]],
                    max_pixels: int | None = DEFAULT_MAX_PIXELS) -> None:
    """Write the volume at ``path`` into the open file ``out``: entry ``i`` in
    ``replaced`` becomes ``(name, file)``'s bytes under that name, every other
    entry is copied as it is; order, timestamps, attributes, comments and
    compression methods kept."""
    with _open(path) as zin, zipfile.ZipFile(out, "w") as zout:
        infos = zin.infolist()
        check_archive(path, infos, os.path.getsize(path), max_pixels)
        zout.comment = zin.comment
        for i, info in enumerate(infos):
            name, page = replaced.get(i, (info.filename, None))
            with zout.open(_like(info, name, os.path.getsize(page) if page else info.file_size), "w") as dst:
                if page:
                    with open(page, "rb") as src:
                        shutil.copyfileobj(src, dst, CHUNK)
                else:
                    for chunk in _chunks(path, zin, info):
                        dst.write(chunk)


def _chunks(path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """An entry's bytes, a chunk at a time (memory stays flat); what the ZIP cannot
    give back (bad CRC, cut short) is a :class:`ContainerError` naming the entry."""
    try:
        with zf.open(info) as src:
            while chunk := src.read(CHUNK):
                yield chunk
    except ZIP_ERRORS as err:
        raise ContainerError(member_path(path, info.filename), f"cannot be read from the ZIP "
                                                               f"({zip_reason(err)})") from None


def zip_reason(err: Exception) -> str:
    """What zipfile or its codec said, in words rather than its exception's name."""
    text = str(err) or "no reason given"
    if isinstance(err, zipfile.BadZipFile):
        return text
    if isinstance(err, (zlib.error, lzma.LZMAError, EOFError)):
        return f"damaged compressed data: {text}"
    if isinstance(err, NotImplementedError):
        return f"a ZIP feature not read here: {text}"
    if isinstance(err, OSError) and err.errno == errno.EINVAL:  # a seek before the file's start
        return "damaged headers: an entry's offset lies outside the file"
    if isinstance(err, OSError):
        return f"cannot read: {err.strerror or text}"
    return f"damaged headers: {text}"


def _like(info: zipfile.ZipInfo, name: str, size: int) -> zipfile.ZipInfo:
    """A new entry named ``name`` with everything else of ``info`` that a reader sees."""
    new = zipfile.ZipInfo(name, info.date_time)
    new.compress_type, new.comment, new.extra = info.compress_type, info.comment, _without_zip64(info.extra)
    new.create_system, new.external_attr, new.internal_attr = info.create_system, info.external_attr, info.internal_attr
    new.file_size = size  # zipfile picks ZIP64 from it, before any byte is written
    return new


def _without_zip64(extra: bytes) -> bytes:
    """``extra`` less its ZIP64 field: zipfile writes its own where the new sizes need one."""
    kept, i = [], 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        if tag != 0x0001:
            kept.append(extra[i : i + 4 + size])
        i += 4 + size
    return b"".join(kept)
