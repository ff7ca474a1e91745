"""The real training flow once, with the smoke config on synthetic images (Prefect's ephemeral API).

One flow run costs ~12 s in a fresh PREFECT_HOME (scripts/test.sh sets one);
the second run of the same flow checks that finished stages are skipped.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_data import synth_dataset  # noqa: E402

pytestmark = pytest.mark.slow


def test_smoke_training_flow_lowers_the_loss_and_reruns_as_no_op(tmp_path):
    pytest.importorskip("prefect")
    from mchmc.flows.train import train_flow

    root = synth_dataset(tmp_path / "imgs")
    ov = {"data.root": str(root), "data.cache_dir": str(tmp_path / "cache"), "data.limit": 0,
          "data.folders": {"nature": "nature", "manga": "manga", "text": "text"},
          "data.stride": {"nature": 10, "manga": 20, "text": 10},
          "phase1.steps": 30, "phase2.steps": 60, "train.log_every": 10, "train.checkpoint_every": 10,
          "train.batch": 16, "train.val_crop": 64}
    result = train_flow("smoke", "SRforMC", "1", str(tmp_path / "runs"), ov)
    assert result["done"] and set(result["stages"]) == {"phase1", "phase2"}
    run_dir = Path(result["run_dir"])
    assert {p.name for p in run_dir.iterdir()} >= {"config.toml", "folds.json", "metrics.csv", "checkpoints",
                                                   "phase1.pt", "model.pt"}
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    p2 = [float(r["loss"]) for r in rows if r["phase"] == "phase2"]
    p1 = [float(r["loss"]) for r in rows if r["phase"] == "phase1"]
    assert p1[-1] < p1[0] and p2[-1] < p2[0]
    assert float(rows[-1]["psnr_mean"]) > 10

    from mchmc.modelfile import load_model
    mf = load_model(run_dir / "model.pt", expect_arch="mch-mc")
    assert mf.provenance["method"] == "SRforMC" and mf.provenance["train_folds"] == [2, 3, 4, 5]
    assert mf.provenance["steps"] == {"phase1": 30, "phase2": 60}

    stamp = (run_dir / "model.pt").stat().st_mtime_ns
    again = train_flow("smoke", "SRforMC", "1", str(tmp_path / "runs"), ov)
    assert again["stages"] == result["stages"] and (run_dir / "model.pt").stat().st_mtime_ns == stamp
