"""Typed errors. Every message names the file (when there is one) and the reason,
on one line, so a batch run can log it and move on to the next page."""
from __future__ import annotations

from pathlib import Path


class MchmcError(Exception):
    """Base of every error mchmc raises on purpose."""


class FileError(MchmcError):
    """A problem with one file: ``str(err)`` is ``"<path>: <reason>"``."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = " ".join(str(reason).split())  # one line, whatever the cause said
        super().__init__(f"{self.path}: {self.reason}")


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
    """The header claims more pixels than the configured limit; refused before decoding."""


class PageWriteError(PageError):
    """The upscaled page could not be written (nothing is left at the destination)."""
