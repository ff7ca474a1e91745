"""A snapshot of a run still training: the latest checkpoint's weights as a model file, the run untouched."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from mchmc.modelfile import load_model
from mchmc.train.checkpoint import load_checkpoint
from mchmc.train.config_schema import ConfigError
from mchmc.train.run import open_run, prep_stage, train_method, train_stage
from mchmc.train.snapshot import main, snapshot

sys.path.insert(0, str(Path(__file__).parent))
from test_train import Interrupted, _weights, crash_at, small_cfg  # noqa: E402


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_snapshot_of_an_interrupted_run_is_its_checkpoint_and_the_run_resumes_exactly(tmp_path):
    cfg = small_cfg(tmp_path, **{"train.precision": "fp32"})
    run = open_run(cfg, "SRforMC", "1", tmp_path / "runs")
    prep_stage(run)
    train_stage(run, "phase1")
    with pytest.raises(Interrupted):
        train_stage(run, "phase2", crash_at(8))
    before = _files(run.dir)
    prov = snapshot(run.dir, tmp_path / "snap.pt")
    assert _files(run.dir) == before  # the run dir is only read
    assert prov["snapshot"] == {"run": str(run.dir), "phase": "phase2", "step": 5}
    ck = load_checkpoint(run.dir / "checkpoints/phase2.pt")["model"]
    snap = load_model(tmp_path / "snap.pt")
    assert snap.provenance["snapshot"]["step"] == 5 and snap.config.arch == "mch-mc"
    got = snap.model.state_dict()
    assert all(torch.equal(got[k], ck[k].float()) for k in ck)
    out = train_method(cfg, "SRforMC", "1", tmp_path / "runs")  # the run goes on as if never snapshotted
    ref = train_method(cfg, "SRforMC", "1", tmp_path / "ref")
    a, b = _weights(Path(ref["model"])), _weights(Path(out["model"]))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_snapshot_of_a_finished_run_is_its_model(tmp_path):
    cfg = small_cfg(tmp_path, **{"train.precision": "fp32"})
    out = train_method(cfg, "SRforAll", "1", tmp_path / "runs")
    prov = snapshot(out["run_dir"], tmp_path / "snap.pt")
    assert prov["snapshot"]["phase"] == "mch" and prov["snapshot"]["step"] is None
    a, b = _weights(Path(out["model"])), _weights(tmp_path / "snap.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_not_a_run_or_no_weights_yet_is_one_line(tmp_path, capsys):
    assert main([str(tmp_path), str(tmp_path / "x.pt")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a run dir" in err
    cfg = small_cfg(tmp_path)
    run = open_run(cfg, "SRforMC", "1", tmp_path / "runs")
    with pytest.raises(ConfigError, match="no checkpoint or model yet"):
        snapshot(run.dir, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_a_hostile_checkpoint_is_refused(tmp_path):
    cfg = small_cfg(tmp_path)
    run = open_run(cfg, "SRforMC", "1", tmp_path / "runs")
    ck = run.dir / "checkpoints/phase1.pt"
    ck.parent.mkdir(parents=True)
    torch.save({"step": 3, "model": {"conv1.weight": torch.zeros(2, 2)}}, ck)
    with pytest.raises(ConfigError, match="does not fit") as err:
        snapshot(run.dir, tmp_path / "x.pt")
    assert "\n" not in str(err.value)
    ck.write_bytes(b"not a zip")
    assert main([str(run.dir), str(tmp_path / "x.pt")]) == 1
    assert not (tmp_path / "x.pt").exists()
