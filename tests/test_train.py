"""Trainer: phase settings applied, loss definition, data order, exact resume (synthetic data)."""
from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import mchmc.model as model_mod
from mchmc.train.config_schema import PhaseConfig
from mchmc.train.config import with_overrides
from mchmc.modelfile import load_model
from mchmc.model import build_model
from mchmc.train.augment import d4_apply, d4_batch, d4_choices
from mchmc.train.checkpoint import load_checkpoint
from mchmc.train.steps import BatchOrder, loss_terms, lr_factor, param_groups
from mchmc.train.run import open_run, prep_stage, train_method, train_stage

sys.path.insert(0, str(Path(__file__).parent))
from test_data import synth_config  # noqa: E402


def small_cfg(tmp_path, **over):
    base = {"phase1.steps": 12, "phase2.steps": 12, "mch.steps": 12, "train.checkpoint_every": 5,
            "train.log_every": 4, "train.batch": 8, "train.val_crop": 64,
            # the paper's rates, constant, so the optimizer's groups show Table 2's values
            "phase1.lr": 1e-3, "phase1.lr_conv3": 1e-4, "phase2.lr": 1e-4, "phase2.lr_conv3": 1e-5}
    base.update(over)
    return synth_config(tmp_path, **base)


def test_param_groups_and_schedule():
    m = build_model("mch-mc")
    g = param_groups(m, PhaseConfig(lr=1e-3, lr_conv3=1e-4))
    assert [x["lr"] for x in g] == [1e-3, 1e-4]
    conv3 = {id(p) for p in m.conv3.parameters()}
    assert {id(p) for p in g[1]["params"]} == conv3
    assert len(g[0]["params"]) == len(list(m.parameters())) - 2  # conv1, conv2, head
    cos = PhaseConfig(steps=100, schedule="cosine")
    assert lr_factor(cos, 0) == 1.0 and lr_factor(cos, 50) == pytest.approx(0.5) and lr_factor(cos, 100) == 0.0
    assert lr_factor(PhaseConfig(steps=100), 77) == 1.0
    assert lr_factor(PhaseConfig(steps=100, warmup=10, schedule="cosine"), 4) == pytest.approx(0.5)


def test_loss_is_paper_weighted_sum():
    torch.manual_seed(0)
    m = build_model("mch-mc")
    m.reset_parameters(0.05)
    x, y = torch.rand(4, 1, 30, 30), torch.rand(4, 1, 40, 40)
    c = torch.tensor([0, 1, 2, 2])
    alpha = torch.tensor([0.476, 0.0888, 1.0])
    ph = PhaseConfig(r_mse=0.1, r_sce=1.0)
    t = loss_terms(m, x, y, c, alpha, ph, torch.autocast("cpu", enabled=False))
    sr, logits = m(x)
    sq = ((sr - y) ** 2).sum(dim=(1, 2, 3)).mean()  # (1/N) sum ||F(Y) - T||^2
    logp = torch.log_softmax(logits, 1)
    sce = -sum(alpha[c[i]] * logp[i, c[i]] for i in range(4)) / 4  # eq. 15, 1/N
    assert float(t["sce"]) == pytest.approx(float(sce.detach()), rel=1e-5)
    assert float(t["loss"].detach()) == pytest.approx(float((0.1 * sq + 1.0 * sce).detach()), rel=1e-5)
    assert float(t["mse"]) == pytest.approx(float(((sr - y) ** 2).mean().detach()), rel=1e-5)
    t2 = loss_terms(m, x, y, c, alpha, PhaseConfig(r_mse=1.0, r_sce=0.1), torch.autocast("cpu", enabled=False))
    assert float(t2["loss"].detach()) == pytest.approx(float((sq + 0.1 * sce).detach()), rel=1e-5)


def test_batch_order_is_a_function_of_seed_and_step():
    rows = np.arange(100) * 3
    a, b = BatchOrder(rows, 8, 5, 1), BatchOrder(rows, 8, 5, 1)
    assert np.array_equal(a(37), b(37)) and np.array_equal(a(3), b(3))
    epoch = np.concatenate([a(t) for t in range(12)])  # 12 steps of 8 = one epoch (4 left over)
    assert len(set(epoch.tolist())) == 96 and set(epoch.tolist()) <= set(rows.tolist())
    assert not np.array_equal(a(0), BatchOrder(rows, 8, 5, 2)(0))  # other phase, other order


