"""DST's ledger (issue 28, A3 and B7): our own state file is treated as hostile.

A link planted at the ledger (or its SQLite companions, or the state folder)
is refused before anything is written through it; an unreadable ledger is set
aside and the run goes on as if there were none; a row of any shape is either
a valid earlier record or no evidence at all, never a crash."""
from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys

import pytest

from mchmc.batch.ledger import LEDGER_NAME, Ledger, Stamp
from mchmc.batch.records import PageRecord
from mchmc.batch.report.reportfile import write_csv
from mchmc.fsutil import STATE_DIR, UnsafePath


def finished_page(tmp_path, ledger: Ledger, name: str = "a.png", record: dict | None = None):
    src, dst = tmp_path / "src" / name, tmp_path / "dst" / name
    src.parent.mkdir(exist_ok=True)
    src.write_bytes(b"input")
    staged = tmp_path / "dst" / f".{name}.part"
    staged.write_bytes(b"output")
    ledger.record(src, Stamp.of(src), dst, staged, record or PageRecord(input=str(src), category="text").to_dict())
    os.replace(staged, dst)
    return src, dst


def test_a_ledger_that_is_a_symlink_is_refused_and_its_target_untouched(tmp_path):
    victim = tmp_path / "page.png"
    victim.write_bytes(b"\x89PNG precious")
    (tmp_path / "dst" / STATE_DIR).mkdir(parents=True)
    (tmp_path / "dst" / STATE_DIR / LEDGER_NAME).symlink_to(victim)
    with pytest.raises(UnsafePath, match="symbolic link"):
        Ledger(tmp_path / "dst")
    assert victim.read_bytes() == b"\x89PNG precious"


@pytest.mark.parametrize("companion", ["-wal", "-journal", "-shm"])
def test_a_linked_sqlite_companion_is_refused(tmp_path, companion):
    victim = tmp_path / "page.png"
    victim.write_bytes(b"precious")
    (tmp_path / "dst" / STATE_DIR).mkdir(parents=True)
    (tmp_path / "dst" / STATE_DIR / (LEDGER_NAME + companion)).symlink_to(victim)
    with pytest.raises(UnsafePath):
        Ledger(tmp_path / "dst")
    assert victim.read_bytes() == b"precious"


def test_a_hard_linked_ledger_is_refused(tmp_path):
    victim = tmp_path / "page.png"
    victim.write_bytes(b"precious")
    (tmp_path / "dst" / STATE_DIR).mkdir(parents=True)
    os.link(victim, tmp_path / "dst" / STATE_DIR / LEDGER_NAME)
    with pytest.raises(UnsafePath, match="hard link"):
        Ledger(tmp_path / "dst")
    assert victim.read_bytes() == b"precious"


def test_a_linked_state_folder_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "dst").mkdir()
    (tmp_path / "dst" / STATE_DIR).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafePath, match="symbolic link"):
        Ledger(tmp_path / "dst")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("bad", ["garbage", "folder", "other schema"])
def test_an_unreadable_ledger_is_set_aside_in_one_line_and_the_run_goes_on(tmp_path, bad):
    state = tmp_path / "dst" / STATE_DIR
    state.mkdir(parents=True)
    path = state / LEDGER_NAME
    if bad == "garbage":
        path.write_bytes(os.urandom(4096))
    elif bad == "folder":
        path.mkdir()
    else:
        sqlite3.connect(path).execute("CREATE TABLE pages (x TEXT)").connection.commit()
    said: list[str] = []
    with Ledger(tmp_path / "dst", on_note=said.append) as ledger:
        src, dst = finished_page(tmp_path, ledger)
        assert ledger.finished(src, dst)["category"] == "text", "a fresh ledger works"
    assert len(said) == 1 and str(path) in said[0] and "set aside" in said[0]
    aside = [p for p in state.iterdir() if p.name.startswith(LEDGER_NAME + ".bad-")]
    assert len(aside) == 1, "the old one is kept, under a new name, in the state folder"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_ledger_without_read_permission_is_set_aside(tmp_path):
    with Ledger(tmp_path / "dst"):
        pass
    (tmp_path / "dst" / STATE_DIR / LEDGER_NAME).chmod(0)
    said: list[str] = []
    Ledger(tmp_path / "dst", on_note=said.append).close()
    assert len(said) == 1 and "set aside" in said[0]


@pytest.mark.parametrize("record", [{"probs": "abc"}, {"notes": 5}, {"width": "wide"}, {"by_category": [1]},
                                    {"status": "maybe"}, {"category": None}])
def test_a_row_of_the_wrong_shape_is_no_evidence(tmp_path, record):
    with Ledger(tmp_path / "dst") as ledger:
        src, dst = finished_page(tmp_path, ledger, record={**PageRecord(input="a").to_dict(), **record})
        assert ledger.finished(src, dst) is None, "treated like a missing row: the output is a conflict"


