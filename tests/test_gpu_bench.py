"""``bench/gpu.py --dry-run``: the prepared device check runs end to end on the CPU, with Ray
and Prefect made unimportable (the device image lacks them), and writes every table."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow

BLOCKED = """
import runpy, sys
class NoRayNoPrefect:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("ray", "prefect"):
            raise ImportError(f"{name} is not on the device image")
sys.meta_path.insert(0, NoRayNoPrefect())
script, out = sys.argv[1:]
sys.argv = [script, "--dry-run", "--out", out]
runpy.run_path(script, run_name="__main__")
"""


def test_the_gpu_check_dry_run_writes_every_section_without_ray_or_prefect(tmp_path):
    res = subprocess.run([sys.executable, "-c", BLOCKED, str(ROOT / "bench" / "gpu.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads((tmp_path / "gpu-check.json").read_text())
    assert got["meta"]["dry_run"] and got["meta"]["ray_or_prefect_imported"] == []
    assert set(got["matmul"]) == {"bf16", "fp16", "tf32", "fp32"}
    assert {r["precision"] for r in got["engine"] if "lr_mp_s" in r} == {"fp32", "tf32", "bf16", "fp16"}
    assert any("lr_mp_s" in r for r in got["engine"]) and any("ms_per_lr_mp" in r for r in got["transfer"])
    split = [r for r in got["pipeline"] if r["network"] == "cpu" and "lr_mp_s" in r]
    assert split and all(r["service"]["tiles"] > 0 for r in split)  # the network ran in the service
    assert any(r["network"].startswith("in each worker") and r.get("pages") for r in got["pipeline"])
    assert any("steps_s" in r for r in got["training"]) and got["config_hours"]
    md = (tmp_path / "gpu-check.md").read_text()
    for heading in ("Matmul", "Engine", "transfers", "Pipeline", "Codec ceiling", "Training", "Hours per config"):
        assert f"## {heading}" in md or heading in md
    assert "## Pipeline" in res.stdout
