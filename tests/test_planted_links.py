"""Release-grade safety (issue 28, items A2-A5), through the real CLI where a
run can show it: links planted in DST never carry a write out of it (the lock,
the state folder, a volume's waiting pages, a mirrored page folder), SRC
inside DST is refused, and two entries of a volume never become one.

A link is planted where mchmc would write; its target, outside DST, must come
through the run byte for byte."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import test_safety_cli
from test_safety_cli import page, upscale, usage_error

model = test_safety_cli.model  # the tiny random MCH-MC model file, a module-scoped fixture
REPORT = "mchmc-upscale-report.jsonl"


def victim(folder: Path, name: str = "p001.png") -> Path:
    """A file outside DST that a planted link points at."""
    return page(folder / name, 99)

# ---------------------------------------------------------------- A2: the lock

@pytest.mark.slow
@pytest.mark.parametrize("link", ["symbolic", "hard"])
def test_a2_a_lock_planted_as_a_link_is_refused_in_one_line_and_its_target_untouched(model, tmp_path, link):
    page(tmp_path / "src" / "a.png", 1)
    target = victim(tmp_path / "elsewhere")
    before = target.read_bytes()
    (tmp_path / "out" / ".mchmc").mkdir(parents=True)
    lock = tmp_path / "out" / ".mchmc" / "lock"
    lock.symlink_to(target) if link == "symbolic" else os.link(target, lock)
    usage_error(upscale(model, tmp_path / "src", tmp_path / "out"), "lock")
    assert target.read_bytes() == before
    assert not (tmp_path / "out" / "a.png").exists()
