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
