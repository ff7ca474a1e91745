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

It also remembers the pages that failed (:meth:`Ledger.record_failure`), with
their input's stamp: a re-run does not retry an unchanged input that failed
unless asked to (``--retry-failed``); a changed input is tried again.

The ledger is our own state, and still treated as hostile. A symbolic or hard
link at its name or its SQLite companions (``-wal``, ``-shm``, ``-journal``),
or a linked state folder, is refused (:class:`~mchmc.fsutil.UnsafePath`) before
anything is written through it. A ledger that cannot be read (not SQLite, a
folder, no permission, another schema) is set aside under a new name in the
state folder, said in one line, and the run goes on as if there were none.
A row of the wrong shape is no evidence, exactly like a missing row.
"""
from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mchmc.batch.records import PageRecord, warn
from mchmc.errors import FileError
from mchmc.fsutil import STATE_DIR, real_folder, refuse_link

LEDGER_NAME = "ledger.sqlite"
COMPANIONS = ("", "-wal", "-shm", "-journal")  # SQLite's files beside the database
_TABLES = {  # table -> its columns (the first is the primary key)
    "pages": ("input", "input_size", "input_mtime", "output", "output_size", "output_mtime", "record"),
    "failed": ("input", "input_size", "input_mtime", "record"),
}


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
    """The finished (and failed) pages of one DST (see the module doc). ``on_note`` hears the one line
    saying an unreadable ledger was set aside."""

    def __init__(self, dst: str | os.PathLike, on_note: Callable[[str], None] | None = warn):
        folder = real_folder(Path(dst) / STATE_DIR, dst)
        self.path = folder / LEDGER_NAME
        kinds = check_links(self.path)
        try:
            if any(k is not None and k != stat.S_IFREG for k in kinds):
                raise sqlite3.DatabaseError("not a regular file")
            self._db = _open(self.path)
        except sqlite3.DatabaseError as err:  # OperationalError (no permission, a folder) is one
            if all(k is None for k in kinds):  # no ledger was there: nothing to set aside, the folder refuses a new one
                raise FileError(self.path, f"cannot write the ledger here ({err})") from None
            aside = _set_aside(self.path)
            if on_note:
                on_note(f"{self.path}: unreadable ({err}); set aside as {aside.name}, going on as if no run "
                        "had written here (pages already in DST are conflicts until --overwrite)")
            try:
                self._db = _open(self.path)
            except sqlite3.DatabaseError as again:
                raise FileError(self.path, f"cannot write the ledger here ({again})") from None

    @staticmethod
    def _key(path: str | os.PathLike) -> bytes:
        return os.fsencode(os.path.abspath(path))

    def finished(self, src: str | os.PathLike, dst: str | os.PathLike, source: Stamp | None = None) -> dict | None:
        """The earlier record of ``src`` if its output ``dst`` is the one a run of
        mchmc finished from this very input, else None. ``source``: the stamp
        ``src`` stands for when it is no file of its own (an entry of a volume:
        the volume's stamp)."""
        row = self._row("SELECT input_size, input_mtime, output, output_size, output_mtime, record "
                        "FROM pages WHERE input = ?", src)
        if row is None:
            return None
        in_size, in_mtime, output, out_size, out_mtime, record = row
        if output != self._key(dst) or (source or Stamp.of(src)) != Stamp(in_size, in_mtime) \
                or Stamp.of(dst) != Stamp(out_size, out_mtime):
            return None
        return _earlier(record)

    def failure(self, src: str | os.PathLike, source: Stamp | None = None) -> dict | None:
        """The record of an earlier run's failure on ``src`` if the input is unchanged since, else None."""
        row = self._row("SELECT input_size, input_mtime, record FROM failed WHERE input = ?", src)
        if row is None or (source or Stamp.of(src)) != Stamp(row[0], row[1]):
            return None
        return _earlier(row[2])

    def record_failure(self, src: str | os.PathLike, source: Stamp, record: dict) -> None:
        """Note that ``src``, as it was when read (``source``), failed with ``record``."""
        self._db.execute("INSERT OR REPLACE INTO failed (input, input_size, input_mtime, record) VALUES (?, ?, ?, ?)",
                         (self._key(src), source.size, source.mtime, json.dumps(record)))

    def _row(self, query: str, src: str | os.PathLike) -> tuple | None:
        try:
            return self._db.execute(query, (self._key(src),)).fetchone()
        except sqlite3.DatabaseError:  # a row the database itself cannot give back: no evidence
            return None

    def record(self, src: str | os.PathLike, source: Stamp, dst: str | os.PathLike, staged: str | os.PathLike,
               record: dict) -> None:
        """Note that ``staged`` (the finished temporary) becomes ``dst`` for ``src``
        as it was when read (``source``); the caller renames it right after."""
        out = Stamp.of(staged)
        if out is None:
            raise FileNotFoundError(staged)
        with self._db:  # one transaction: the output is known and its earlier failure forgotten together
            self._db.execute("BEGIN")
            self._db.execute(f"INSERT OR REPLACE INTO pages ({', '.join(_TABLES['pages'])}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (self._key(src), source.size, source.mtime, self._key(dst), out.size, out.mtime,
                              json.dumps(record)))
            self._db.execute("DELETE FROM failed WHERE input = ?", (self._key(src),))

    def forget(self, *srcs: str | os.PathLike) -> None:
        """Drop the rows of ``srcs``, finished or failed (one transaction, however many)."""
        with self._db:
            self._db.execute("BEGIN")
            for table in _TABLES:
                self._db.executemany(f"DELETE FROM {table} WHERE input = ?", [(self._key(s),) for s in srcs])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_links(path: Path) -> list[int | None]:
    """The file type of the ledger and of each companion (None: absent); raises UnsafePath for a link (a
    folder or other non-file is returned, for the caller to set aside)."""
    return [refuse_link(path.with_name(path.name + suffix), regular_only=False) for suffix in COMPANIONS]


def _open(path: Path) -> sqlite3.Connection:
    """The ledger at ``path``, made if new; raises sqlite3.DatabaseError for one that is not ours."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        for table, cols in _TABLES.items():
            types = ["BLOB PRIMARY KEY", *("INTEGER" if c.endswith(("_size", "_mtime")) else
                                          "BLOB" if c == "output" else "TEXT" for c in cols[1:])]
            db.execute(f"CREATE TABLE IF NOT EXISTS {table} ("
                       + ", ".join(f"{c} {t}" for c, t in zip(cols, types)) + ")")
            shape = [(r[1], r[5]) for r in db.execute(f"PRAGMA table_info({table})")]
            if shape != [(c, int(i == 0)) for i, c in enumerate(cols)]:
                raise sqlite3.DatabaseError(f"table {table} is not mchmc's")
    except BaseException:
        db.close()
        raise
    db.text_factory = bytes  # a record is parsed from bytes: text that is not UTF-8 is a bad row, not a crash
    return db


def _set_aside(path: Path) -> Path:
    """Rename the ledger (and its companions) to ``ledger.sqlite.bad-<time>``; returns the new name."""
    aside = path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    for suffix in COMPANIONS:
        try:
            os.rename(path.with_name(path.name + suffix), aside.with_name(aside.name + suffix))
        except FileNotFoundError:
            pass
    return aside


def _earlier(text) -> dict | None:
    """An earlier run's record from a row, checked field by field; None for anything that is not one."""
    try:
        return PageRecord.from_dict(json.loads(text)).to_dict()
    except (ValueError, TypeError, RecursionError):
        return None
