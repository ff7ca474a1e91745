"""``bench/tiers.py``: every tier (fp32, and bf16 where ``auto`` picks it) and, where the peer harness
is there, waifu2x-upconv7-photo / -art in one run, with each method's multiply-adds and ratios.
Its ``--dry-run`` is what CI runs; speed itself is never asserted here."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

from mchmc.modelfile import SHIPPED_DIR
from mchmc.precision import resolve_precision

BENCH = ROOT / "bench" / "tiers.py"


def test_the_dry_run_times_every_tier_and_the_peers_in_one_table(tmp_path):
    out = tmp_path / "tiers.json"
    run = subprocess.run([sys.executable, str(BENCH), "--dry-run", "--json", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    doc = json.loads(out.read_text())
    rows = {r["method"]: r for r in doc["rows"]}
    precisions = ["fp32"] + (["bf16"] if resolve_precision("auto") == "bf16" else [])
    for tier, macs in (("fast", 53_952), ("quality", 221_280)):
        for precision in precisions:
            label = f"{tier} ({precision}{', auto' if precision == precisions[-1] else ''})"
            assert rows[label]["macs_per_lr_px"] == macs and rows[label]["lr_mps_best"] > 0
            assert rows[label]["x_fast"] == pytest.approx(rows[label]["lr_mps_best"]
                                                          / rows[f"fast ({label.split('(')[1]}"]["lr_mps_best"])
    assert doc["threads"] == 1 and len(doc["load_average_before"]) == 3 and "load average" in run.stdout
    peers = {"waifu2x-upconv7-photo", "waifu2x-upconv7-art"} & set(rows)
    if not (ROOT.parent / "shared" / "tools" / "peers" / "peers_bench.py").is_file():
        assert not peers and any("no peer harness" in n for n in doc["notes"])
        pytest.skip("no ../shared peer harness: the waifu2x rows were left out, as the note says")
    assert peers == {"waifu2x-upconv7-photo", "waifu2x-upconv7-art"}, doc["notes"]
    assert rows["waifu2x-upconv7-photo"]["macs_per_lr_px"] == 551_856
    assert rows["waifu2x-upconv7-photo"]["x_upconv7_photo"] == 1.0


def test_with_chroma_each_tier_is_timed_again_with_its_chroma_network(tmp_path):
    out = tmp_path / "tiers.json"
    run = subprocess.run([sys.executable, str(BENCH), "--dry-run", "--chroma", "3", "--json", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    rows = {r["method"]: r for r in json.loads(out.read_text())["rows"]}
    chroma_macs = 18_144  # the shipped chroma network's, which every tier uses
    for tier, macs in (("fast", 53_952), ("quality", 221_280)):
        label = f"{tier} (fp32{', auto' if resolve_precision('auto') == 'fp32' else ''})"
        assert rows[f"{label} + chroma"]["macs_per_lr_px"] == macs + chroma_macs
        assert rows[f"{label} + chroma"]["lr_mps_best"] > 0
    assert rows["fast (fp32" + (", auto)" if resolve_precision("auto") == "fp32" else ")")]["x_fast"] == 1.0, \
        "the fast tier without chroma stays the baseline"


def test_a_real_run_without_the_quality_tier_installed_asks_for_its_file(tmp_path):
    """A version without the quality tier's files (a weights folder with the fast tier's only)."""
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(SHIPPED_DIR / "srformc.pt", weights / "srformc.pt")
    code = ("import runpy, sys; from pathlib import Path; import mchmc.modelfile as m; "
            f"m.SHIPPED_DIR = Path({str(weights)!r}); sys.argv = [{str(BENCH)!r}, '--repeat', '1']; "
            f"runpy.run_path({str(BENCH)!r}, run_name='__main__')")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         check=False)
    assert run.returncode != 0 and "give a model file of the quality tier with --quality PATH" in run.stderr
    assert "Traceback" not in run.stderr