def test_phase_settings_are_applied(tmp_path, monkeypatch):
    cfg = small_cfg(tmp_path)
    calls = []
    real = model_mod.F.dropout

    def spy(x, p=0.5, training=True, inplace=False):
        calls.append((phase[0], p, training))
        return real(x, p, training, inplace)

    monkeypatch.setattr(model_mod.F, "dropout", spy)
    run = open_run(cfg, "SRforMC", "1", tmp_path / "runs")
    prep_stage(run)
    phase = ["phase1"]
    s1 = train_stage(run, "phase1")
    phase[0] = "phase2"
    s2 = train_stage(run, "phase2")
    on = {(ph, p) for ph, p, tr in calls if tr}
    assert on == {("phase1", 0.5)}  # dropout 0.5 in Phase 1 only (training), never in Phase 2
    ck1, ck2 = load_checkpoint(run.dir / "checkpoints/phase1.pt"), load_checkpoint(run.dir / "checkpoints/phase2.pt")
    assert [(g["name"], g["lr"]) for g in ck1["optim"]["param_groups"]] == [("conv1-conv2-head", 1e-3), ("conv3", 1e-4)]
    assert [(g["name"], g["lr"]) for g in ck2["optim"]["param_groups"]] == [("conv1-conv2-head", 1e-4), ("conv3", 1e-5)]
    assert [g["betas"] for g in ck2["optim"]["param_groups"]] == [(0.9, 0.999)] * 2
    assert s1["alpha"]["manga"] == 1.0 and s1["alpha"]["nature"] == pytest.approx(len_ratio(s1))
    # Phase 2 starts from Phase 1's weights
    from mchmc.modelfile import load_model
    p1 = load_model(run.dir / "phase1.pt")
    assert p1.provenance["phase"] == "phase1" and s2["steps"] == 12
    rows = list(csv.DictReader(open(run.dir / "metrics.csv")))
    assert [r["phase"] for r in rows] == ["phase1"] * 3 + ["phase2"] * 3
    assert [int(r["total_step"]) for r in rows] == [4, 8, 12, 16, 20, 24]
    assert all(r["psnr_mean"] and r["val_acc"] for r in rows)


def len_ratio(summary):
    c = summary["train_patches"]
    return min(c.values()) / c["nature"]


def _weights(path):
    from mchmc.modelfile import load_model
    return load_model(path).model.state_dict()


def _rows(run_dir):
    keep = lambda r: {k: v for k, v in r.items() if k not in ("steps_per_s", "elapsed")}  # noqa: E731
    return [keep(r) for r in csv.DictReader(open(run_dir / "metrics.csv"))]


class Interrupted(RuntimeError):
    """A crash, injected by :func:`crash_at`."""


def crash_at(step: int):
    """A train_stage callback that crashes the phase when its metrics.csv row of ``step`` has been written
    (the trainer's "log" event), before that step's checkpoint: what a kill between the two leaves."""
    def callback(ev: dict) -> None:
        if ev["event"] == "log" and ev["step"] == step:
            raise Interrupted(f"crashed after step {step} (test)")
    return callback


@pytest.mark.parametrize("augment", [False, True])
def test_interrupted_run_resumes_exactly(tmp_path, augment):
    cfg = small_cfg(tmp_path, **{"train.precision": "fp32", "train.augment_d4": augment})
    ref = train_method(cfg, "SRforMC", "1", tmp_path / "ref")
    run = open_run(cfg, "SRforMC", "1", tmp_path / "cut")
    prep_stage(run)
    with pytest.raises(Interrupted):  # rows at 4 and 8, checkpoint at 5: steps 6-8 and the row of 8 are lost
        train_stage(run, "phase1", crash_at(8))
    assert load_checkpoint(run.dir / "checkpoints/phase1.pt")["step"] == 5
    assert [r["step"] for r in _rows(run.dir)] == ["4", "8"]  # the row past the checkpoint, cut on resume
    train_stage(run, "phase1")
    with pytest.raises(Interrupted):  # the last row is written, the final checkpoint not: resumes from 10
        train_stage(run, "phase2", crash_at(12))
    assert load_checkpoint(run.dir / "checkpoints/phase2.pt")["step"] == 10
    assert not run.is_done("phase2")
    out = train_method(cfg, "SRforMC", "1", tmp_path / "cut")
    assert out["done"]
    a, b = _weights(Path(ref["model"])), _weights(Path(out["model"]))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _rows(Path(ref["run_dir"])) == _rows(run.dir)


