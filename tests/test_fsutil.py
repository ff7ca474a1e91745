"""One owner for every file mchmc writes (mchmc.fsutil): atomic temp-then-rename with the
mode a plain open() gives, temporaries named after the run that owns them, stale ones
removed only when their owner is dead, and a per-folder run lock that dies with its holder."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from mchmc.fsutil import (atomic_folder, atomic_write, atomic_write_bytes, atomic_write_text,
                          file_mode, host, is_temporary, remove_stale_temporaries, set_owner, temp_name,
                          temporary_owner, UnsafePath, open_nofollow, real_folder)
from mchmc.locks import FolderLock, FolderLocked
from conftest import ROOT


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_written_file_gets_the_mode_a_plain_open_would_give(tmp_path):
    with umask(0o022):
        assert file_mode() == 0o644
        with atomic_write(tmp_path / "a.bin") as tmp:
            assert mode(tmp) == 0o644, "the temporary itself, not only the final file"
            tmp.write_bytes(b"a")
        atomic_write_text(tmp_path / "b.txt", "b")
        atomic_write_bytes(tmp_path / "c.bin", b"c", fsync=False)
    with umask(0o002):
        atomic_write_text(tmp_path / "d.txt", "d")
    assert {p.name: mode(p) for p in tmp_path.iterdir()} == {"a.bin": 0o644, "b.txt": 0o644, "c.bin": 0o644,
                                                            "d.txt": 0o664}


def test_a_failing_block_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(tmp_path / "sub" / "out.png") as tmp:
            tmp.write_bytes(b"half a page")
            raise RuntimeError("boom")
    assert list((tmp_path / "sub").iterdir()) == [], "neither the temporary nor the final name"


def test_a_folder_appears_whole_or_not_at_all(tmp_path):
    """Patch stores and rendered page sets are folders: built under an owned temporary name, renamed at the end."""
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_folder(tmp_path / "sets" / "a", "MANIFEST.json") as tmp:
            (tmp / "page.png").write_bytes(b"one page of two")
            raise RuntimeError("boom")
    assert list((tmp_path / "sets").iterdir()) == []
    with atomic_folder(tmp_path / "sets" / "a", "MANIFEST.json") as tmp:
        assert is_temporary(tmp.name) and tmp.parent == tmp_path / "sets"
        (tmp / "MANIFEST.json").write_text("{}")
    with atomic_folder(tmp_path / "sets" / "a", "MANIFEST.json") as tmp:  # another builder finished first
        (tmp / "MANIFEST.json").write_text("{}")
        (tmp / "late").write_text("x")
    assert sorted(p.name for p in (tmp_path / "sets").iterdir()) == ["a"]


def test_an_existing_file_is_replaced_only_on_success(tmp_path):
    dst = tmp_path / "out.txt"
    dst.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(dst) as tmp:
            tmp.write_text("new, half written")
            raise KeyboardInterrupt
    assert dst.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with atomic_write(dst, fsync=True) as tmp:
        tmp.write_text("new")
        assert dst.read_text() == "old", "the name points at the old file until the block succeeds"
    assert dst.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_the_temporary_is_beside_the_destination_and_named_after_its_owner(tmp_path):
    with atomic_write(tmp_path / "page 1.png") as tmp:
        assert tmp.parent == tmp_path and is_temporary(tmp.name)
        assert tmp.name.startswith(f".mchmc-{host()}-{os.getpid()}.") and tmp.name.endswith(".page 1.png.part")
        assert temporary_owner(tmp.name) == (host(), os.getpid())
    assert temporary_owner("page.png") is None and not is_temporary("page.png")


def _owned_by(folder: Path, pid: int, name: str, who: str | None = None) -> Path:
    set_owner(who or f"{host()}-{pid}")
    try:
        path = folder / temp_name(name)
    finally:
        set_owner(None)
    path.write_bytes(b"partial")
    return path


def test_stale_temporaries_of_dead_runs_are_removed_but_not_those_of_live_ones(tmp_path):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process now
    try:
        (tmp_path / "sub").mkdir()
        of_dead = _owned_by(tmp_path / "sub", dead.pid, "a.png")
        of_live = _owned_by(tmp_path, live.pid, "b.png")
        of_me = _owned_by(tmp_path, os.getpid(), "c.png")
        elsewhere = _owned_by(tmp_path, dead.pid, "d.png", who=f"another-host-{dead.pid}")
        page = tmp_path / "e.png"
        page.write_bytes(b"a page")
        assert remove_stale_temporaries(tmp_path) == 1
        assert not of_dead.exists()
        assert of_live.exists() and of_me.exists() and elsewhere.exists() and page.exists()
    finally:
        live.kill()
        live.wait()
    assert remove_stale_temporaries(tmp_path) == 1 and not of_live.exists(), "once its owner is gone"


HOLD = """
import sys, time
from mchmc.locks import FolderLock
lock = FolderLock(sys.argv[1], "upscale").acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_run_on_a_locked_folder_is_refused_in_one_line_until_the_holder_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderLocked) as err:
            FolderLock(tmp_path, "upscale").acquire()
        msg = str(err.value)
        assert msg.startswith(f"{tmp_path}: another mchmc upscale is writing here") and "\n" not in msg
        assert f"({host()}-{holder.pid})" in msg, "names the holder"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    # the holder is reaped, so its descriptors are closed and the kernel has dropped its flock: the lock is
    # free at once, with no stale lock file to clean
    lock = FolderLock(tmp_path).acquire()
    try:
        with pytest.raises(FolderLocked):
            FolderLock(tmp_path).acquire()  # and now it is ours
    finally:
        lock.release()
    with FolderLock(tmp_path):
        pass


