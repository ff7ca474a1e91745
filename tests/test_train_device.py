"""``train.device`` / ``mchmc train --device`` (issue 18, item 4): the option parses and is checked in one
line, ``auto`` is the CPU where there is no CUDA, the CPU path is unchanged, old run dirs and retraining
keys still match, and CUDA training works where a GPU exists (skipped cleanly elsewhere)."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest
import torch

from mchmc.modelfile import load_model
from mchmc.train.config_schema import ConfigError
from mchmc.train.config import load_config, with_overrides
from mchmc.train.config_toml import config_to_dict, dump_config
from mchmc.train.device import DeviceError, resolve_device
from mchmc.train.steps import step_sums
from mchmc.train.retrain import source_key
from mchmc.train.run import open_run, train_method

sys.path.insert(0, str(Path(__file__).parent))
from test_train import small_cfg  # noqa: E402

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA GPU visible to this torch")
without_cuda = pytest.mark.skipif(CUDA, reason="this machine has a CUDA GPU")


def _weights(out: dict) -> dict[str, torch.Tensor]:
    return load_model(out["model"]).model.state_dict()


def _rows(out: dict) -> list[dict]:
    drop = ("steps_per_s", "elapsed")
    return [{k: v for k, v in r.items() if k not in drop} for r in csv.DictReader(open(Path(out["run_dir"]) / "metrics.csv"))]


def test_device_option_parses_and_validates():
    assert load_config("smoke").train.device == "auto"  # configs without the key: the default
    for name in ("auto", "cpu", "cuda", "cuda:0", "cuda:3"):
        assert with_overrides(load_config("smoke"), {"train.device": name}).train.device == name
    for bad in ("tpu", "gpu", "cuda:x", "CUDA", "cuda:", "", "mps"):
        with pytest.raises(ConfigError) as info:
            with_overrides(load_config("smoke"), {"train.device": bad})
        msg = str(info.value)
        assert "\n" not in msg and "train.device" in msg and "auto, cpu, cuda, cuda:N" in msg
    with pytest.raises(ConfigError, match="expected a string"):
        with_overrides(load_config("smoke"), {"train.device": 0})


def test_auto_is_the_cpu_without_cuda():
    assert resolve_device("auto") == ("cuda:0" if CUDA else "cpu")
    assert resolve_device("cpu") == "cpu"


@without_cuda
def test_a_missing_gpu_is_one_line_before_any_work(tmp_path, capsys):
    with pytest.raises(DeviceError) as info:
        resolve_device("cuda:1")
    assert "\n" not in str(info.value) and "sees no CUDA GPU" in str(info.value)
    from mchmc.cli.train import train

    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(dump_config(small_cfg(tmp_path)))
    assert train(str(cfg_file), "SRforAll", "1", str(tmp_path / "runs"), None, None, None, False, "cuda") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cuda asked for") and "\n" not in err
    assert not (tmp_path / "runs").exists()  # refused before the run dir was made
    assert train(str(cfg_file), "SRforAll", "1", str(tmp_path / "runs"), None, None, None, False, "tpu") == 2
    assert "train.device: must be one of auto, cpu, cuda, cuda:N, not 'tpu'" in capsys.readouterr().err


@without_cuda
def test_explicit_cpu_trains_exactly_the_default(tmp_path):
    """On a machine without CUDA the default (auto) is the CPU path, bit for bit, and both say so."""
    cfg = small_cfg(tmp_path, **{"train.precision": "fp32"})
    ref = train_method(cfg, "SRforMC", "1", tmp_path / "default")
    cpu = train_method(with_overrides(cfg, {"train.device": "cpu"}), "SRforMC", "1", tmp_path / "cpu")
    a, b = _weights(ref), _weights(cpu)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _rows(ref) == _rows(cpu)
    for out in (ref, cpu):
        assert load_model(out["model"]).provenance["device"] == "cpu"
        assert all(st["device"] == "cpu" for st in out["stages"].values())


def test_the_header_line_names_the_device(tmp_path, capsys):
    from mchmc.cli.train import train

    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(dump_config(small_cfg(tmp_path, **{"mch.steps": 2, "train.precision": "fp32"})))
    assert train(str(cfg_file), "SRforAll", "1", str(tmp_path / "runs"), None, None, None, False, "cpu") == 0
    assert "device cpu (config: cpu); precision fp32 (config: fp32)" in capsys.readouterr().out


def test_a_run_dir_from_before_the_device_key_reopens(tmp_path):
    """Run dirs keep config.toml and refuse another config; one written before ``train.device`` existed (no
    such line) or naming another device is the same run, any other difference is still refused."""
    cfg = small_cfg(tmp_path)
    run = open_run(cfg, "SRforAll", "1", tmp_path / "runs")
    path = run.dir / "config.toml"
    old = "".join(ln for ln in path.read_text().splitlines(keepends=True) if not ln.startswith("device ="))
    assert old != path.read_text()
    path.write_text(old)
    open_run(cfg, "SRforAll", "1", tmp_path / "runs")
    assert load_config(path) == cfg
    open_run(with_overrides(cfg, {"train.device": "cuda"}), "SRforAll", "1", tmp_path / "runs")  # continued on a GPU
    (run.dir / "metrics.csv").write_text("step\n")  # once it has trained (issue 29: an untrained one takes it)
    with pytest.raises(ConfigError, match="different config"):
        open_run(with_overrides(cfg, {"train.batch": 4}), "SRforAll", "1", tmp_path / "runs")


def test_the_retraining_source_key_ignores_the_device():
    """Model versions registered before ``train.device`` existed keep their source keys (else a scheduled
    retrain would retrain everything once); the value is the one computed before the key was added."""
    cfg = load_config("paper")
    key = source_key(cfg, "SRforMC", "1", "datakey0")
    assert key == "849511b18af768ee"
    assert key == source_key(with_overrides(cfg, {"train.device": "cuda:1"}), "SRforMC", "1", "datakey0")
    assert "device" in config_to_dict(cfg)["train"]


def test_device_side_sums_equal_the_host_sums():
    """The CUDA path sums the logged terms on the device in float64; on the same values that is exactly
    the CPU path's Python-float sums (run here on CPU tensors)."""
    g = torch.Generator().manual_seed(0)
    host, dev = [0.0] * 4, torch.zeros(4, dtype=torch.float64)
    for _ in range(50):
        terms = {"loss": torch.rand((), generator=g) * 40, "mse": torch.rand((), generator=g) / 30,
                 "sce": torch.rand((), generator=g), "correct": torch.randint(0, 33, (), generator=g)}
        host[0] += float(terms["loss"].detach())
        host[1] += float(terms["mse"])
        host[2] += float(terms.get("sce", 0.0))
        host[3] += float(terms.get("correct", 0)) / 32
        dev += step_sums(terms, 32)
    assert dev.tolist() == host
    assert step_sums({"loss": torch.tensor(2.0), "mse": torch.tensor(0.5)}, 8).tolist() == [2.0, 0.5, 0.0, 0.0]


@needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_on_cuda_follows_the_cpu(tmp_path, precision):
    """A few steps on the GPU follow the CPU's run (same batches, rates, init; cuDNN sums in its own order,
    TF32 / bf16 round differently, and Adam turns tiny gradient differences into full-size steps, so weights
    are not compared element by element): the logged loss and validation PSNR stay close row by row, the
    model comes back on the CPU and says where it trained. The tolerances are loose because no GPU has run
    this test yet to calibrate them."""
    cfg = small_cfg(tmp_path, **{"train.precision": precision})
    cpu = train_method(with_overrides(cfg, {"train.device": "cpu"}), "SRforMC", "1", tmp_path / "cpu")
    gpu = train_method(with_overrides(cfg, {"train.device": "cuda"}), "SRforMC", "1", tmp_path / "gpu")
    b = _weights(gpu)
    assert all(v.device.type == "cpu" and torch.isfinite(v).all() for v in b.values())
    rows_c, rows_g = _rows(cpu), _rows(gpu)
    assert [r["total_step"] for r in rows_g] == [r["total_step"] for r in rows_c]
    for rc, rg in zip(rows_c, rows_g):
        assert float(rg["loss"]) == pytest.approx(float(rc["loss"]), rel=0.05)
        assert abs(float(rg["psnr_mean"]) - float(rc["psnr_mean"])) < 0.3
    prov = load_model(gpu["model"]).provenance
    assert prov["device"].startswith("cuda:0 (") and prov["precision"] == precision


def test_the_command_line_takes_device(tmp_path):
    """``mchmc train --device`` reaches the same check (docs/training.md documents it)."""
    from typer.testing import CliRunner

    from cli.app import app

    cfg_file = tmp_path / "tiny.toml"
    cfg_file.write_text(dump_config(small_cfg(tmp_path)))
    res = CliRunner().invoke(app, ["train", "--config", str(cfg_file), "--method", "SRforAll", "--runs",
                                   str(tmp_path / "runs"), "--no-prefect", "--device", "tpu"])
    assert res.exit_code == 2, res.output
    assert "train.device: must be one of auto, cpu, cuda, cuda:N, not 'tpu'" in res.output
    assert not (tmp_path / "runs").exists()