def test_run_dir_of_the_old_code_resumes(tmp_path):
    """Issue 30: a run dir whose config.toml the branch-point code wrote (tests/old_run_config.toml: this small
    config, before configs could inherit; paths put back in) is reopened, not refused, and resumes exactly."""
    cfg = small_cfg(tmp_path, **{"train.precision": "fp32"})
    ref = train_method(cfg, "SRforAll", "1", tmp_path / "ref")
    run = open_run(cfg, "SRforAll", "1", tmp_path / "cut")
    prep_stage(run)
    with pytest.raises(Interrupted):
        train_stage(run, "mch", crash_at(8))
    old = (Path(__file__).parent / "old_run_config.toml").read_text()
    old = old.replace("@ROOT@", cfg.data.root).replace("@CACHE@", cfg.data.cache_dir)
    assert old == (run.dir / "config.toml").read_text()  # what the new code writes is byte for byte the old file
    (run.dir / "config.toml").write_text(old)
    out = train_method(cfg, "SRforAll", "1", tmp_path / "cut")
    a, b = _weights(Path(ref["model"])), _weights(Path(out["model"]))
    assert out["done"] and all(torch.equal(a[k], b[k]) for k in a)
    assert _rows(Path(ref["run_dir"])) == _rows(run.dir)


def test_kill_9_resumes_exactly(tmp_path):
    """A real SIGKILL of a training process, then a resume in this process."""
    over = {"mch.steps": 200, "train.checkpoint_every": 10, "train.log_every": 100, "train.precision": "fp32",
            "mch.lr": 1e-3, "mch.lr_conv3": 1e-3}
    cfg = small_cfg(tmp_path, **over)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from test_data import synth_config; from mchmc.train.run import train_method;"
        f"from pathlib import Path; cfg = synth_config(Path(sys.argv[2]), **{small_overrides(over)!r});"
        "train_method(cfg, 'SRforAll', '1', sys.argv[3])"
    )
    # synth_config regenerates identical images (fixed seed) in the same tmp_path
    proc = subprocess.Popen([sys.executable, "-c", code, str(Path(__file__).parent), str(tmp_path), str(tmp_path / "cut")])
    ck = tmp_path / "cut" / "SRforAll-fold1-smoke" / "checkpoints" / "mch.pt"
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if ck.exists() and (load_checkpoint(ck) or {}).get("step", 0) >= 20:
                break
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.returncode != -signal.SIGKILL:
        pytest.skip(f"training process ended (rc {proc.returncode}) before it could be killed")
    killed_at = load_checkpoint(ck)["step"]
    assert 20 <= killed_at < 200
    out = train_method(cfg, "SRforAll", "1", tmp_path / "cut")
    ref = train_method(cfg, "SRforAll", "1", tmp_path / "ref")
    a, b = _weights(Path(ref["model"])), _weights(Path(out["model"]))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _rows(Path(ref["run_dir"])) == _rows(Path(out["run_dir"]))


def small_overrides(over):
    base = {"phase1.steps": 12, "phase2.steps": 12, "mch.steps": 12, "train.checkpoint_every": 5,
            "train.log_every": 4, "train.batch": 8, "train.val_crop": 64,
            "phase1.lr": 1e-3, "phase1.lr_conv3": 1e-4, "phase2.lr": 1e-4, "phase2.lr_conv3": 1e-5}
    base.update(over)
    return base


