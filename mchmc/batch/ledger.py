"""The evidence a skip needs: which outputs under DST a run of mchmc finished,
and from which input.

An output file existing under its final name proves nothing by itself (a
0-byte file, an unrelated image, another tool's output). A page is skipped only
when the ledger says this input (same size and modification time) became this
output (same size and modification time); anything else at that name is a
*conflict*, reported and left alone unless ``--overwrite``.

The ledger is an SQLite file in ``DST/.mchmc/``: indexed, so a run over a
million pages looks each one up without holding them all in memory; each page
is committed in its own transaction before its output is renamed into place
(:meth:`Ledger.record`), so after a crash at any instant either the ledger
knows the output or the output is not there yet. It also keeps each page's
last record, so a skipped page keeps its category in the new report even if
the old report was deleted. Paths are stored as bytes (``os.fsencode``): file
names that are not UTF-8 round-trip exactly.
"""
from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from mchmc.fsutil import STATE_DIR

LEDGER_NAME = "ledger.sqlite"
_SCHEMA = """CREATE TABLE IF NOT EXISTS pages (
    input BLOB PRIMARY KEY, input_size INTEGER, input_mtime INTEGER,
    output BLOB, output_size INTEGER, output_mtime INTEGER, record TEXT)"""


@dataclass(frozen=True)
class Stamp:
    """Size and modification time (ns) of a file: what "the same file" means here."""

    size: int
    mtime: int

    @classmethod
    def of(cls, path: str | os.PathLike) -> "Stamp | None":
        try:
            st = os.stat(path)
        except OSError:
            return None
        return cls(st.st_size, st.st_mtime_ns)


class Ledger:
    """The finished outputs of one DST (see the module doc)."""

    def __init__(self, dst: str | os.PathLike):
        folder = Path(dst) / STATE_DIR
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / LEDGER_NAME
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    @staticmethod
    def _key(path: str | os.PathLike) -> bytes:
        return os.fsencode(os.path.abspath(path))

    def finished(self, src: str | os.PathLike, dst: str | os.PathLike, source: Stamp | None = None) -> dict | None:
        """The earlier record of ``src`` if its output ``dst`` is the one a run of
        mchmc finished from this very input, else None. ``source``: the stamp
        ``src`` stands for when it is no file of its own (an entry of a volume:
        the volume's stamp)."""
        row = self._db.execute("SELECT input_size, input_mtime, output, output_size, output_mtime, record "
                               "FROM pages WHERE input = ?", (self._key(src),)).fetchone()
        if row is None:
            return None
        in_size, in_mtime, output, out_size, out_mtime, record = row
        if output != self._key(dst) or (source or Stamp.of(src)) != Stamp(in_size, in_mtime) \
                or Stamp.of(dst) != Stamp(out_size, out_mtime):
            return None
        try:
            return json.loads(record)
        except ValueError:
            return {}

    def record(self, src: str | os.PathLike, source: Stamp, dst: str | os.PathLike, staged: str | os.PathLike,
               record: dict) -> None:
        """Note that ``staged`` (the finished temporary) becomes ``dst`` for ``src``
        as it was when read (``source``); the caller renames it right after."""
        out = Stamp.of(staged)
        if out is None:
            raise FileNotFoundError(staged)
        self._db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (self._key(src), source.size, source.mtime, self._key(dst), out.size, out.mtime,
                          json.dumps(record)))

    def forget(self, *srcs: str | os.PathLike) -> None:
        """Drop the rows of ``srcs`` (one transaction, however many)."""
        self._db.execute("BEGIN")
        self._db.executemany("DELETE FROM pages WHERE input = ?", [(self._key(s),) for s in srcs])
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
