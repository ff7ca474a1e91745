"""Typed errors. Every message names the file (when there is one) and the reason,
on one line, so a batch run can log it and move on to the next page."""
from __future__ import annotations

import unicodedata
from pathlib import Path

# Characters that would break a log line or a terminal: control characters (C0,
# DEL, C1: newline, carriage return, escape ...), the Unicode line and paragraph
# separators, and lone surrogates (how Python holds a file name's bytes that are
# not valid UTF-8: os.fsdecode's "surrogateescape").
_UNSAFE = ("Cc", "Cs", "Zl", "Zp")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of the file name, shown as that byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def shown(text: str | Path) -> str:
    """``text`` (a path, usually) made safe for one log line: newlines, other
    control characters, line separators and undecodable bytes of a file name are
    written as Python escapes (``\\n``, ``\\x1b``, ``\\xff``), everything else is
    kept as it is. For messages only: the real path is kept where code needs it
    (``FileError.path``)."""
    text = str(text)
    if text.isprintable():  # the common case, fast
        return text
    return "".join(_escape(ch) if unicodedata.category(ch) in _UNSAFE else ch for ch in text)


def one_line(text: str) -> str:
    """A reason on one line: runs of whitespace (newlines included) become one
    space, other control characters are escaped (a codec's message can quote
    the file's own bytes)."""
    return shown(" ".join(str(text).split()))


class MchmcError(Exception):
    """Base of every error mchmc raises on purpose."""


class FileError(MchmcError):
    """A problem with one file: ``str(err)`` is ``"<path>: <reason>"`` on one line
    whatever the name holds (:func:`shown`); ``err.path`` is the real path."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = one_line(reason)  # one line, whatever the cause said
        super().__init__(f"{shown(self.path)}: {self.reason}")


class ModelFileError(FileError):
    """A model file that is missing, corrupt, not a model, or of the wrong architecture."""


class PageError(FileError):
    """A page (image file) that cannot be read or written. Subclasses name the kind,
    so a batch report can count failures by cause; the message is still one line."""


class EmptyFileError(PageError):
    """The file has zero bytes (an interrupted copy or download, typically)."""


class NotAnImageError(PageError):
    """The bytes are not an image in any format we read, whatever the extension says."""


class TruncatedPageError(PageError):
    """The file starts like an image but its header or pixel data is cut short or corrupt."""


class UnsupportedPageError(PageError):
    """A real image whose format, mode, depth or codec mchmc does not handle."""


class DecompressionBombError(PageError):
    """The header claims more pixels than the configured limit, or far more than the
    file's bytes could hold (a bomb or a forged / cut header); refused before decoding."""


class PageTooLargeError(PageError):
    """A real page whose estimated memory to upscale (from its header) is over the
    worker's budget (``max_bytes``); refused before decoding. Not a bomb: a
    worker with more memory, or the page split, would do."""


class PageWriteError(PageError):
    """The upscaled page could not be written (nothing is left at the destination)."""


class ContainerError(FileError):
    """A CBZ / ZIP volume, or one of its entries, that cannot be read safely: not a
    ZIP, encrypted, a ZIP bomb, or an entry whose bytes the ZIP cannot give back."""