def test_warm_start_begins_from_the_named_model_and_keeps_validation_out_of_training(tmp_path):
    """Issue 14, item 6: ``train.init_from`` starts the first phase from a model file's weights (a noisy
    model warm-started from the clean one); the run's provenance names it and its validation images."""
    cfg = small_cfg(tmp_path, **{"train.precision": "fp32", "train.val_images": 1})
    first = train_method(cfg, "SRforMC", "1", tmp_path / "first")
    warm = with_overrides(cfg, {"train.init_from": first["model"], "phase1.steps": 0, "phase2.steps": 0})
    out = train_method(warm, "SRforMC", "1", tmp_path / "warm")
    a, b = _weights(Path(first["model"])), _weights(Path(out["model"]))
    assert all(torch.equal(a[k], b[k]) for k in a)  # zero steps: exactly the starting weights
    prov = load_model(out["model"]).provenance
    assert prov["init_from"] == first["model"] and prov["validation_rule"] == "train"
    run = open_run(warm, "SRforMC", "1", tmp_path / "warm")
    assert prov["validation_images"] == {c: [r.name for r in run.split.val if r.category == c]
                                         for c in ("nature", "manga", "text")}
    assert not {r.path for r in run.split.val} & {r.path for r in run.split.train}
    # issue 29, item 4: a plain-MCH file starts an MCH-MC run with its upscaler (and a new head)
    srforall = train_method(with_overrides(cfg, {"mch.steps": 0}), "SRforAll", "1", tmp_path / "all")
    mc = train_method(with_overrides(warm, {"train.init_from": srforall["model"]}), "SRforMC", "1", tmp_path / "x")
    plain, tuned = _weights(Path(srforall["model"])), _weights(Path(mc["model"]))
    assert all(torch.equal(plain[k], tuned[k]) for k in plain) and len(tuned) > len(plain)


def test_d4_choices_are_a_function_of_seed_phase_and_step():
    a = d4_choices(0, 2, 17, 32)
    assert a.shape == (32,) and a.min() >= 0 and a.max() < 8
    assert np.array_equal(a, d4_choices(0, 2, 17, 32))
    assert not np.array_equal(a, d4_choices(0, 2, 18, 32)) and not np.array_equal(a, d4_choices(1, 2, 17, 32))
    assert set(np.concatenate([d4_choices(0, 2, t, 32) for t in range(10)]).tolist()) == set(range(8))


def test_d4_turns_input_and_target_of_a_patch_by_the_same_element():
    """The target of g(LR) is g(target): the centre crop commutes with every flip and rotation of a square."""
    rng = np.random.default_rng(0)
    hr_patch = rng.random((8, 1, 60, 60), dtype=np.float32)
    lr, hr = rng.random((8, 1, 30, 30), dtype=np.float32), hr_patch[..., 10:50, 10:50]
    choices = np.arange(8)
    lr2, hr2 = d4_batch(lr, hr, choices)
    for i, g in enumerate(choices):
        assert np.array_equal(lr2[i], d4_apply(lr[i], g))
        assert np.array_equal(hr2[i], d4_apply(hr_patch[i], g)[..., 10:50, 10:50])
    assert np.array_equal(lr2[0], lr[0]) and not np.array_equal(lr2[1], lr[1])
    # the same convention as the engine's TTA (identity first, then turns, then the mirrored turns)
    from mchmc.engine import D4, d4_apply as engine_apply

    for g in range(8):
        assert np.array_equal(d4_apply(lr[0], g), engine_apply(torch.from_numpy(lr[0]), *D4[g]).numpy())


def test_d4_augmentation_changes_the_batches_only_when_asked(tmp_path):
    cfg = small_cfg(tmp_path, **{"train.precision": "fp32", "phase1.steps": 0, "phase2.steps": 6})
    plain = train_method(cfg, "SRforMC", "1", tmp_path / "plain")
    again = train_method(with_overrides(cfg, {"name": "again"}), "SRforMC", "1", tmp_path / "again")
    aug = train_method(with_overrides(cfg, {"name": "aug", "train.augment_d4": True}), "SRforMC", "1",
                       tmp_path / "aug")
    a, b, c = (_weights(Path(x["model"])) for x in (plain, again, aug))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