def test_an_old_row_with_list_probs_reads_as_probs_by_category(tmp_path):
    with Ledger(tmp_path / "dst") as ledger:
        src, dst = finished_page(tmp_path, ledger, record={"input": "a", "category": "manga",
                                                             "probs": [0.1, 0.8, 0.1]})
        assert ledger.finished(src, dst)["probs"] == {"nature": 0.1, "manga": 0.8, "text": 0.1}


def random_value(rng: random.Random, depth: int = 0):
    kinds = ["int", "float", "str", "none", "bool"] + (["list", "dict"] if depth < 2 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, -1, 7, 2**70])
    if kind == "float":
        return rng.choice([0.5, -1e308, float("nan"), float("inf")])
    if kind == "str":
        return rng.choice(["", "ok", "error", "skipped", "text", "nature", "\udcff", "a" * 300])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "list":
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == "dict":
        keys = ["nature", "manga", "text", "x", ""]
        return {rng.choice(keys): random_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return None


def test_fuzz_the_row_reader_gives_a_usable_record_or_none(tmp_path):
    """Rows of random shapes (every column, and the record's every field): the reader never raises, and
    whatever it accepts can be written to both report files."""
    rng = random.Random(28)
    fields = list(PageRecord(input="a", kind="container").to_dict())
    with Ledger(tmp_path / "dst") as ledger:
        src, dst = finished_page(tmp_path, ledger)
        stamp_in, stamp_out = Stamp.of(src), Stamp.of(dst)
        db = sqlite3.connect(ledger.path, isolation_level=None)
        accepted = 0
        for i in range(600):
            record = {f: random_value(rng) for f in rng.sample(fields, rng.randrange(len(fields) + 1))}
            if rng.random() < 0.5:
                record.update(input="a", status="ok")
            text = rng.choice([json.dumps(record), json.dumps(record)[:-3], "[1]", "", "null", None, 5, b"\xff"])
            cols = [stamp_in.size, stamp_in.mtime, os.fsencode(os.path.abspath(dst)), stamp_out.size,
                    stamp_out.mtime]
            if rng.random() < 0.2:
                cols[rng.randrange(5)] = rng.choice([None, -1, 0.5, "12", b"\x00", 2**62])
            key = os.fsencode(os.path.abspath(src))
            db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?, ?, ?, ?, ?, ?)", (key, *cols, text))
            db.execute("INSERT OR REPLACE INTO failed VALUES (?, ?, ?, ?)", (key, *cols[:2], text))
            for earlier in (ledger.finished(src, dst), ledger.failure(src)):
                if earlier is not None:
                    accepted += 1
                    rec = PageRecord.from_dict(earlier)
                    json.dumps(rec.to_dict())
                    write_csv([rec], tmp_path / "fuzz.csv")
        db.close()
    assert accepted > 10, "the fuzz reached the accepting path too"


def test_a_failure_is_remembered_until_the_input_changes_or_the_page_succeeds(tmp_path):
    src = tmp_path / "src" / "bad.png"
    src.parent.mkdir()
    src.write_bytes(b"not a png")
    with Ledger(tmp_path / "dst") as ledger:
        failed = PageRecord(input=str(src), status="error", error=f"{src}: not an image")
        ledger.record_failure(src, Stamp.of(src), failed.to_dict())
        assert ledger.failure(src)["error"] == failed.error
        src.write_bytes(b"not a png, edited")
        assert ledger.failure(src) is None, "a changed input is a new page: it is tried again"
        ledger.record_failure(src, Stamp.of(src), failed.to_dict())
        (tmp_path / "dst").mkdir(exist_ok=True)
        staged = tmp_path / "dst" / "staged"
        staged.write_bytes(b"out")
        ledger.record(src, Stamp.of(src), tmp_path / "dst" / "bad.png", staged, PageRecord(input=str(src)).to_dict())
        assert ledger.failure(src) is None, "a success clears it"


def test_a_state_folder_that_takes_no_new_ledger_is_one_line_not_a_traceback(tmp_path):
    """A file-size limit (as on a full disk) makes SQLite fail to create the ledger: that is no ledger
    to set aside, but a folder that cannot be written, said in one line."""
    code = ("import resource, signal, sys\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))\n"
            "from mchmc.batch.ledger import Ledger\n"
            "from mchmc.errors import MchmcError\n"
            "try:\n    Ledger(sys.argv[1])\nexcept MchmcError as err:\n    print(err)\n")
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert res.stdout.strip().endswith(")") and "cannot write the ledger here" in res.stdout, res.stdout
    assert not list((tmp_path / STATE_DIR).glob("*.bad-*")), "nothing was there to set aside"