# ---------------------------------------------------------------- every writer goes through it

def _save_model(d: Path) -> Path:
    from mchmc.model import build_model
    from mchmc.modelfile import save_model

    return save_model(build_model("mch"), d / "model.pt")


def _checkpoint(d: Path) -> Path:
    from mchmc.train.checkpoint import atomic_save

    atomic_save({"step": 1}, d / "ck.pt")
    return d / "ck.pt"


def _version(d: Path) -> Path:
    from mchmc.modelversions import CURRENT, ModelVersions

    versions = ModelVersions(d / "versions")
    versions.promote(versions.add(_save_model(d), {"source": "s"}).name)
    return versions.folder / CURRENT


def _figure(d: Path) -> Path:
    from mchmc.experiment import figures

    return figures._save(figures._figure(1, 1), d / "fig.png")


WRITERS = {"save_model": _save_model, "train.atomic_save": _checkpoint, "versions": _version, "figures": _figure}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_every_writer_gives_its_files_the_umask_mode_and_leaves_no_temporary(tmp_path, writer):
    with umask(0o022):
        out = WRITERS[writer](tmp_path)
    assert out.is_file() and mode(out) == 0o644, oct(mode(out))
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(mode(p) == 0o644 for p in written), {str(p): oct(mode(p)) for p in written}
    assert not [p for p in written if is_temporary(p.name) or p.suffix == ".tmp"]
    if writer == "versions":
        assert json.loads(out.read_text())["version"] == "v0001"


def test_open_nofollow_refuses_a_planted_link_and_leaves_its_target_untouched(tmp_path):
    victim = tmp_path / "p001.png"
    victim.write_bytes(b"page")
    (tmp_path / "soft.jsonl").symlink_to(victim)
    os.link(victim, tmp_path / "hard.jsonl")
    for name in ("soft.jsonl", "hard.jsonl"):
        with pytest.raises(UnsafePath, match=name):
            open_nofollow(tmp_path / name)
        with pytest.raises(UnsafePath, match=name):
            open_nofollow(tmp_path / name, append=True)
    assert victim.read_bytes() == b"page"


def test_open_nofollow_truncates_or_appends_a_plain_file(tmp_path):
    f = tmp_path / "r.jsonl"
    for append, data, want in ((False, b"ab", b"ab"), (True, b"cd", b"abcd"), (False, b"e", b"e")):
        fd = open_nofollow(f, append=append)
        os.write(fd, data)
        os.close(fd)
        assert f.read_bytes() == want


def test_real_folder_refuses_a_linked_component_below_its_root_but_not_the_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / ".mchmc").symlink_to(outside)
    with pytest.raises(UnsafePath, match=r"\.mchmc: is a symbolic link"):
        real_folder(dst / ".mchmc" / "containers", dst)
    assert list(outside.iterdir()) == []
    linked_root = tmp_path / "dst-link"
    linked_root.symlink_to(dst)
    (dst / ".mchmc").unlink()
    assert real_folder(linked_root / ".mchmc" / "containers", linked_root).is_dir()
    (dst / "file").write_text("x")
    with pytest.raises(UnsafePath, match="not a folder"):
        real_folder(dst / "file" / "sub", dst)


def test_a_lock_planted_as_a_link_is_refused_in_one_line_and_its_target_untouched(tmp_path):
    """Issue 28, A2: ``DST/.mchmc/lock`` pointing (soft or hard) at a file outside DST is never opened through."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious")
    for link in ("soft", "hard"):
        lock = tmp_path / link / ".mchmc" / "lock"
        lock.parent.mkdir(parents=True)
        lock.symlink_to(victim) if link == "soft" else os.link(victim, lock)
        with pytest.raises(UnsafePath, match="lock") as err:
            FolderLock(tmp_path / link).acquire()
        assert "\n" not in str(err.value)
    assert victim.read_bytes() == b"precious"


def test_a_state_folder_planted_as_a_link_is_refused_by_the_lock(tmp_path):
    outside, dst = tmp_path / "outside", tmp_path / "dst"
    outside.mkdir()
    dst.mkdir()
    (dst / ".mchmc").symlink_to(outside)
    with pytest.raises(UnsafePath, match=r"\.mchmc: is a symbolic link"):
        FolderLock(dst).acquire()
    assert list(outside.iterdir()) == []


def test_atomic_write_under_a_root_refuses_a_linked_folder_below_it_and_makes_real_ones(tmp_path):
    outside, dst = tmp_path / "outside", tmp_path / "dst"
    outside.mkdir()
    (outside / "p001.png").write_bytes(b"original")
    dst.mkdir()
    (dst / "chapter1").symlink_to(outside)
    with pytest.raises(UnsafePath, match="chapter1: is a symbolic link"):
        with atomic_write(dst / "chapter1" / "p001.png", root=dst) as tmp:
            tmp.write_bytes(b"upscaled")
    assert [p.name for p in outside.iterdir()] == ["p001.png"] and (outside / "p001.png").read_bytes() == b"original"
    with atomic_write(dst / "a" / "b" / "p.png", root=dst) as tmp:
        tmp.write_bytes(b"x")
    assert (dst / "a" / "b" / "p.png").read_bytes() == b"x"
